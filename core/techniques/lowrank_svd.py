"""``lowrank.svd``: replace Linear layers by two thinner ones from a truncated SVD.

A Linear layer's weight W (out × in) is approximated by its best rank-r
approximation U_r S_r V_rᵀ (Eckart–Young), computed as two layers:
``Linear(in, r, bias=False)`` then ``Linear(r, out)`` carrying the original
bias. √S_r is split between the two so neither layer's weights are badly
scaled for fine-tuning or int8 quantization. Params and MACs fall from
in·out to r·(in + out), so a layer is only factored when r·(in + out) < in·out.
Only plain ``nn.Linear`` modules are touched (MultiheadAttention reads its
projection weights directly, so its ``out_proj`` must stay), and the layer
producing the logits is kept unless asked: it is small and the most sensitive.

The module helpers below (tracing, replacing a module everywhere it is
referenced, name checks) are shared with ``lowrank.tucker``. Models are changed
in place: the recipe runner hands each step its own copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from core.fmt import si
from core.techniques.base import StepContext, StepOutcome, TechniqueConfig, TechniqueError, derived, param, technique
from core.techniques.lowrank_common import (
    check_ignore_names,
    check_values,
    classifier_name,
    editable_module,
    finish,
    is_ignored,
    lapack_threads,
    replace_each,
    replace_module,
    step_threads,
)

RANK_MODES = ("ratio", "energy")
FINETUNE_NOTE = "low-rank factoring costs some accuracy: follow this step with finetune (a few epochs usually win most of it back)"


@technique(
    "lowrank.svd",
    family="Low-rank",
    label="Low-rank Linear layers (SVD)",
    summary="Split each Linear layer into two thin ones (truncated SVD): fewer params and MACs in fully connected layers",
)
@dataclass(frozen=True)
class LowRankSVD(TechniqueConfig):
    rank_mode: str = param(
        "ratio", label="Rank from", choices=RANK_MODES,
        help="ratio: keep a fixed fraction of each layer's full rank; energy: keep the smallest rank that retains "
        "a fraction of the squared singular values (adapts to each layer)",
    )
    rank_ratio: float = param(
        0.25, label="Rank ratio", min=0.01, max=1.0, step=0.05,
        help="Fraction of the full rank min(in, out) kept (rank_mode ratio); the layer costs rank·(in + out) instead of in·out",
    )
    energy: float = param(
        0.9, label="Energy kept", min=0.1, max=1.0, step=0.01,
        help="Fraction of the sum of squared singular values retained (rank_mode energy); 0.9 keeps the weight within ~32 % relative error",
    )
    include_classifier: bool = param(
        False, label="Factor the classifier", help="Also factor the Linear layer that produces the logits (usually small, and sensitive)",
    )
    ignore_layers: tuple[str, ...] = param(
        (), label="Leave alone", help="Linear layer names, or a block such as classifier, to leave as they are",
    )

    def apply(self, model, ctx: StepContext) -> StepOutcome:
        check_values(self)
        with step_threads(ctx):
            return self._apply(model, ctx)

    def _apply(self, model, ctx: StepContext) -> StepOutcome:
        module = editable_module(model, self.technique_name)
        layers = {n: m for n, m in module.named_modules() if type(m) is nn.Linear}
        if not layers:
            raise TechniqueError(f"{model.name} has no Linear layers to factor", "use lowrank.tucker for convolutional layers")
        check_ignore_names(self.ignore_layers, module, layers, "Linear layer")
        done = replace_each(module, tuple(ctx.input_shape), model.name, layers, ctx, "factoring",
                            lambda name, lin, calls, shared: self._factor(module, name, lin, classifier_name(calls), shared))
        how = f"rank ratio {self.rank_ratio:g}" if self.rank_mode == "ratio" else f"energy {self.energy:g}"
        summary = (
            f"factored {len(done.done)} of {len(done.rows)} Linear layers ({how}): {si(done.params_before)} → "
            f"{si(done.params_after)} params ({done.params_ratio:.2f}× fewer), {si(done.macs_before)} → {si(done.macs_after)} MACs"
        )
        notes = [FINETUNE_NOTE] if done.done else [
            "no Linear layer was factored (see the skipped reasons): lower rank_ratio or energy, or include the classifier"
        ]
        ctx.progress(1.0, summary)
        return StepOutcome(
            model=derived(model, module, suffix="svd"),
            summary=summary,
            layers=done.rows,
            notes=notes,
            extra={
                **done.counts(),
                "factored_layers": len(done.done),
                "linear_params_before": sum(r["params_before"] for r in done.rows),
                "linear_params_after": sum(r["params_after"] for r in done.rows),
            },
        )

    def _factor(self, root: nn.Module, name: str, lin: nn.Linear, head: Optional[str], shared: set[int]) -> dict:
        """Replace ``lin`` in ``root`` when it qualifies and saves; the layer's report row either way."""
        n_in, n_out = lin.in_features, lin.out_features
        row = {"layer": name, "in": n_in, "out": n_out, "rank": None, "full_rank": min(n_in, n_out),
               "params_before": _numel(lin), "params_after": _numel(lin), "energy_kept": None, "weight_error": None,
               "skipped": self._skip_reason(name, lin, head, shared)}
        if row["skipped"] is None and self.rank_mode == "ratio":  # the rank is known: no SVD for a layer that cannot gain
            row["rank"] = rank_for_ratio(min(n_in, n_out), self.rank_ratio)
            row["skipped"] = _no_saving(row["rank"], n_in, n_out)
        if row["skipped"] is not None:
            return row
        fac = svd_factors(lin.weight, self._rank_of)
        row.update(rank=fac.rank, energy_kept=round(fac.energy, 6), weight_error=round(fac.error, 6), skipped=_no_saving(fac.rank, n_in, n_out))
        if row["skipped"] is None:
            new = factored_linear(lin, fac)
            replace_module(root, lin, new)
            row["params_after"] = _numel(new)
        return row

    def _rank_of(self, s: torch.Tensor) -> int:
        return rank_for_ratio(len(s), self.rank_ratio) if self.rank_mode == "ratio" else rank_for_energy(s, self.energy)

    def _skip_reason(self, name: str, lin: nn.Linear, head: Optional[str], shared: set[int]) -> Optional[str]:
        if is_ignored(name, self.ignore_layers):
            return "in ignore_layers"
        if name == head and not self.include_classifier:
            return "classifier (set include_classifier to factor it)"
        if id(lin.weight) in shared:
            return "weight shared with another layer"
        return None


