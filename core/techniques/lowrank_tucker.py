"""``lowrank.tucker``: split k×k convolutions into 1×1 → small k×k → 1×1 (Tucker-2).

A conv kernel W (out × in × k × k) is decomposed on its two channel modes only
(Kim et al., "Compression of Deep Convolutional Neural Networks for Fast and
Low Power Mobile Applications", ICLR 2016): W ≈ G ×₀ U_out ×₁ U_in with a core
G (r_out × r_in × k × k). It runs as three convs: a 1×1 projecting in → r_in
channels (U_inᵀ, no bias), the k×k core conv r_in → r_out with the original
stride, padding and dilation, and a 1×1 expanding r_out → out (U_out) carrying
the original bias. The factors come from tensorly's ``partial_tucker`` (HOOI,
SVD-initialised, on tensorly's PyTorch backend so the work honours the
thread count), so at full ranks the conv is reproduced exactly.

Ranks per layer: a fixed fraction of the channels, the smallest ranks keeping
a fraction of each mode unfolding's energy, or the global analytic Empirical
VBMF of each unfolding (Nakajima et al., JMLR 2013) — the rank that separates
signal from noise with the noise level estimated from the weights themselves.

Grouped/depthwise and 1×1 convs are left alone (nothing to factor), as are
narrow ones and those where the three convs would not cost fewer params and
MACs than the original. Narrow convs have the least redundancy: on the demo
model at about the same cut (1.7× fewer MACs), also decomposing its 16-channel
stage lost 1.7 pt after two epochs of fine-tuning instead of 0.7 pt (means of
three seeds) — hence the defaults, ranks at 0.45 of the channels of convs with
at least 32. BatchNorm after a conv is untouched unless ``bn_batches`` asks
for its statistics to be re-estimated. The model is changed in place: the
recipe runner hands each step its own copy.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

from core.fmt import si
from core.techniques.base import StepContext, StepOutcome, TechniqueConfig, TechniqueError, derived, param, technique
from core.techniques.lowrank_svd import FINETUNE_NOTE, rank_for_energy, rank_for_ratio
from core.techniques.lowrank_common import (
    check_ignore_names,
    check_values,
    editable_module,
    finish,
    is_ignored,
    lapack_threads,
    replace_each,
    replace_module,
    step_threads,
)

RANK_MODES = ("ratio", "energy", "vbmf")
HOOI_ITERS = 10  # HOOI from the SVD start converges in a few sweeps; the cap bounds time on wide layers
HOOI_TOL = 1e-5
HIGH_ERROR = 0.5  # relative kernel error above which the outcome warns about accuracy before fine-tuning


@technique(
    "lowrank.tucker",
    family="Low-rank",
    label="Tucker-2 convolutions",
    summary="Split each k×k convolution into 1×1 → small k×k → 1×1 (Tucker-2): fewer MACs and params on any runtime",
)
@dataclass(frozen=True)
class LowRankTucker(TechniqueConfig):
    rank_mode: str = param(
        "ratio", label="Ranks from", choices=RANK_MODES,
        help="ratio: keep a fixed fraction of each conv's input and output channels; energy: the smallest ranks keeping "
        "a fraction of each channel mode's energy; vbmf: ranks estimated by empirical variational Bayesian matrix factorization",
    )
    rank_ratio: float = param(
        0.45, label="Rank ratio", min=0.01, max=1.0, step=0.05,
        help="Fraction of the input and of the output channels kept as ranks (rank_mode ratio); "
        "a 3×3 conv's cost falls to about ratio² + 2·ratio/9 of what it was",
    )
    energy: float = param(
        0.9, label="Energy kept", min=0.1, max=1.0, step=0.01,
        help="Fraction of the squared singular values of each channel unfolding kept (rank_mode energy)",
    )
    min_channels: int = param(
        32, label="Minimum channels", min=1, max=4096, step=1,
        help="Convolutions with fewer input or output channels than this are left alone: narrow layers have little "
        "redundancy, and decomposing them costs the most accuracy",
    )
    ignore_layers: tuple[str, ...] = param(
        (), label="Leave alone", help="Conv layer names, or a block such as layer1, to leave as they are",
    )
    bn_batches: int = param(
        0, label="BatchNorm re-estimation", min=0, max=1000, step=1,
        help="Re-estimate the BatchNorm statistics on this many training batches after decomposing (0: leave BatchNorm as it was). "
        "Without fine-tuning this restores much of the accuracy; fine-tuning re-estimates them anyway",
    )

    def apply(self, model, ctx: StepContext) -> StepOutcome:
        check_values(self)
        with step_threads(ctx):
            return self._apply(model, ctx)

    def _apply(self, model, ctx: StepContext) -> StepOutcome:
        module = editable_module(model, self.technique_name)
        convs = {n: m for n, m in module.named_modules() if type(m) is nn.Conv2d}
        if not convs:
            raise TechniqueError(f"{model.name} has no Conv2d layers to decompose", "use lowrank.svd for Linear layers")
        check_ignore_names(self.ignore_layers, module, convs, "Conv2d layer")
        done = replace_each(module, tuple(ctx.input_shape), model.name, convs, ctx, "decomposing",
                            lambda name, conv, calls, shared: self._decompose(module, name, conv, calls.get(name), shared))
        recalibrated = recalibrate_batchnorm(module, ctx, self.bn_batches) if done.done and self.bn_batches else 0
        how = {"ratio": f"rank ratio {self.rank_ratio:g}", "energy": f"energy {self.energy:g}", "vbmf": "VBMF ranks"}[self.rank_mode]
        summary = (
            f"decomposed {len(done.done)} of {len(done.rows)} convolutions ({how}): {si(done.macs_before)} → "
            f"{si(done.macs_after)} MACs ({done.macs_ratio:.2f}× fewer), {si(done.params_before)} → {si(done.params_after)} params"
        )
        notes = [FINETUNE_NOTE] if done.done else [
            "no convolution was decomposed (see the skipped reasons): lower rank_ratio, energy or min_channels"
        ]
        worst = max((r["rel_error"] for r in done.done), default=0.0)
        if worst > HIGH_ERROR and not recalibrated:
            notes.append(
                f"reconstruction errors reach {worst:.0%}: until fine-tuned, BatchNorm statistics no longer fit and accuracy "
                "can fall to chance (bn_batches re-estimates them without training)"
            )
        if recalibrated:
            notes.append(f"re-estimated the statistics of {recalibrated} BatchNorm layers on {self.bn_batches} training batches")
        ctx.progress(1.0, summary)
        return StepOutcome(
            model=derived(model, module, suffix="tucker"),
            summary=summary,
            layers=done.rows,
            notes=notes,
            extra={**done.counts(), "decomposed_layers": len(done.done), "max_rel_error": worst, "bn_recalibrated": recalibrated},
        )

    def _decompose(self, root: nn.Module, name: str, conv: nn.Conv2d, call, shared: set[int]) -> dict:
        """Replace ``conv`` in ``root`` when it qualifies and saves; the layer's report row either way."""
        kh, kw = conv.kernel_size
        params = sum(p.numel() for p in conv.parameters())
        macs = conv_macs(conv, call) if call else None
        row = {"layer": name, "kernel": f"{kh}×{kw}", "stride": conv.stride[0], "in": conv.in_channels, "out": conv.out_channels,
               "rank_in": None, "rank_out": None, "params_before": params, "params_after": params,
               "macs_before": macs, "macs_after": macs, "rel_error": None, "skipped": self._skip_reason(name, conv, call, shared)}
        if row["skipped"] is not None:
            return row
        weight = conv.weight.detach().to("cpu", torch.float64)
        with lapack_threads():
            r_out, r_in = self.ranks(weight)
        row.update(rank_out=r_out, rank_in=r_in)
        new_params = conv.in_channels * r_in + r_in * r_out * kh * kw + r_out * conv.out_channels + (conv.out_channels if conv.bias is not None else 0)
        new_macs = tucker_macs(conv, call, (r_out, r_in))
        if new_params >= params or new_macs >= macs:
            row["skipped"] = f"no saving at ranks ({r_out}, {r_in}): {new_params:,} params, {new_macs:,} MACs"
            return row
        with lapack_threads():
            core, u_out, u_in, error = tucker2(weight, (r_out, r_in))
        new = tucker_conv(conv, core, u_out, u_in)
        replace_module(root, conv, new)
        row.update(params_after=sum(p.numel() for p in new.parameters()), macs_after=new_macs, rel_error=round(error, 6))
        return row

    def _skip_reason(self, name: str, conv: nn.Conv2d, call, shared: set[int]) -> Optional[str]:
        if is_ignored(name, self.ignore_layers):
            return "in ignore_layers"
        if conv.groups != 1:
            return "grouped or depthwise conv: its channels are already separate"
        if conv.kernel_size == (1, 1):
            return "1×1 conv: already a channel mix, nothing to gain"
        if min(conv.in_channels, conv.out_channels) < self.min_channels:
            return f"fewer than {self.min_channels} channels (min_channels)"
        if id(conv.weight) in shared:
            return "weight shared with another layer"
        if call is None:
            return "did not run on the sample input"
        return None

    def ranks(self, weight: torch.Tensor) -> tuple[int, int]:
        """(r_out, r_in) for a kernel (out × in × kh × kw) under this config's rank mode."""
        out, inp = weight.shape[:2]
        if self.rank_mode == "ratio":
            return rank_for_ratio(out, self.rank_ratio), rank_for_ratio(inp, self.rank_ratio)
        unfold_out = weight.reshape(out, -1)
        unfold_in = weight.transpose(0, 1).reshape(inp, -1)
        if self.rank_mode == "energy":
            return rank_for_energy(torch.linalg.svdvals(unfold_out), self.energy), rank_for_energy(torch.linalg.svdvals(unfold_in), self.energy)
        return max(evbmf_rank(unfold_out), 1), max(evbmf_rank(unfold_in), 1)


