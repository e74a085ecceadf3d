"""``torch.export`` programs (``.pt2``): loading, input shape, and an adapter.

An exported program's module refuses ``.train()``/``.eval()`` (it is frozen in
the mode it was exported in), and a program exported without ``dynamic_shapes``
only accepts the example batch size (usually 1) while evaluation runs batches
of 32-256. :class:`ProgramModule` absorbs both, so a program runs everywhere a
module is expected.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from core.models.spec import corrupt


class ProgramModule(nn.Module):
    """An exported program as a module: train/eval are no-ops, a fixed batch is run in chunks."""

    def __init__(self, program: nn.Module, batch: Optional[int] = None) -> None:
        super().__init__()
        self.program = program
        self.batch = batch  # the traced batch size when it is static, else None

    def train(self, mode: bool = True) -> "ProgramModule":
        self.training = mode  # the program itself cannot switch modes
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, b = x.shape[0], self.batch
        if b is None or n == b:
            return self.program(x)
        outs = []
        for start in range(0, n, b):
            chunk = x[start : start + b]
            short = b - chunk.shape[0]
            if short:  # pad the last chunk to the traced size, then drop the padding's outputs
                chunk = torch.cat([chunk, chunk.new_zeros(short, *chunk.shape[1:])])
            out = self.program(chunk)
            outs.append(out[: b - short] if short else out)
        return torch.cat(outs)


def unwrap(module: nn.Module) -> nn.Module:
    """The program inside a :class:`ProgramModule` (or the module itself)."""
    return module.program if isinstance(module, ProgramModule) else module


def _static(dims) -> Optional[tuple[int, ...]]:
    """Dims as ints, or None if any is symbolic."""
    out = []
    for d in dims:
        if isinstance(d, int):
            out.append(d)
        elif isinstance(d, torch.SymInt) and d.node.is_constant():
            out.append(int(d))
        else:
            return None
    return tuple(out)


def load_pt2(path: Path) -> tuple[nn.Module, Optional[tuple[int, int, int]], Optional[int], list[str]]:
    """(module, input shape (C,H,W) or None, num_classes or None, notes) for a saved program."""
    logger = logging.getLogger("torch.export")
    level = logger.level
    logger.setLevel(logging.ERROR + 10)  # it logs a traceback before raising on a damaged archive
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.load(str(path))
            module = program.module()
    except Exception as exc:  # the deserializer raises many types for a damaged archive
        raise corrupt(path, "torch.export program (.pt2)", exc) from exc
    finally:
        logger.setLevel(level)
    notes: list[str] = []
    inputs = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in program.graph_signature.user_inputs]
    shape = None
    batch = None
    if len(inputs) != 1:
        notes.append(f"the program takes {len(inputs)} inputs; EdgeSlim feeds one image batch")
    else:
        val = inputs[0].meta.get("val")
        dims = tuple(val.shape) if val is not None else ()
        if len(dims) == 4:
            static = _static(dims[1:])
            shape = static if static is not None else None  # type: ignore[assignment]
            batch_static = _static(dims[:1])
            batch = batch_static[0] if batch_static else None
    classes = None
    outputs = [n for n in program.graph.nodes if n.op == "output"]
    if outputs:
        first = outputs[0].args[0]
        first = first[0] if isinstance(first, (list, tuple)) and first else first
        val = getattr(first, "meta", {}).get("val") if hasattr(first, "meta") else None
        if val is not None and val.dim() == 2:
            static = _static(val.shape[1:])
            classes = static[0] if static else None
    if batch is not None:
        notes.append(
            f"the program was exported with a fixed batch size of {batch}; EdgeSlim runs larger batches in chunks of {batch} "
            "(export with dynamic_shapes for a dynamic batch)"
        )
    if shape is None and len(inputs) == 1:
        notes.append("the program's input shape is not fixed; pass --input-shape C,H,W")
    return ProgramModule(module, batch).eval(), shape, classes, notes
