"""What an inspection reports (per-layer rows and totals) and the helpers the inspectors share.

Kept apart from the dispatcher in ``inspection`` so the ONNX and graph
inspectors import their types from here and not back from their caller (no
import cycle), and inspecting an ONNX file does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from core.controls import ask
from core.errors import ShapeMismatchError
from core.models.spec import first_line

ROOT = "(model)"  # row name for what the top-level module holds or computes itself


@dataclass
class LayerInfo:
    """One row of the layer table; ``output_shape`` is per sample (no batch dim)."""

    name: str
    type: str
    params: int
    macs: Optional[int]  # None when the backend cannot attribute MACs to layers
    output_shape: Optional[tuple[int, ...]]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "params": self.params,
            "macs": self.macs,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
        }


@dataclass
class ModelInspection:
    """A model's layer table and totals for one input shape (C, H, W), batch of one."""

    layers: list[LayerInfo]
    total_params: int
    trainable_params: Optional[int]  # None for ONNX (no notion of trainable)
    total_macs: Optional[int]  # None when it could not be counted (see notes)
    input_shape: tuple[int, int, int]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "input_shape": list(self.input_shape),
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_macs": self.total_macs,
            "notes": list(self.notes),
            "layers": [layer.to_dict() for layer in self.layers],
        }


def shape_error(name: str, shape: tuple[int, ...], exc: BaseException, layer: Optional[str] = None) -> ShapeMismatchError:
    where = f" at layer {layer}" if layer else ""
    return ShapeMismatchError(
        f"{name} does not run on input shape {tuple(shape)}{where} ({type(exc).__name__}: {first_line(exc)})",
        f"{ask('input_shape')} C,H,W: the input shape the model was built for",
    )


def per_sample_shape(out: Any) -> Optional[tuple[int, ...]]:
    """Shape of the first tensor in a module output, without the batch dim."""
    import torch

    if isinstance(out, torch.Tensor):
        return tuple(int(d) for d in out.shape[1:])
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        for item in out:
            found = per_sample_shape(item)
            if found is not None:
                return found
    return None
