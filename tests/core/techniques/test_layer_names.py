"""Layers are called by their module path, also when the TorchScript exporter named the folded weight ``onnx::Conv_NNN``."""

from __future__ import annotations

import onnx

from core.techniques import onnx_quant_common as oq
from tests.core.techniques.mobile_helpers import fragile_weight, torchscript_onnx


def test_module_path_reads_the_node_scope():
    assert oq.module_path("/blocks/blocks.1/blocks.1.1/conv_pw/Conv") == "blocks.1.1.conv_pw"
    assert oq.module_path("/layer1/layer1.0/conv1/Conv") == "layer1.0.conv1"
    assert oq.module_path("/classifier/Gemm") == "classifier"
    assert oq.module_path("node_Conv_3") == "" and oq.module_path("Conv_0") == ""  # no scope: the weight's name stays


def test_a_folded_weight_is_named_by_its_module_and_both_names_exclude_it():
    proto = onnx.load(str(torchscript_onnx()))
    op = next(op for op in oq.weight_ops(proto) if op.weight == fragile_weight())
    assert op.weight.startswith("onnx::Conv_") and op.layer.startswith("pw1")
    assert oq.resolve_names(proto, [op.layer], []) == oq.resolve_names(proto, [op.weight], []) == [op.node]
