"""The one object every part of EdgeSlim passes around for "a model".

A :class:`LoadedModel` is either a PyTorch ``nn.Module`` (from any torch
format: eager, ``torch.export`` program, TorchScript, pickle) or an ONNX file
behind an ONNX Runtime session. It carries what the loader learned about it
(input shape, classes, where it came from) so metrics and the GUI need not guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import torch
from torch import nn

from core.models.onnx_model import OnnxModel

Runnable = Union[nn.Module, OnnxModel]


@dataclass
class LoadedModel:
    """A model ready to run, plus what is known about it."""

    spec: str  # what the user typed: "demo", "torchvision:resnet18", a path
    source_format: str  # demo | torchvision | state_dict | pt2 | torchscript | pickle | onnx
    runnable: Runnable
    name: str  # short display name (architecture or file stem)
    input_shape: Optional[tuple[int, int, int]] = None  # (C, H, W) when known
    num_classes: Optional[int] = None
    class_names: Optional[list[str]] = None
    file_path: Optional[Path] = None
    arch: Optional[str] = None  # e.g. "torchvision:resnet18" or "demo:DemoResNet"
    notes: list[str] = field(default_factory=list)  # caveats worth showing the user

    @property
    def is_onnx(self) -> bool:
        return isinstance(self.runnable, OnnxModel)

    @property
    def module(self) -> nn.Module:
        """The PyTorch module; ONNX models have none (use ``runnable``)."""
        if self.is_onnx:
            raise TypeError("an ONNX model has no PyTorch module")
        return self.runnable  # type: ignore[return-value]

    @torch.no_grad()
    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits for a float batch (N, C, H, W), for either backend."""
        if self.is_onnx:
            return self.runnable(batch)
        module = self.module
        was_training = module.training
        module.eval()
        try:
            return module(batch)
        finally:
            module.train(was_training)
