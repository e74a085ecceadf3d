"""Models: load any supported format into a :class:`LoadedModel`, inspect it layer by layer.

Importing this package loads torch but not onnx / onnxruntime / onnx-tool,
which are imported only when an ONNX model is opened or inspected.
"""

from __future__ import annotations

from core.models.inspection import LayerInfo, ModelInspection, inspect_model
from core.models.load import load_model
from core.models.loaded import LoadedModel

__all__ = ["LayerInfo", "LoadedModel", "ModelInspection", "inspect_model", "load_model"]