# --------------------------------------------------------------------------- the factorization


@dataclass(frozen=True)
class LinearFactors:
    """W ≈ second @ first, with first (rank × in) and second (out × rank)."""

    first: torch.Tensor
    second: torch.Tensor
    energy: float  # fraction of Σσ² kept
    error: float  # relative Frobenius error of the weight, √(1 − energy)

    @property
    def rank(self) -> int:
        return self.first.shape[0]


FLOAT64_LIMIT = 1 << 22  # weights up to this size are factored in float64; larger ones in float32, twice as fast
NEGLIGIBLE = 1e-6  # singular values below this fraction of the largest are numerical noise, never kept


@torch.no_grad()
def svd_factors(weight: torch.Tensor, rank_of) -> LinearFactors:
    """The truncated SVD of ``weight`` at the rank ``rank_of(singular_values)`` chooses, cast back to its dtype.

    Computed from the eigendecomposition of the small Gram matrix W·Wᵀ (or
    Wᵀ·W), not a full SVD: for a VGG-sized 4096 × 25088 layer that is one
    matrix product and a 4096² eigenproblem instead of minutes of bidiagonal
    reduction. The eigenvalues are σ², exact to float64 precision for every
    singular value that could be kept. Small layers run in float64 throughout.
    """
    w = weight.detach().to(torch.float64 if weight.numel() <= FLOAT64_LIMIT else torch.float32)
    wide = w.shape[0] <= w.shape[1]
    a = w if wide else w.T  # m × n with m ≤ n
    with lapack_threads():
        lam, q = torch.linalg.eigh((a @ a.T).to(torch.float64))
    lam, q = lam.flip(0).clamp_min(0.0), q.flip(1)  # descending
    s = lam.sqrt()
    r = max(1, min(int(rank_of(s)), len(s), int((s > s[0] * NEGLIGIBLE).sum())))
    u = q[:, :r].to(a.dtype)
    root = s[:r].sqrt().clamp_min(1e-30).to(a.dtype)
    left = u * root[None, :]  # U·√S (m × r)
    right = (u.T @ a) / root[:, None]  # √S·Vᵀ = S^-½·Uᵀ·A (r × n)
    first, second = (right, left) if wide else (left.T, right.T)
    energy = energy_kept(s, r)
    return LinearFactors(
        first=first.to(weight.dtype), second=second.to(weight.dtype), energy=energy, error=math.sqrt(max(0.0, 1.0 - energy)),
    )


def factored_linear(lin: nn.Linear, fac: LinearFactors) -> nn.Sequential:
    """Linear(in, r, bias=False) → Linear(r, out) holding ``fac``; same device, dtype and train/eval mode as ``lin``."""
    dev = lin.weight.device
    first = nn.Linear(lin.in_features, fac.rank, bias=False, device=dev, dtype=lin.weight.dtype)
    second = nn.Linear(fac.rank, lin.out_features, bias=lin.bias is not None, device=dev, dtype=lin.weight.dtype)
    with torch.no_grad():
        first.weight.copy_(fac.first)
        second.weight.copy_(fac.second)
        if lin.bias is not None:
            second.bias.copy_(lin.bias)
    return finish(nn.Sequential(first, second), lin)


def rank_for_ratio(full: int, ratio: float) -> int:
    """``ratio`` of ``full``, rounded half up, at least 1."""
    return max(1, min(full, int(math.floor(ratio * full + 0.5))))


def rank_for_energy(s: torch.Tensor, energy: float) -> int:
    """The smallest rank whose singular values hold ``energy`` of Σσ²."""
    sq = s.detach().to(torch.float64) ** 2
    total = float(sq.sum())
    if total <= 0:
        return 1
    cum = torch.cumsum(sq, 0) / total
    return min(int(torch.searchsorted(cum, torch.tensor(energy - 1e-12, dtype=torch.float64))) + 1, len(s))


def energy_kept(s: torch.Tensor, rank: int) -> float:
    sq = s.detach().to(torch.float64) ** 2
    total = float(sq.sum())
    return float(sq[:rank].sum()) / total if total > 0 else 1.0


def _no_saving(rank: int, n_in: int, n_out: int) -> Optional[str]:
    """Why rank ``rank`` does not pay for an in × out layer, or None when it does."""
    if rank * (n_in + n_out) < n_in * n_out:
        return None
    return f"no saving: rank {rank} needs {rank * (n_in + n_out):,} ≥ {n_in * n_out:,} weights"


def _numel(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
