"""A 1000-output "classifier" whose answer is readable: the mean of each colour channel drives one output.

Red images score highest on output 207, green on 1, blue on 5 (after ImageNet
normalisation a solid colour's own channel is positive and the others negative,
every other output is 0). So with folders mapped onto those outputs, top-1 is
exactly 1.0, and it is 0.0 when labels are compared with folder positions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

OUTPUTS = 1000
RED, GREEN, BLUE = 207, 1, 5
COLOURS = {RED: (200, 30, 30), GREEN: (30, 200, 30), BLUE: (30, 30, 200)}


def weights() -> np.ndarray:
    w = np.zeros((3, OUTPUTS), dtype=np.float32)
    w[0, RED] = w[1, GREEN] = w[2, BLUE] = 1.0
    return w


def colour_onnx(path: Path, size: int | None = None) -> Path:
    """GlobalAveragePool -> Flatten -> MatMul; H and W dynamic unless ``size`` fixes them."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h = w = size if size else None
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
         helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "colour",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, h or "H", w or "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", OUTPUTS])],
        [numpy_helper.from_array(weights(), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def colour_folder(root: Path, names: dict[int, str], n: int = 6, size: int = 40) -> Path:
    """root/NAME/i.png, solid in the colour of the output NAME stands for (``names``: output -> folder name)."""
    for output, name in names.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (size, size), COLOURS[output]).save(root / name / f"{i}.png")
    return root