# --------------------------------------------------------------------------- the decomposition


def tucker2(weight: torch.Tensor, ranks: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Tucker-2 of a kernel on its channel modes: (core, U_out, U_in, relative Frobenius error).

    tensorly's PyTorch backend, not NumPy's: NumPy's BLAS ignores the step's
    thread count and slows to a crawl on a loaded machine.
    """
    import tensorly as tl
    from tensorly.decomposition import partial_tucker
    from tensorly.tenalg import multi_mode_dot

    with tl.backend_context("pytorch"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (core, (u_out, u_in)), _ = partial_tucker(
            weight, rank=list(ranks), modes=[0, 1], init="svd", n_iter_max=HOOI_ITERS, tol=HOOI_TOL, random_state=0,
        )
        approx = multi_mode_dot(core, [u_out, u_in], modes=[0, 1])
    norm = float(torch.linalg.norm(weight))
    error = float(torch.linalg.norm(weight - approx)) / norm if norm > 0 else 0.0
    return core, u_out, u_in, error


def tucker_conv(conv: nn.Conv2d, core: torch.Tensor, u_out: torch.Tensor, u_in: torch.Tensor) -> nn.Sequential:
    """1×1 (in → r_in) → k×k core (r_in → r_out, conv's stride/padding/dilation) → 1×1 (r_out → out, conv's bias)."""
    r_out, r_in = core.shape[:2]
    kw = {"device": conv.weight.device, "dtype": conv.weight.dtype}
    first = nn.Conv2d(conv.in_channels, r_in, 1, bias=False, **kw)
    middle = nn.Conv2d(r_in, r_out, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                       dilation=conv.dilation, bias=False, padding_mode=conv.padding_mode, **kw)
    last = nn.Conv2d(r_out, conv.out_channels, 1, bias=conv.bias is not None, **kw)
    with torch.no_grad():
        first.weight.copy_(u_in.T.reshape(r_in, conv.in_channels, 1, 1))
        middle.weight.copy_(core)
        last.weight.copy_(u_out.reshape(conv.out_channels, r_out, 1, 1))
        if conv.bias is not None:
            last.bias.copy_(conv.bias)
    return finish(nn.Sequential(first, middle, last), conv)


def conv_macs(conv: nn.Conv2d, call) -> int:
    """MACs of ``conv`` for one image, from its traced (input, output) shapes."""
    h_out, w_out = call[1][-2:]
    kh, kw = conv.kernel_size
    return conv.out_channels * conv.in_channels // conv.groups * kh * kw * h_out * w_out


def tucker_macs(conv: nn.Conv2d, call, ranks: tuple[int, int]) -> int:
    """MACs for one image of ``conv`` decomposed at ranks (r_out, r_in)."""
    (h_in, w_in), (h_out, w_out) = call[0][-2:], call[1][-2:]
    kh, kw = conv.kernel_size
    r_out, r_in = ranks
    # the first 1×1 runs before the stride, at the input's resolution
    return conv.in_channels * r_in * h_in * w_in + (r_in * r_out * kh * kw + r_out * conv.out_channels) * h_out * w_out


@torch.no_grad()
def recalibrate_batchnorm(module: nn.Module, ctx: StepContext, batches: int, batch_size: int = 64) -> int:
    """Re-estimate every BatchNorm's running mean and variance on training batches; returns how many layers.

    Decomposed convs pass on less energy than the originals, and BatchNorm
    layers normalising with the old statistics push the activations off
    course layer after layer (the demo model drops to chance). A cumulative
    average over a few batches, with every other layer in eval mode, fixes the
    statistics without changing a weight (Li et al., "EagleEye", 2020).
    """
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns:
        return 0
    if len(ctx.data.train) == 0:  # type: ignore[arg-type]
        raise TechniqueError("re-estimating BatchNorm statistics needs training images, and the training split is empty", "set bn_batches = 0")
    was_training, momenta = module.training, [m.momentum for m in bns]
    done = 0
    try:
        module.eval()
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: every batch counts the same
            m.train()
        for x, _ in ctx.data.loader("train", batch_size=batch_size, shuffle=True, seed=ctx.seed):
            ctx.check()
            module(torch.as_tensor(x).float())
            done += 1
            ctx.progress(0.95 + 0.04 * done / batches, f"re-estimating BatchNorm statistics: batch {done}/{batches}")
            if done >= batches:
                break
    finally:
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
        module.train(was_training)
    return len(bns)


# --------------------------------------------------------------------------- VBMF rank estimate


def evbmf_rank(y: torch.Tensor) -> int:
    """Rank of the global analytic Empirical VBMF solution of ``y`` (Nakajima et al., JMLR 2013).

    The noise variance σ² is the minimiser of the EVB free energy between the
    paper's bounds; components whose singular value exceeds
    √(M·σ²·(1+τ̄)(1+α/τ̄)) are signal, the rest is noise.
    """
    from scipy.optimize import minimize_scalar

    big_l, big_m = sorted(y.shape)
    s = torch.linalg.svdvals(y.to(torch.float64)).numpy()
    total = float((s ** 2).sum())
    if total <= 0:
        return 0
    s = np.maximum(s, math.sqrt(total) * 1e-12)  # exact zeros would put log(0) in the free energy
    alpha = big_l / big_m
    tau_bar = evb_tau_bar(alpha)
    x_bar = (1 + tau_bar) * (1 + alpha / tau_bar)
    xi = math.ceil(big_l / (1 + alpha)) - 1  # at most this many components can be signal
    upper = total / (big_l * big_m)
    lower = max(s[xi] ** 2 / (big_m * x_bar), float(np.mean(s[xi:] ** 2)) / big_m)
    if lower >= upper:
        sigma2 = upper
    else:
        sigma2 = float(minimize_scalar(_evb_free_energy, args=(big_l, big_m, s, x_bar), bounds=(lower, upper), method="bounded").x)
    threshold = math.sqrt(big_m * sigma2 * x_bar)
    return int((s > threshold).sum())


def evb_tau_bar(alpha: float) -> float:
    """τ̄: the zero of Φ(τ) + Φ(τ/α) with Φ(z) = log(1+z)/z − ½ (≈ 2.5129·√α)."""
    from scipy.optimize import brentq

    def phi(z: float) -> float:
        return math.log1p(z) / z - 0.5

    return float(brentq(lambda t: phi(t) + phi(t / alpha), 1e-9, 1e9))


def _evb_free_energy(sigma2: float, big_l: int, big_m: int, s: np.ndarray, x_bar: float) -> float:
    """The EVB free energy as a function of σ² (constants dropped): Σ ψ₀(x_h) + Σ_{x_h > x̄} ψ₁(x_h)."""
    alpha = big_l / big_m
    x = s ** 2 / (big_m * sigma2)
    z1, z2 = x[x > x_bar], x[x <= x_bar]
    tau = 0.5 * (z1 - (1 + alpha) + np.sqrt((z1 - (1 + alpha)) ** 2 - 4 * alpha))
    return float(np.sum(z2 - np.log(z2)) + np.sum(z1 - tau) + np.sum(np.log((tau + 1) / z1)) + alpha * np.sum(np.log(tau / alpha + 1)))
