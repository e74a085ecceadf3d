"""quantize.static with tune_epochs: same graph and kernels as plain int8, tuned weights, exclusions honoured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.techniques import onnx_quant_common as oq
from core.techniques.quantize_static import QuantizeStatic
from tests.core.techniques.quant_helpers import context, graph, run_onnx, torch_loaded, trained_quantnet, val_batch


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return QuantizeStatic().apply(torch_loaded(trained_quantnet()), context(tmp_path_factory.mktemp("plain")))


def test_tuning_keeps_the_int8_graph_and_onnx_runtime_decides_whether_the_weights_change(plain, tmp_path):
    epochs: list = []
    out = QuantizeStatic(tune_epochs=2).apply(torch_loaded(trained_quantnet()), context(tmp_path, on_epoch=epochs.append))
    tuned, base = Path(out.model.runnable.path), Path(plain.model.runnable.path)
    assert oq.op_counts(graph(tuned)) == oq.op_counts(graph(base))
    assert out.extra["quantized_layers"] == out.extra["weight_layers"]
    assert [h["epoch"] for h in out.extra["history"]] == [1, 2] and len(epochs) == 2
    assert any(n.startswith("weight tuning: ") and "calibration images" in n for n in out.notes)
    x = val_batch()
    verdict = [n for n in out.notes if n.startswith(("weight tuning kept", "weight tuning discarded"))]
    assert len(verdict) == 1 and "validation images in ONNX Runtime" in verdict[0]
    same = np.allclose(run_onnx(tuned, x), run_onnx(base, x))
    assert same == verdict[0].startswith("weight tuning discarded")
    # the tuned weights are quantized with the activation ranges they were trained against: plain int8's
    assert _activation_scales(graph(tuned)) == _activation_scales(graph(base))


def _activation_scales(proto) -> list[float]:
    from onnx import numpy_helper

    inits = {i.name: i for i in proto.graph.initializer}
    return [float(numpy_helper.to_array(inits[n.input[1]])) for n in proto.graph.node
            if n.op_type == "QuantizeLinear" and n.input[0] not in inits]


def test_a_layer_kept_fp32_stays_fp32_with_tuning(tmp_path):
    out = QuantizeStatic(tune_epochs=1, exclude_nodes=("fc",)).apply(torch_loaded(trained_quantnet()), context(tmp_path))
    rows = {r["layer"]: r for r in out.layers}
    assert rows["fc"]["excluded"] and not rows["fc"]["quantized"]
    assert sum(r["quantized"] for r in out.layers) == len(out.layers) - 1


def test_onnx_runtime_decides_a_tuned_model_that_is_worse_is_discarded(tmp_path):
    """The simulation chooses the epoch; the file users get decides whether tuning is kept at all."""
    import onnx
    from onnx import numpy_helper

    from core.quant import ort_backend
    from core.techniques.quantize_static import _tuned_is_better
    from tests.core.techniques.quant_helpers import exported, quadrants

    pre = tmp_path / "pre.onnx"
    pre_proto, _ = ort_backend.prepare_graph(exported("cnn"), pre, [])
    reader = ort_backend.calibration_reader(pre_proto, context(tmp_path), 64, 16)
    good = ort_backend.quantize_qdq(pre, tmp_path / "q.onnx", reader, ort_backend.QdqScheme())
    bad = onnx.ModelProto()
    bad.CopyFrom(good)
    weight = next(i for i in bad.graph.initializer if i.name.endswith("_quantized") and len(i.dims) == 4)
    weight.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(weight), weight.name))  # a wrecked first layer
    notes: list[str] = []
    val = quadrants().val
    assert not _tuned_is_better(pre_proto, good, bad, val, tmp_path, notes)
    assert _tuned_is_better(pre_proto, bad, good, val, tmp_path, notes)
    assert notes[0].startswith("weight tuning discarded") and notes[1].startswith("weight tuning kept")
    assert f"on {min(len(val), 256)} validation images in ONNX Runtime" in notes[0]
