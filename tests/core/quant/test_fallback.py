"""quantize.static's max_drop: the fewest worst layers kept fp32, really fp32, and a clear end when it cannot be met."""

from __future__ import annotations

import copy
import hashlib
import warnings

import onnx
import pytest
import torch
from onnx import TensorProto

from core.pipeline.sensitivity import quant_sensitivity
from core.quant.fallback import MAX_FP32_SHARE, Try, search
from core.techniques.base import TechniqueError
from core.techniques.quantize_static import QuantizeStatic
from tests.core.techniques.mobile_helpers import fragile_layer, fragile_weight, loaded_torchscript_onnx, mobilenet_like
from core.techniques import onnx_quant_common as oq
from tests.core.techniques.quant_helpers import SHAPE, _scratch, context, onnx_loaded, quadrants, run_onnx, val_batch


def test_search_finds_the_shortest_passing_prefix_in_few_measurements():
    calls = []

    def measure(k: int) -> Try:
        calls.append(k)
        return Try(1.0 if k >= 11 else 0.5, 1.0)

    assert search(40, measure, 0.9) == 11
    assert len(calls) <= 9 and 40 not in calls  # doubling to 16, then bisecting 8..16
    calls.clear()
    assert search(5, measure, 0.9) is None and calls[-1] == 5  # stops at the limit, no loop
    assert search(0, measure, 0.9) is None


def test_the_fallback_stops_when_the_target_is_met(tmp_path):
    """All-int8 collapses on pw1 (25 %): one layer kept fp32 meets max_drop = 1, and the search stops there."""
    out = QuantizeStatic(calibration_samples=40, max_drop=1.0).apply(loaded_torchscript_onnx(), context(tmp_path))
    assert out.extra["kept_fp32"] == [fragile_layer()]
    assert out.extra["int8_agreement_before_fallback"] < 0.5 <= 0.99 <= out.extra["target_agreement"]
    rows = {r["layer"]: r for r in out.layers}
    assert rows[fragile_layer()]["kept_fp32"] and not rows[fragile_layer()]["quantized"]
    assert sum(r["kept_fp32"] for r in out.layers) == 1 and all(r["lost_db"] is not None for r in out.layers)
    assert rows[fragile_layer()]["lost_db"] == max(r["lost_db"] for r in out.layers)  # the ranking put it first
    assert rows[fragile_layer()]["fp32_extra_bytes"] == 3 * rows[fragile_layer()]["params"]
    assert out.extra["fp32_extra_bytes"] > 0 and 0 < out.extra["fp32_macs_share"] < 1
    first = next(i for i, n in enumerate(out.notes) if "quantizations tried" in n)
    assert "1 quantizations tried" in out.notes[first]
    assert "kept in fp32" in out.notes[first + 1] and fragile_layer() in out.notes[first + 1]
    x = val_batch()
    agree = (run_onnx(out.model.runnable.path, x).argmax(1) == run_onnx(loaded_torchscript_onnx().runnable.path, x).argmax(1))
    assert agree.mean() >= 0.99


def test_a_target_int8_already_meets_keeps_every_layer_int8(tmp_path):
    out = QuantizeStatic(calibration_samples=40, max_drop=1.0).apply(loaded_torchscript_onnx(fragile=False), context(tmp_path))
    assert out.extra["kept_fp32"] == [] and all(r["quantized"] for r in out.layers)
    assert any("every layer stayed int8" in n for n in out.notes)


def test_layers_kept_fp32_stay_fp32_in_onnx_runtime(tmp_path):
    """No load-time re-quantization: after ONNX Runtime's own graph optimisation, pw1 still multiplies fp32 weights."""
    import onnxruntime as ort

    out = QuantizeStatic(calibration_samples=40, max_drop=1.0).apply(loaded_torchscript_onnx(), context(tmp_path))
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(out.model.runnable.path), opts, providers=["CPUExecutionProvider"])
    optimized = onnx.load(str(tmp_path / "optimized.onnx"))
    fp32 = {i.name for i in optimized.graph.initializer if i.data_type == TensorProto.FLOAT and len(i.dims) == 4}
    convs = [n for n in optimized.graph.node if n.op_type in ("Conv", "FusedConv") and len(n.input) > 1 and n.input[1] in fp32]
    assert len(convs) == 1  # exactly the kept layer computes in fp32
    assert not any(n.op_type == "QLinearConv" and fragile_weight() in n.input for n in optimized.graph.node)


