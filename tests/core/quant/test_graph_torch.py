"""The ONNX graph run in PyTorch: fp32 equals ONNX Runtime, the int8 simulation follows ONNX Runtime's QDQ graph."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper, TensorProto

from core.quant.graph_torch import GraphModule, fake_quant_weight, qdq_points
from core.techniques import onnx_quant_common as oq
from core.techniques.base import TechniqueError
from tests.core.techniques.quant_helpers import run_onnx, val_batch


@pytest.fixture(scope="module")
def quantized(cnn_int8):
    """The shared int8 graphs plus ONNX Runtime's int8 file of them."""
    pre, pre_proto, q_proto = cnn_int8
    oq.save_slim(q_proto, pre.with_name("int8.onnx"))
    return pre, pre_proto, q_proto, pre.with_name("int8.onnx")


def _module(pre_proto) -> GraphModule:
    return GraphModule(pre_proto, [op.weight for op in oq.weight_ops(pre_proto)]).eval()


def test_the_fp32_graph_in_pytorch_equals_onnx_runtime(quantized):
    pre, pre_proto, _, _ = quantized
    x = val_batch()
    with torch.no_grad():
        ours = _module(pre_proto)(torch.from_numpy(x)).numpy()
    assert np.abs(ours - run_onnx(pre, x)).max() < 1e-4


def test_the_int8_simulation_follows_onnx_runtimes_int8_model(quantized):
    _, pre_proto, q_proto, int8 = quantized
    x = val_batch()
    module = _module(pre_proto)
    with torch.no_grad():
        fp32 = module(torch.from_numpy(x)).numpy()
        module.set_quant(*qdq_points(q_proto))
        sim = module(torch.from_numpy(x)).numpy()
    ort = run_onnx(int8, x)
    # ONNX Runtime's integer kernels round differently inside a layer: close, not bit-equal, and far closer to
    # ONNX Runtime's int8 answer than fp32 is
    assert np.abs(sim - ort).mean() < 0.5 * np.abs(fp32 - ort).mean()
    assert (sim.argmax(1) == ort.argmax(1)).mean() >= 0.95


def test_every_quantized_activation_and_int8_weight_is_found(quantized):
    _, pre_proto, q_proto, _ = quantized
    acts, weights = qdq_points(q_proto)
    names = {o for n in pre_proto.graph.node for o in n.output} | {i.name for i in pre_proto.graph.input}
    assert acts and set(acts) <= names
    assert set(weights) == {op.weight for op in oq.weight_ops(pre_proto)}
    assert all(w.axis == 0 and (w.qmin, w.qmax) == (-127, 127) and w.symmetric for w in weights.values())


def test_simulated_weights_are_exactly_onnx_runtimes_stored_int8_weights(quantized):
    _, pre_proto, q_proto, _ = quantized
    _, weights = qdq_points(q_proto)
    stored = {i.name: numpy_helper.to_array(i) for i in q_proto.graph.initializer}
    scales = {n.input[0]: stored[n.input[1]] for n in q_proto.graph.node if n.op_type == "DequantizeLinear"}
    for init in pre_proto.graph.initializer:
        if init.name in weights:
            q = stored[init.name + "_quantized"].astype(np.float64)
            shape = (-1,) + (1,) * (q.ndim - 1)
            theirs = q * scales[init.name + "_quantized"].astype(np.float64).reshape(shape)
            ours = fake_quant_weight(torch.from_numpy(numpy_helper.to_array(init).copy()), weights[init.name]).numpy()
            assert np.allclose(ours, theirs, rtol=1e-6, atol=1e-7), init.name


def test_an_op_it_cannot_run_is_named_with_the_fix():
    node = helper.make_node("Einsum", ["x", "x"], ["y"], equation="ij,ij->ij")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])])
    with pytest.raises(TechniqueError) as err:
        GraphModule(helper.make_model(graph), [])
    assert "Einsum" in str(err.value) and "tune_epochs = 0" in str(err.value)


def test_weights_train_and_constants_do_not(quantized):
    _, pre_proto, _, _ = quantized
    names = [op.weight for op in oq.weight_ops(pre_proto)]
    module = _module(pre_proto)
    assert {n for n, _ in zip(names, module.parameters())} == set(names)
    assert len(list(module.parameters())) == len(names)
    w = module.tensor(names[0])
    assert w.requires_grad and tuple(w.shape) == tuple(onnx.numpy_helper.to_array(
        next(i for i in pre_proto.graph.initializer if i.name == names[0])).shape)
