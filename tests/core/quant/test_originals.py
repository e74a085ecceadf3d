"""A layer kept in fp32 gets back the weight and bias that bias correction or tuning replaced."""

from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from core.quant import ort_backend
from core.quant.originals import record, restore
from core.techniques import onnx_quant_common as oq
from tests.core.techniques.quant_helpers import exported


def _values(proto) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i).copy() for i in proto.graph.initializer}


def test_the_first_recorded_value_comes_back_only_for_the_named_nodes(tmp_path):
    proto, _ = ort_backend.prepare_graph(exported("cnn"), tmp_path / "pre.onnx", [])
    first, second = oq.weight_ops(proto)[:2]
    before = _values(proto)
    originals: dict = {}
    record(originals, first.node, first.weight, before[first.weight])
    record(originals, first.node, first.weight, before[first.weight] * 5)  # a later rewrite: not the original
    record(originals, second.node, second.weight, before[second.weight])
    for init in proto.graph.initializer:  # both layers rewritten
        if init.name in (first.weight, second.weight):
            init.CopyFrom(numpy_helper.from_array(before[init.name] + 1, init.name))

    back = _values(restore(proto, originals, [first.node]))
    assert np.array_equal(back[first.weight], before[first.weight])
    assert np.array_equal(back[second.weight], before[second.weight] + 1)  # not asked for: stays rewritten
    assert np.array_equal(_values(proto)[first.weight], before[first.weight] + 1)  # the source is not modified


def test_an_added_bias_becomes_zeros(tmp_path):
    proto, _ = ort_backend.prepare_graph(exported("cnn"), tmp_path / "pre.onnx", [])
    op = oq.weight_ops(proto)[0]
    bias = next(n for n in proto.graph.node if n.name == op.node).input[2]
    originals: dict = {}
    record(originals, op.node, bias, None)
    assert not np.any(_values(restore(proto, originals, [op.node]))[bias])
