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

import contextlib
import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from core.fmt import si
from core.metrics.latency import torch_threads
from core.models.exported import ProgramModule
from core.models.macs import count_macs
from core.models.spec import first_line
from core.techniques.base import (
    StepContext,
    StepOutcome,
    TechniqueConfig,
    TechniqueError,
    coerce_value,
    derived,
    param,
    params_of,
    technique,
)
from core.techniques.prune_unstructured import check_layer_names

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
        shape = tuple(ctx.input_shape)
        layers = {n: m for n, m in module.named_modules() if type(m) is nn.Linear}
        if not layers:
            raise TechniqueError(f"{model.name} has no Linear layers to factor", "use lowrank.tucker for convolutional layers")
        check_ignore_names(self.ignore_layers, module, layers, "Linear layer")
        ctx.progress(0.0, "tracing the model")
        calls = trace_layers(module, shape, model.name)
        head = classifier_name(calls)
        shared = shared_parameters(module)
        params_before, macs_before = count_params(module), count_macs(module, shape)

        rows = []
        for i, (name, lin) in enumerate(layers.items()):
            ctx.check()
            ctx.progress(0.05 + 0.9 * i / len(layers), f"factoring {name}")
            rows.append(self._factor(module, name, lin, head, shared))

        ctx.progress(0.97, "checking the factored model")
        trace_layers(module, shape, model.name)  # the factored model still runs
        params_after, macs_after = count_params(module), count_macs(module, shape)
        done = [r for r in rows if r["skipped"] is None]
        how = f"rank ratio {self.rank_ratio:g}" if self.rank_mode == "ratio" else f"energy {self.energy:g}"
        params_x, macs_x = params_before / max(params_after, 1), macs_before / max(macs_after, 1)
        summary = (
            f"factored {len(done)} of {len(rows)} Linear layers ({how}): {si(params_before)} → {si(params_after)} params "
            f"({params_x:.2f}× fewer), {si(macs_before)} → {si(macs_after)} MACs"
        )
        notes = [FINETUNE_NOTE] if done else [
            "no Linear layer was factored (see the skipped reasons): lower rank_ratio or energy, or include the classifier"
        ]
        ctx.progress(1.0, summary)
        return StepOutcome(
            model=derived(model, module, suffix="svd"),
            summary=summary,
            layers=rows,
            notes=notes,
            extra={
                "params_before": params_before, "params_after": params_after, "params_ratio": round(params_x, 4),
                "macs_before": macs_before, "macs_after": macs_after, "macs_ratio": round(macs_x, 4),
                "factored_layers": len(done), "skipped_layers": len(rows) - len(done),
                "linear_params_before": sum(r["params_before"] for r in rows),
                "linear_params_after": sum(r["params_after"] for r in rows),
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


# --------------------------------------------------------------------------- helpers shared with lowrank.tucker


def check_values(config: TechniqueConfig) -> None:
    """Configs built in code skip the recipe loader's checks; apply them here."""
    for info in params_of(type(config)):
        value = getattr(config, info.name)
        try:
            coerce_value(info, value)
        except ValueError as exc:
            raise TechniqueError(f"{config.technique_name}: {info.name} = {value!r} is not allowed ({exc})", f"set {info.name} within the allowed values") from exc


def lapack_threads() -> contextlib.AbstractContextManager:
    """One thread for LAPACK factorizations (eigh, SVD): they gain little from threads, and with more
    threads than free cores MKL's synchronisation makes them 10-100× slower (measured on a busy 2-core box)."""
    return torch_threads(1)


def step_threads(ctx: StepContext) -> contextlib.AbstractContextManager:
    """The step's thread count for PyTorch (and the SVDs): MKL at more threads than cores crawls on a busy machine."""
    return torch_threads(ctx.threads) if ctx.threads else contextlib.nullcontext()


def editable_module(model, step: str) -> nn.Module:
    """The PyTorch module whose layers can be swapped; ONNX models and compiled programs are refused."""
    if model.is_onnx:
        raise TechniqueError(f"{model.name} is an ONNX model; {step} needs the PyTorch model", f"run {step} before any ONNX step, on a PyTorch model")
    module = model.module
    if isinstance(module, (ProgramModule, torch.jit.ScriptModule)):
        raise TechniqueError(
            f"{model.name} is a compiled program (torch.export or TorchScript), whose layers cannot be replaced",
            f"load the model from its architecture and weights (a torchvision name or demo, plus --weights) to apply {step}",
        )
    return module


def check_ignore_names(names: tuple[str, ...], module: nn.Module, layers: dict[str, nn.Module], what: str) -> None:
    """Unknown names raise with close matches; a layer's name or any enclosing block's name is accepted."""
    known = dict(layers)
    known.update((n, m) for n, m in module.named_modules() if n and n not in known)
    check_layer_names(names, known, what)


def is_ignored(name: str, ignore: tuple[str, ...]) -> bool:
    return any(name == n or name.startswith(n + ".") for n in ignore)


def trace_layers(module: nn.Module, shape: tuple[int, ...], model_name: str) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Conv/Linear layers by name in the order they last ran on one input, with their (input, output) shapes.

    Also proves the model runs on ``shape``; failing that is a TechniqueError.
    """
    names = {id(m): n for n, m in module.named_modules()}
    calls: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def hook(m: nn.Module, args: tuple, out) -> None:
        if args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
            name = names[id(m)]
            calls.pop(name, None)  # re-insert: a layer used twice counts where it last ran
            calls[name] = (tuple(args[0].shape), tuple(out.shape))

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))]
    was_training = module.training
    some = next(module.parameters(), None)
    x = torch.zeros(1, *shape, device=some.device if some is not None else None)
    try:
        module.eval()
        with torch.no_grad():
            module(x)
    except Exception as exc:  # any failure of the forward pass means the model does not fit this input
        raise TechniqueError(
            f"{model_name} does not run on a batch of shape (1, {', '.join(map(str, shape))}) ({type(exc).__name__}: {first_line(exc)})",
            "check that the dataset's input shape matches the model",
        ) from exc
    finally:
        module.train(was_training)
        for h in handles:
            h.remove()
    return calls


def classifier_name(calls: dict) -> Optional[str]:
    """The layer that ran last (the one producing the logits)."""
    return next(reversed(calls), None) if calls else None


def replace_module(root: nn.Module, old: nn.Module, new: nn.Module) -> int:
    """Put ``new`` wherever ``old`` is registered (a module can sit under several names); returns how many places."""
    places = [(parent, attr) for _, parent in root.named_modules(remove_duplicate=False)
              for attr, child in parent.named_children() if child is old]
    for parent, attr in dict.fromkeys(places):
        setattr(parent, attr, new)
    return len(places)


def finish(new: nn.Module, old: nn.Module) -> nn.Module:
    """``new`` in the train/eval mode of ``old``, frozen when ``old``'s weight was."""
    new.train(old.training)
    if not old.weight.requires_grad:
        new.requires_grad_(False)
    return new


def shared_parameters(module: nn.Module) -> set[int]:
    """ids of parameters owned by more than one module (tied weights must not be split apart)."""
    owners: dict[int, int] = {}
    for m in module.modules():
        for p in m.parameters(recurse=False):
            owners[id(p)] = owners.get(id(p), 0) + 1
    return {k for k, v in owners.items() if v > 1}


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _no_saving(rank: int, n_in: int, n_out: int) -> Optional[str]:
    """Why rank ``rank`` does not pay for an in × out layer, or None when it does."""
    if rank * (n_in + n_out) < n_in * n_out:
        return None
    return f"no saving: rank {rank} needs {rank * (n_in + n_out):,} ≥ {n_in * n_out:,} weights"


def _numel(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
