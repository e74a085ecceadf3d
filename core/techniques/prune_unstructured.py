"""``prune.unstructured``: zero the smallest weights (Han et al.'s magnitude pruning).

Uses ``torch.nn.utils.prune`` (global or per-layer L1 masks) and then makes the
masks permanent with ``prune.remove``, so no ``weight_orig``/``weight_mask``
pairs remain and the model exports and saves like any other. The tensors keep
their shapes: dense kernels do the same work on zeros, so the model does not
run faster. What shrinks is the compressed file (zeros DEFLATE well) — the
outcome says so, and the runner reports zipped sizes beside raw ones.
"""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn
from torch.nn.utils import prune

from core.techniques.base import StepContext, StepOutcome, TechniqueConfig, TechniqueError, derived, param, technique

HONEST_NOTE = (
    "unstructured sparsity does not make dense CPU/GPU kernels faster: the tensors keep their shapes. "
    "The gain is the compressed (zipped) size; use prune.structured for speed"
)
PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def prunable_layers(module: nn.Module) -> dict[str, nn.Module]:
    """Conv and Linear layers by qualified name (the layers magnitude pruning acts on)."""
    return {name: m for name, m in module.named_modules() if isinstance(m, PRUNABLE) and getattr(m, "weight", None) is not None}


def check_layer_names(names: tuple[str, ...], known: dict[str, nn.Module], what: str = "layer") -> None:
    """Raise a TechniqueError for names that are not among ``known``, suggesting close ones."""
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            sample = ", ".join(list(known)[:6])
            raise TechniqueError(f"no prunable {what} named {name!r} in the model", f"{hint}names look like: {sample}")


@contextlib.contextmanager
def frozen_sparsity(module: nn.Module, min_sparsity: float = 0.05) -> Iterator[list[str]]:
    """Keep the zeros of already-sparse layers at zero while ``module`` trains.

    Fine-tuning a magnitude-pruned model without this lets every zeroed weight
    grow back and undoes the pruning. Layers with at least ``min_sparsity`` exact
    zeros get a fixed ``torch.nn.utils.prune`` mask for the duration; the mask
    is folded in again on exit. Yields the names of the masked layers.
    """
    masked: list[tuple[str, nn.Module]] = []
    for name, m in prunable_layers(module).items():
        w = m.weight.detach()
        if w.numel() and _sparsity(w) >= min_sparsity:
            prune.custom_from_mask(m, "weight", mask=(w != 0))
            masked.append((name, m))
    try:
        yield [n for n, _ in masked]
    finally:
        for _, m in masked:
            prune.remove(m, "weight")


def _sparsity(t: torch.Tensor) -> float:
    return 1.0 - int(torch.count_nonzero(t)) / max(t.numel(), 1)


@technique(
    "prune.unstructured",
    family="Pruning",
    label="Magnitude pruning (unstructured)",
    summary="Zero the smallest weights; shrinks the zipped file, not the latency",
)
@dataclass(frozen=True)
class PruneUnstructured(TechniqueConfig):
    sparsity: float = param(0.8, label="Sparsity", help="Fraction of weights set to zero", min=0.0, max=0.99, step=0.05)
    scope: str = param(
        "global", label="Scope", choices=("global", "per_layer"),
        help="global: one magnitude threshold across all layers (keeps sensitive layers denser); per_layer: the same sparsity in every layer",
    )
    include_classifier: bool = param(False, label="Prune the classifier", help="Also prune the last Linear/Conv layer (small, and sensitive)")
    ignore_layers: tuple[str, ...] = param((), label="Leave alone", help="Layer names to keep dense, e.g. conv1")

    def apply(self, model, ctx: StepContext) -> StepOutcome:
        module = model.module
        layers = prunable_layers(module)
        if not layers:
            raise TechniqueError(f"{model.name} has no Conv or Linear layers to prune", "load a convolutional or fully connected model")
        check_layer_names(self.ignore_layers, layers)
        chosen = {n: m for n, m in layers.items() if n not in self.ignore_layers}
        if not self.include_classifier:
            last = list(layers)[-1]
            chosen.pop(last, None)
        if not chosen:
            raise TechniqueError("every prunable layer is excluded", "remove some names from ignore_layers")
        before = {n: _sparsity(m.weight.detach()) for n, m in layers.items()}
        ctx.progress(0.1, f"pruning {len(chosen)} layers to {self.sparsity:.0%} sparsity ({self.scope})")
        targets = [(m, "weight") for m in chosen.values()]
        with torch.no_grad():
            if self.scope == "global":
                prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=self.sparsity)
            else:
                for m, name in targets:
                    prune.l1_unstructured(m, name, amount=self.sparsity)
            for m, name in targets:
                prune.remove(m, name)  # fold the mask into the weight: permanent, no extra buffers
        ctx.check()
        rows = []
        zeros = total = 0
        for n, m in layers.items():
            w = m.weight.detach()
            s = _sparsity(w)
            zeros += int(w.numel() - torch.count_nonzero(w))
            total += w.numel()
            rows.append({"layer": n, "type": type(m).__name__, "weights": w.numel(), "sparsity_before": round(before[n], 4), "sparsity": round(s, 4)})
        overall = zeros / max(total, 1)
        ctx.progress(1.0, f"pruned: {overall:.1%} of Conv/Linear weights are zero")
        return StepOutcome(
            model=derived(model, module, suffix=f"sparse{round(self.sparsity * 100)}"),
            summary=f"zeroed {overall:.1%} of {total:,} Conv/Linear weights ({self.scope}, {len(chosen)} layers)",
            layers=rows,
            notes=[HONEST_NOTE],
            extra={"sparsity": overall, "pruned_layers": len(chosen)},
        )
