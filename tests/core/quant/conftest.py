"""Shared by the weight-tuning tests: the trained test CNN pre-processed by ONNX Runtime and quantized U8S8."""

from __future__ import annotations

import pytest

from core.quant import ort_backend
from tests.core.techniques.quant_helpers import context, exported


@pytest.fixture(scope="module")
def cnn_int8(tmp_path_factory):
    """(pre-processed path, its graph, ONNX Runtime's raw QDQ graph of it)."""
    tmp = tmp_path_factory.mktemp("cnn_int8")
    pre = tmp / "pre.onnx"
    pre_proto, _ = ort_backend.prepare_graph(exported("cnn"), pre, [])
    reader = ort_backend.calibration_reader(pre_proto, context(tmp), 64, 16)
    return pre, pre_proto, ort_backend.quantize_qdq(pre, tmp / "q.onnx", reader, ort_backend.QdqScheme())
