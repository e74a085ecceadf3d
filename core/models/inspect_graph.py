"""Inspection of compiled torch formats: ``torch.export`` programs and TorchScript.

Neither calls its submodules, so module hooks see nothing. A program's graph
nodes carry the module stack they were traced from; running the graph node by
node under the FLOP counter attributes MACs and output shapes to those modules.
TorchScript keeps the module tree (so parameters per submodule are exact) but
not per-module calls, so it gets totals only.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Optional

import torch
from torch import fx, nn
from torch.utils.flop_counter import FlopCounterMode

from core.controls import ask
from core.errors import ShapeMismatchError
from core.models.exported import ProgramModule, unwrap
from core.models.inspection_types import ROOT, LayerInfo, ModelInspection, per_sample_shape, shape_error


def is_program(module: nn.Module) -> bool:
    """True for a ``torch.export`` program's module (aten ops in one flat graph, no submodule calls)."""
    gm = unwrap(module)
    if not isinstance(gm, fx.GraphModule):
        return False
    nodes = list(gm.graph.nodes)
    calls_modules = any(n.op == "call_module" and n.target != "_guards_fn" for n in nodes)
    return not calls_modules and any(n.meta.get("nn_module_stack") for n in nodes)


def _module_of(node: fx.Node) -> Optional[tuple[str, str]]:
    """(qualified name, class name) of the innermost module a node was traced in."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return None
    path, cls = list(stack.values())[-1]
    cls_name = cls.rsplit(".", 1)[-1] if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
    return str(path), cls_name


class _CountingInterpreter(fx.Interpreter):
    """Runs the graph node by node, charging each node's FLOPs and output to its module."""

    def __init__(self, gm: fx.GraphModule, counter: FlopCounterMode) -> None:
        super().__init__(gm)
        self.counter = counter
        self.flops: dict[str, int] = defaultdict(int)
        self.shapes: dict[str, Optional[tuple[int, ...]]] = {}
        self.types: dict[str, str] = {}
        self.order: dict[str, int] = {}
        self.current: Optional[str] = None

    def run_node(self, n: fx.Node):
        where = _module_of(n) if n.op == "call_function" else None
        self.current = where[0] if where else self.current
        before = self.counter.get_total_flops()
        result = super().run_node(n)
        if where is not None:
            path, cls = where
            self.flops[path] += self.counter.get_total_flops() - before
            self.types.setdefault(path, cls)
            self.order.setdefault(path, len(self.order))
            found = per_sample_shape(result)
            if found is not None:
                self.shapes[path] = found
        return result


@torch.no_grad()
def inspect_program(name: str, module: nn.Module, shape: tuple[int, int, int]) -> ModelInspection:
    gm = unwrap(module)
    batch = module.batch if isinstance(module, ProgramModule) and module.batch else 1
    x = torch.zeros(batch, *shape)
    with FlopCounterMode(display=False) as counter:
        interp = _CountingInterpreter(gm, counter)
        try:
            interp.run(x)
        except Exception as exc:
            raise shape_error(name, shape, exc, interp.current or None) from exc
    params: dict[str, int] = defaultdict(int)
    for pname, p in gm.named_parameters():
        params[pname.rsplit(".", 1)[0] if "." in pname else ""] += p.numel()
    groups = set(interp.flops) | set(params)
    rows = []
    for path in groups:
        is_leaf = not any(other.startswith(path + ".") for other in groups if other != path) if path else len(groups) == 1
        macs = interp.flops.get(path, 0) // 2 // batch
        if not (params.get(path) or macs or is_leaf):
            continue
        rows.append(
            (
                interp.order.get(path, len(interp.order) + len(rows)),
                LayerInfo(path or ROOT, interp.types.get(path, "parameters"), int(params.get(path, 0)), macs, interp.shapes.get(path)),
            )
        )
    total_params = sum(p.numel() for p in gm.parameters())
    return ModelInspection(
        layers=[row for _, row in sorted(rows, key=lambda r: r[0])],
        total_params=total_params,
        trainable_params=sum(p.numel() for p in gm.parameters() if p.requires_grad),
        total_macs=int(counter.get_total_flops()) // 2 // batch,
        input_shape=shape,
        notes=["layers are the modules recorded in the exported program's graph (nn_module_stack)"],
    )


@torch.no_grad()
def inspect_torchscript(name: str, module: torch.jit.ScriptModule, shape: tuple[int, int, int]) -> ModelInspection:
    try:
        with FlopCounterMode(display=False) as counter:
            module(torch.zeros(1, *shape))
    except Exception as exc:
        # under the FLOP counter TorchScript loses the message: rerun plainly to get it; the
        # real error ends a long TorchScript trace, so its last line says what failed
        try:
            module(torch.zeros(1, *shape))
        except Exception as plain:
            exc = plain
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise ShapeMismatchError(
            f"{name} does not run on input shape {tuple(shape)} ({lines[-1][:200] if lines else type(exc).__name__})",
            f"{ask('input_shape')} C,H,W: the input shape the model was built for",
        ) from exc
    layers = []
    for qualname, mod in module.named_modules():
        own = sum(p.numel() for p in mod.parameters(recurse=False))
        if own:
            layers.append(LayerInfo(qualname or ROOT, getattr(mod, "original_name", type(mod).__name__), int(own), None, None))
    return ModelInspection(
        layers=layers,
        total_params=sum(p.numel() for p in module.parameters()),
        trainable_params=sum(p.numel() for p in module.parameters() if p.requires_grad),
        total_macs=int(counter.get_total_flops()) // 2,
        input_shape=shape,
        notes=["TorchScript does not expose per-layer calls: MACs and output shapes are totals only; export to .pt2 or ONNX for a per-layer view"],
    )