def _big_layer_fragile_onnx():
    """The sturdy MobileNet-like net with pw2 (over half of all weights) made int8-fragile: no allowed fallback cures it."""
    net = copy.deepcopy(mobilenet_like(fragile=False))
    with torch.no_grad():  # dw2's channel 0 made dead (ReLU6 zeroes it), and pw2's weight on it huge:
        conv, bn = net.dw2[0], net.dw2[1]  # fp32 is unchanged, int8 rounds every other weight of pw2 to zero
        conv.weight[0] = 0
        bn.running_mean[0], bn.running_var[0], bn.weight[0], bn.bias[0] = 0.0, 1.0, 1.0, -10.0
        net.pw2[0].weight[:, 0] = 5000.0
    path = _scratch() / "mobilenet_like_big_fragile.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(1, *SHAPE),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return onnx_loaded(path, name="BigFragile")


def test_search_over_the_time_budget_bisects_for_the_largest_prefix_within_it():
    calls = []

    def measure(k: int) -> Try:  # never meets the target; runs over 1.5× all-int8's latency from k = 6 on
        calls.append(k)
        return Try(0.5 + 0.01 * k, 1.0 + 0.1 * k)

    assert search(40, measure, 0.9, 1.5) is None
    assert max(calls) == 8 and {5, 6} <= set(calls)  # doubling to 8 (over), then bisection between 4 and 8
    calls.clear()
    passing = search(40, lambda k: calls.append(k) or Try(1.0 if k >= 3 else 0.5, 1.0 + 0.1 * k), 0.9, 1.5)
    assert passing == 3 and max(calls) <= 4


def test_a_target_that_cannot_be_met_ends_on_the_best_model_within_the_budget_and_lists_every_layer_cost(tmp_path):
    """pw2 holds over half the weights: no allowed fallback cures it, the best within the budgets is stored and said."""
    model = _big_layer_fragile_onnx()
    out = QuantizeStatic(calibration_samples=40, max_drop=0.0001, check_agreement=False).apply(model, context(tmp_path))
    text = out.notes[0]  # the first thing said
    assert "max_drop 0.0001 points NOT met" in text and f"{MAX_FP32_SHARE:.0%} of the weights" in text
    layers = [op.layer for op in oq.weight_ops(onnx.load(str(model.runnable.path)))]
    assert len(layers) == 6 and all(f"{name}: " in text for name in layers)  # every layer's cost
    assert text.count("dB lost in int8") + text.count("not compared") == 6
    assert "raise max_drop" in text and ("it is the one stored" in text or "which is the model stored" in text)
    assert out.extra["target_met"] is False and (tmp_path / "model_int8.onnx").exists()
    assert out.extra["target_agreement"] >= out.extra["int8_agreement_before_fallback"]
    kept = [r["layer"] for r in out.layers if r.get("kept_fp32")]
    assert kept == out.extra["kept_fp32"] and "pw2.0" not in kept


def test_a_missed_target_whose_best_model_collapsed_is_not_stored_and_says_both(tmp_path):
    """With the collapse guard on (the default), a best-within-budget model at chance is refused, the target's text kept."""
    with pytest.raises(TechniqueError) as err:
        QuantizeStatic(calibration_samples=40, max_drop=0.0001).apply(_big_layer_fragile_onnx(), context(tmp_path))
    text = str(err.value)
    assert "no better than chance" in text and "max_drop 0.0001 points NOT met" in text and "pw2.0: " in text
    assert not (tmp_path / "model_int8.onnx").exists()


