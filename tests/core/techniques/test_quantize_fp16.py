"""quantize.fp16: half-size file, fp16 weights, float32 input and output kept, same predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from core.models.onnx_model import OnnxModel
from core.techniques import ONNX, get
from core.techniques.base import TechniqueError
from core.techniques.quantize_fp16 import QuantizeFp16
from tests.core.techniques.quant_helpers import context, exported, graph, onnx_loaded, run_onnx, val_batch


def _io_types(path: Path) -> tuple[str, str]:
    session = OnnxModel(path).session()
    return session.get_inputs()[0].type, session.get_outputs()[0].type


def test_registered_as_an_onnx_step():
    info = get("quantize.fp16")
    assert (info.side, info.family, info.accepts_onnx) == (ONNX, "Quantization", True)


def test_fp16_halves_the_file_keeps_float32_io_and_predictions(tmp_path):
    src = exported("cnn")
    out = QuantizeFp16().apply(onnx_loaded(src), context(tmp_path))
    path = Path(out.model.runnable.path)
    assert path == tmp_path / "model_fp16.onnx"
    proto = graph(path)
    onnx.checker.check_model(proto)  # nodes in topological order, valid graph
    assert _io_types(path) == ("tensor(float)", "tensor(float)")
    weights = [i for i in proto.graph.initializer if len(i.dims) >= 2]
    assert weights and all(w.data_type == TensorProto.FLOAT16 for w in weights)
    assert all(r["fp16"] for r in out.layers) and out.extra["fp16_layers"] == 5
    assert 1.8 <= out.extra["fp32_bytes"] / out.extra["fp16_bytes"] <= 2.5
    assert any("slower than fp32" in n and "GPU" in n for n in out.notes)
    x = val_batch()
    fp32, fp16 = run_onnx(src, x), run_onnx(path, x)
    assert fp16.dtype == np.float32
    assert np.abs(fp32 - fp16).max() <= 0.01 * np.abs(fp32).max()
    assert (fp32.argmax(1) == fp16.argmax(1)).all()


def test_excluded_layer_keeps_float32_weights(tmp_path):
    out = QuantizeFp16(exclude_nodes=("fc",)).apply(onnx_loaded(exported("cnn")), context(tmp_path))
    rows = {r["layer"]: r for r in out.layers}
    assert rows["fc"]["fp16"] is False and rows["fc"]["excluded"] is True
    types = {i.name: i.data_type for i in graph(out.model.runnable.path).graph.initializer}
    assert types["fc.weight"] == TensorProto.FLOAT
    assert out.extra["fp16_layers"] == 4


def test_fp16_io_when_asked(tmp_path):
    out = QuantizeFp16(keep_io_types=False).apply(onnx_loaded(exported("cnn")), context(tmp_path))
    assert _io_types(Path(out.model.runnable.path)) == ("tensor(float16)", "tensor(float16)")
    assert "fp16 input/output" in out.summary


def test_an_fp16_model_is_not_converted_again(tmp_path):
    first = QuantizeFp16().apply(onnx_loaded(exported("cnn")), context(tmp_path / "a"))
    with pytest.raises(TechniqueError, match="already fp16"):
        QuantizeFp16().apply(first.model, context(tmp_path / "b"))
