"""A 3×32×32 → 10-class ONNX classifier built by hand: tests that need a real ONNX file without waiting for an export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def write_tiny_classifier(path: Path) -> Path:
    """Conv → ReLU → global pool → Gemm, dynamic batch, opset 17, fixed random weights."""
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"], name="relu"),
         helper.make_node("GlobalAveragePool", ["r"], ["g"], name="pool"),
         helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
         helper.make_node("Gemm", ["f", "fw", "fb"], ["logits"], name="fc", transB=1)],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
         for n, s in (("w", (8, 3, 3, 3)), ("b", (8,)), ("fw", (10, 8)), ("fb", (10,)))],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path
