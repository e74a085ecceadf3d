"""Layers kept in fp32 in a QDQ graph read the tensor the fp32 model reads, ReLU6 included (TorchScript exports)."""

from __future__ import annotations

import numpy as np
import onnx

from core.techniques.quantize_static import QuantizeStatic
from tests.core.techniques.mobile_helpers import fragile_layer, fragile_weight, loaded_torchscript_onnx, torchscript_onnx
from tests.core.techniques.quant_helpers import context, run_onnx, val_batch


def _sqnr_db(ref: np.ndarray, out: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(np.sum((ref - out).astype(np.float64) ** 2), 1e-30)))


def test_a_layer_kept_fp32_behind_relu6_reads_the_clipped_activation(tmp_path):
    """ONNX Runtime folds a Clip (ReLU6) into the QuantizeLinear after the producing conv; an excluded layer fed the
    tensor before that Q got the unclipped values (−10 on a dead channel, times a weight of 150) and the model fell
    to chance (25 %). It must instead compute like fp32 and win back what int8 lost on that layer."""
    layer = fragile_layer()
    assert fragile_weight().startswith("onnx::Conv_")  # as the TorchScript exporter names folded Conv+BN weights,
    assert layer.startswith("pw1")  # but the layer is called by its module, read from the node's scope
    out = QuantizeStatic(calibration_samples=40, exclude_nodes=(layer,)).apply(loaded_torchscript_onnx(), context(tmp_path))
    x = val_batch()
    ref, got = run_onnx(torchscript_onnx(), x), run_onnx(out.model.runnable.path, x)
    assert (ref.argmax(1) == got.argmax(1)).mean() >= 0.95
    assert _sqnr_db(ref, got) > 25.0  # int8 elsewhere, but no fp32-sized error anywhere
    row = next(r for r in out.layers if r["layer"] == layer)
    assert row["excluded"] and not row["quantized"]
    proto = onnx.load(str(out.model.runnable.path))
    node = next(n for n in proto.graph.node if n.name == row["node"])
    producer = {o: n.op_type for n in proto.graph.node for o in n.output}
    assert producer[node.input[0]] == "Clip"  # the ReLU6 ONNX Runtime removed, put back on the fp32 path


def test_an_excluded_layer_fed_by_the_model_input_needs_no_activation(tmp_path):
    """The stem reads the model's input: nothing was folded away, so nothing is added."""
    proto = onnx.load(str(torchscript_onnx()))
    stem = next(n for n in proto.graph.node if n.op_type == "Conv").input[1]
    # the guard is off: with pw1 in int8 this model collapses (see test_quant_guard); only the graph is checked here
    out = QuantizeStatic(calibration_samples=16, exclude_nodes=(stem,), check_agreement=False).apply(
        loaded_torchscript_onnx(), context(tmp_path))
    q = onnx.load(str(out.model.runnable.path))
    assert not any(n.name.endswith("_fp32") for n in q.graph.node)
    node = next(n for n in q.graph.node if n.input and n.input[1:2] == [stem])
    assert node.input[0] == q.graph.input[0].name
