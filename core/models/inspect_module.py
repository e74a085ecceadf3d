"""Eager PyTorch modules, inspected: forward hooks for shapes and the failing layer, the FLOP counter for MACs.

Rows always add up to the totals: a container module that holds parameters
itself (ViT's ``class_token``) or runs ops itself (the projections inside
``nn.MultiheadAttention``) gets a row for just that share.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from core.models.inspection_types import ROOT, LayerInfo, ModelInspection, per_sample_shape, shape_error


@torch.no_grad()
def inspect_module(name: str, module: nn.Module, shape: tuple[int, int, int]) -> ModelInspection:
    """Eager modules: hooks for shapes and the failing layer, the FLOP counter's per-module counts for MACs."""
    names = {m: n for n, m in module.named_modules()}
    order: dict[str, int] = {}
    shapes: dict[str, Optional[tuple[int, ...]]] = {}
    stack: list[str] = []

    def pre(mod, _inputs):
        n = names.get(mod, "?")
        order.setdefault(n, len(order))
        stack.append(n)

    def post(mod, _inputs, out):
        shapes[names.get(mod, "?")] = per_sample_shape(out)
        if stack:
            stack.pop()

    handles = [m.register_forward_pre_hook(pre) for m in names] + [m.register_forward_hook(post) for m in names]
    was_training = module.training
    module.eval()
    fastpath = torch.backends.mha.get_fastpath_enabled()
    # the fused attention kernel of nn.MultiheadAttention in eval mode is invisible to the
    # FLOP counter; the regular path runs the same math through counted matmuls
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with FlopCounterMode(display=False) as counter:
            module(torch.zeros(1, *shape))
    except Exception as exc:
        failing = next((n for n in reversed(stack) if n), None)
        raise shape_error(name, shape, exc, failing) from exc
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for h in handles:
            h.remove()
        module.train(was_training)

    counts = counter.get_flop_counts()
    root = type(module).__name__

    def flops(qualname: str) -> int:
        return int(sum(counts.get(f"{root}.{qualname}" if qualname else root, {}).values()))

    def reached(qualname: str, mod: nn.Module) -> int:
        """FLOPs under a module; for a container never called itself (a ModuleList the parent
        loops over) that is what its children ran."""
        if qualname in order:
            return flops(qualname)
        prefix = f"{qualname}." if qualname else ""
        return sum(reached(prefix + c, child) for c, child in mod.named_children())

    rows = []
    for qualname, mod in module.named_modules():
        children = list(mod.named_children())
        own_params = sum(p.numel() for p in mod.parameters(recurse=False))
        prefix = f"{qualname}." if qualname else ""
        own_flops = flops(qualname) - sum(reached(prefix + c, child) for c, child in children) if qualname in order else 0
        ran = qualname in shapes
        keep = (own_params or own_flops or ran) if not children else (own_params or own_flops)
        if not keep:
            continue
        rows.append(
            (
                order.get(qualname, len(names) + len(rows)),
                LayerInfo(qualname or ROOT, type(mod).__name__, int(own_params), max(own_flops, 0) // 2, shapes.get(qualname)),
            )
        )
    layers = [row for _, row in sorted(rows, key=lambda r: r[0])]
    notes = []
    if any(layer.output_shape is None for layer in layers):
        notes.append(
            "layers without an output shape were not called for this input: auxiliary heads are skipped in eval mode, "
            "and some parents use a child's weights directly (attention's out_proj), so the MACs sit on the parent's row"
        )
    return ModelInspection(
        layers=layers,
        total_params=sum(p.numel() for p in module.parameters()),
        trainable_params=sum(p.numel() for p in module.parameters() if p.requires_grad),
        total_macs=int(counter.get_total_flops()) // 2,
        input_shape=shape,
        notes=notes,
    )
