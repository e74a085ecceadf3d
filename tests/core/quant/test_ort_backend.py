"""The one ONNX Runtime quantization backend: static, symmetric and dynamic variants, errors wrapped once."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import numpy_helper

from core.jobs import Cancelled, CancelToken
from core.quant.ort_backend import (
    QdqScheme, calibration_reader, ort_errors, prepare_graph, quantize_qdq, quantize_weights_dynamic,
)
from core.techniques import onnx_quant_common as oq
from core.techniques.base import StepContext, TechniqueError
from tests.core.techniques.quant_helpers import exported, quadrants


def test_any_onnx_runtime_failure_becomes_one_technique_error_with_the_fix():
    with pytest.raises(TechniqueError) as err:
        with ort_errors("do this instead"):
            raise ValueError("bad graph\nsecond line")
    assert "ONNX Runtime could not quantize the model (ValueError: bad graph)" in str(err.value)
    assert err.value.fix == "do this instead"
    with pytest.raises(Cancelled):  # cancel is not a failure
        with ort_errors("x"):
            raise Cancelled()


def test_symmetric_scheme_writes_every_zero_point_zero(tmp_path):
    proto, _ = prepare_graph(exported("cnn"), tmp_path / "pre.onnx", [])
    reader = calibration_reader(proto, StepContext(data=quadrants(), workdir=tmp_path), 16, 8)
    q = quantize_qdq(tmp_path / "pre.onnx", tmp_path / "q.onnx", reader, QdqScheme("S8S8", symmetric=True))
    inits = oq.initializers(q)
    zero_points = [numpy_helper.to_array(inits[n.input[2]]) for n in q.graph.node
                   if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2]
    assert zero_points and all(not z.any() for z in zero_points)  # int8 activations and weights, int32 biases
    assert {z.dtype for z in zero_points} <= {np.dtype(np.int8), np.dtype(np.int32)}


def test_excluded_nodes_read_the_fp32_tensor(tmp_path):
    proto, _ = prepare_graph(exported("cnn"), tmp_path / "pre.onnx", [])
    middle = [op.node for op in oq.weight_ops(proto) if op.op_type == "Conv"][1]
    reader = calibration_reader(proto, StepContext(data=quadrants(), workdir=tmp_path), 16, 8)
    q = quantize_qdq(tmp_path / "pre.onnx", tmp_path / "q.onnx", reader, QdqScheme(), exclude=[middle], source=proto)
    producer = {o: n.op_type for n in q.graph.node for o in n.output}
    node = next(n for n in q.graph.node if n.name == middle)
    assert producer.get(node.input[0]) != "DequantizeLinear" and producer.get(node.input[1]) != "DequantizeLinear"


def test_calibration_is_cancelled_between_batches(tmp_path):
    proto, _ = prepare_graph(exported("cnn"), tmp_path / "pre.onnx", [])
    token = CancelToken()
    token.cancel()
    reader = calibration_reader(proto, StepContext(data=quadrants(), workdir=tmp_path, cancel=token), 16, 8)
    with pytest.raises(Cancelled):
        quantize_qdq(tmp_path / "pre.onnx", tmp_path / "q.onnx", reader, QdqScheme())


def test_dynamic_variant_quantizes_matmul_weights(tmp_path):
    proto, _ = prepare_graph(exported("mlp"), tmp_path / "pre.onnx", [])
    q = quantize_weights_dynamic(tmp_path / "pre.onnx", tmp_path / "q.onnx", op_types=["MatMul"], weight_type="QInt8",
                                 per_channel=True, reduce_range=False, skip=[])
    assert oq.op_counts(q).get("DynamicQuantizeLinear", 0) >= 1
