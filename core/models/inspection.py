"""Per-layer parameters, MACs and output shapes of a model (``edgeslim-cli inspect``, the model page): the dispatcher.

The types are in ``inspection_types``; each kind of model has its inspector
(``inspect_module`` for eager modules, ``inspect_graph`` for programs and
TorchScript, ``inspect_onnx``), imported only when needed: this module holds
no inspection code of its own.

MACs come from PyTorch's own FLOP counter (``torch.utils.flop_counter``) and,
for ONNX, from onnx-tool; there are no hand-written per-layer formulas, so any
architecture is covered. Rows always add up to the totals: a container module
that holds parameters itself (ViT's ``class_token``) or runs ops itself (the
projections inside ``nn.MultiheadAttention``) gets a row for just that share.
"""

from __future__ import annotations

from typing import Optional

from core.controls import ask
from core.errors import ShapeMismatchError
from core.models.inspection_types import LayerInfo, ModelInspection
from core.models.loaded import LoadedModel

__all__ = ["LayerInfo", "ModelInspection", "inspect_model"]  # the types are re-exported: callers import them from here


def inspect_model(model: LoadedModel, input_shape: Optional[tuple[int, int, int]] = None) -> ModelInspection:
    """Layer table and totals of ``model`` for ``input_shape`` (default: the model's own)."""
    from core.models.load import check_shape

    shape = input_shape if input_shape is not None else model.input_shape
    if shape is None:
        raise ShapeMismatchError(
            f"the input shape of {model.name} is not known (the file does not record it)",
            f"{ask('input_shape')} C,H,W (e.g. 3,224,224)",
        )
    shape = check_shape(shape)
    if model.source_format == "pt2" and model.input_shape is not None and tuple(model.input_shape) != shape:
        raise ShapeMismatchError(
            f"{model.name} was exported for inputs of shape {tuple(model.input_shape)}, not {shape}",
            f"clear {ask('input_shape', action=False)}, or export the program again for that shape",
        )
    if model.is_onnx:
        from core.models.inspect_onnx import inspect_onnx

        return inspect_onnx(model, shape)
    import torch

    from core.models.inspect_graph import inspect_program, inspect_torchscript, is_program
    from core.models.inspect_module import inspect_module

    module = model.module
    if isinstance(module, torch.jit.ScriptModule):
        return inspect_torchscript(model.name, module, shape)
    if is_program(module):
        return inspect_program(model.name, module, shape)
    return inspect_module(model.name, module, shape)