def test_the_sensitivity_suggestion_is_the_max_drop_list_and_gives_the_same_model(tmp_path):
    model = loaded_torchscript_onnx()
    report = quant_sensitivity(model, quadrants(), method="error", calibration_samples=40, threshold=1.0)
    technique, params = report.suggested_step()
    by_target = QuantizeStatic(calibration_samples=40, max_drop=1.0).apply(model, context(tmp_path / "target"))
    assert params["exclude_nodes"] == by_target.extra["kept_fp32"] == [fragile_layer()]
    applied = QuantizeStatic(calibration_samples=40, exclude_nodes=tuple(params["exclude_nodes"])).apply(
        model, context(tmp_path / "applied"))

    def digest(out) -> str:
        return hashlib.sha256(open(out.model.runnable.path, "rb").read()).hexdigest()

    assert digest(applied) == digest(by_target)


def test_a_kept_layer_keeps_the_residual_join_it_feeds():
    """A projection conv's output feeds a residual Add: ONNX Runtime would round it to int8 for the Add anyway."""
    from onnx import helper

    from core.quant.fallback import companions

    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], name="expand"),
        helper.make_node("Clip", ["a", "lo", "hi"], ["b"], name="relu6"),
        helper.make_node("Conv", ["b", "w2"], ["c"], name="project"),
        helper.make_node("Add", ["c", "x"], ["y"], name="residual"),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 4])])
    proto = helper.make_model(graph)
    assert companions(proto, ["project"]) == ["residual"]
    assert companions(proto, ["expand"]) == []  # its output goes to the activation, not to a join


def test_with_bias_correction_a_kept_layer_gets_its_own_bias_back_and_the_suggestion_still_matches(tmp_path):
    """Bias correction offsets int8 rounding; a layer the fallback keeps fp32 has none, so its correction is undone —
    exactly what bias_correction does for a layer excluded by hand."""
    model = loaded_torchscript_onnx()
    by_target = QuantizeStatic(calibration_samples=40, max_drop=1.0, bias_correction=True).apply(model, context(tmp_path / "t"))
    assert by_target.extra["kept_fp32"] == [fragile_layer()] and by_target.extra["target_agreement"] >= 0.99
    by_hand = QuantizeStatic(calibration_samples=40, bias_correction=True, exclude_nodes=(fragile_layer(),)).apply(
        model, context(tmp_path / "h"))
    assert hashlib.sha256(open(by_target.model.runnable.path, "rb").read()).digest() == \
        hashlib.sha256(open(by_hand.model.runnable.path, "rb").read()).digest()


def test_with_weight_tuning_a_kept_layer_gets_its_own_weights_back(tmp_path):
    """Tuned weights are right only once rounded: the layer the fallback keeps fp32 computes with its original ones."""
    from pathlib import Path

    import numpy as np
    from onnx import numpy_helper

    from core.quant import ort_backend

    model = loaded_torchscript_onnx()
    out = QuantizeStatic(calibration_samples=40, max_drop=1.0, tune_epochs=1).apply(model, context(tmp_path / "t"))
    assert out.extra["kept_fp32"] == [fragile_layer()] and out.extra["target_agreement"] >= 0.99
    assert any("before weight tuning" in n for n in out.notes)
    pre, _ = ort_backend.prepare_graph(Path(model.runnable.path), tmp_path / "pre.onnx", [])

    def weight(proto):
        op = next(o for o in oq.weight_ops(proto) if o.layer == fragile_layer())
        return numpy_helper.to_array(next(i for i in proto.graph.initializer if i.name == op.weight))

    assert np.array_equal(weight(onnx.load(str(out.model.runnable.path))), weight(pre))


@pytest.mark.real_timing
def test_slowdown_times_a_candidate_against_all_int8(tmp_path):
    """The real timing: a file against itself is about 1× (loose bounds: a busy machine shifts single runs)."""
    from types import SimpleNamespace

    from core.quant.fallback import slowdown

    path = loaded_torchscript_onnx().runnable.path
    ratio = slowdown(path, path, SHAPE, SimpleNamespace(threads=1))
    assert 0.5 < ratio < 2.0
