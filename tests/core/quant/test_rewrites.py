"""equalize and bias_correction: graph rewrites before calibration that keep fp32 and help int8."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from core.quant.bias_correction import _conv_shift, fake_quant
from core.quant.equalize import equalize, find_pairs
from core.quant.ort_backend import QdqScheme, calibration_reader, prepare_graph, quantize_qdq
from core.techniques.base import StepContext
from tests.core.techniques.mobile_helpers import torchscript_onnx
from tests.core.techniques.quant_helpers import context, exported, quadrants, run_onnx, val_batch


def _pre(src, tmp_path):
    proto, _ = prepare_graph(src, tmp_path / "pre.onnx", [])
    return proto


def _run(proto, x):
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_equalize_keeps_a_relu_network_exactly_and_evens_the_weight_ranges(tmp_path):
    proto = _pre(exported("cnn"), tmp_path)
    before = _run(proto, val_batch())
    pairs = find_pairs(proto)
    assert len(pairs) == 3  # conv-BN-ReLU ×4: three pairs
    inits = {i.name: i for i in proto.graph.initializer}
    nodes = {n.name: n for n in proto.graph.node}
    w1_name = nodes[pairs[0].conv1].input[1]
    spread_before = np.ptp(np.log(np.abs(numpy_helper.to_array(inits[w1_name])).reshape(32, -1).max(1)))
    assert equalize(proto) == 3
    inits = {i.name: i for i in proto.graph.initializer}
    spread_after = np.ptp(np.log(np.abs(numpy_helper.to_array(inits[w1_name])).reshape(32, -1).max(1)))
    assert spread_after < spread_before
    np.testing.assert_allclose(_run(proto, val_batch()), before, rtol=1e-4, atol=1e-4)


def test_equalize_leaves_relu6_pairs_alone_so_no_image_is_clipped_differently(tmp_path):
    """A rescaled ReLU6 channel is clipped at another value: exact on the calibration images at best, not on others."""
    proto = _pre(torchscript_onnx(False), tmp_path)
    clips = [n for n in proto.graph.node if n.op_type == "Clip"]
    assert clips  # MobileNetV2's ReLU6 blocks: every conv pair has a Clip between them
    before = onnx.ModelProto()
    before.CopyFrom(proto)
    assert find_pairs(proto) == [] and equalize(proto) == 0
    assert proto.SerializeToString() == before.SerializeToString()


@pytest.mark.parametrize("types,per_channel", [("U8S8", True), ("U8U8", True), ("U8S8", False), ("U8U8", False)])
def test_fake_quant_rounds_weights_exactly_as_onnx_runtime_stores_them(tmp_path, types, per_channel):
    """Bias correction is only right if its rounded weights are ONNX Runtime's: compare with the DequantizeLinear inputs."""
    pre = tmp_path / "pre.onnx"
    proto, _ = prepare_graph(exported("cnn"), pre, [])
    ctx = StepContext(data=quadrants(), workdir=tmp_path)
    q = quantize_qdq(pre, tmp_path / "q.onnx", calibration_reader(proto, ctx, 16, 16), QdqScheme(types=types, per_channel=per_channel))
    inits = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
    fp32 = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    checked = 0
    for node in q.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits or inits[node.input[0]].ndim != 4:
            continue
        stored = inits[node.input[0]].astype(np.float64)
        shape = (-1, 1, 1, 1) if per_channel else ()
        scale = inits[node.input[1]].reshape(shape)
        zp = inits[node.input[2]].astype(np.float64).reshape(shape) if len(node.input) > 2 else 0.0
        weight = next(v for k, v in fp32.items() if v.shape == stored.shape and node.input[0].startswith(k))
        np.testing.assert_allclose((stored - zp) * scale, fake_quant(weight, types[2] == "S", per_channel), rtol=1e-5, atol=1e-6)
        checked += 1
    assert checked == 4


def test_conv_shift_is_the_output_shift_of_the_rounded_weights():
    """On an input constant per channel (no padding), the conv of ΔW is exactly the computed shift."""
    import torch

    rng = np.random.default_rng(0)
    for groups, cin, cout in ((1, 6, 4), (6, 6, 6), (2, 4, 6)):
        delta = rng.normal(size=(cout, cin // groups, 3, 3))
        mean = rng.normal(size=cin)
        x = torch.tensor(np.broadcast_to(mean[None, :, None, None], (1, cin, 5, 5)).copy())
        out = torch.nn.functional.conv2d(x, torch.tensor(delta), groups=groups).numpy()[0, :, 1, 1]
        np.testing.assert_allclose(_conv_shift(delta, mean, groups), out, rtol=1e-9)


def test_equalize_and_bias_correction_keep_the_demo_within_a_point(tmp_path):
    from core.data import load_dataset
    from core.metrics.accuracy import evaluate_split
    from core.models import load_model
    from core.techniques.quantize_static import QuantizeStatic

    model, data = load_model("demo"), load_dataset("demo")
    out = QuantizeStatic(calibration_samples=64, equalize=True, bias_correction=True).apply(
        model, StepContext(data=data, workdir=tmp_path, threads=1))
    assert any(n.startswith("equalize: ") for n in out.notes) and any(n.startswith("bias_correction: ") for n in out.notes)
    fp32, int8 = evaluate_split(model, data).top1, evaluate_split(out.model, data).top1
    assert int8 >= fp32 - 0.01
    assert out.extra["input_agreement"] >= 0.98
