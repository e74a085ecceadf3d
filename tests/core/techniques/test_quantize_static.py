"""quantize.static: real int8 QDQ graphs, U8S8 by default, exclusions honoured, cancel stops calibration."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto

from core.jobs import Cancelled, CancelToken
from core.techniques import ONNX, get
from core.techniques import onnx_quant_common as oq
from core.techniques.base import TechniqueError
from core.techniques.quantize_static import QuantizeStatic
from tests.core.metrics.conftest import linear_onnx, make_bundle
from tests.core.techniques.quant_helpers import (
    context, exported, graph, initializer_types, onnx_loaded, quadrants, run_onnx, torch_loaded, trained_quantnet, val_batch,
)


def _zero_point_types(proto, op_type: str) -> set[int]:
    """Element types of the zero-points of every ``op_type`` node (the activation types for QuantizeLinear)."""
    types = initializer_types(proto)
    return {types[n.input[2]] for n in proto.graph.node if n.op_type == op_type and len(n.input) == 3}


def _weight_source(proto, node_name: str) -> str:
    """What feeds the weight of ``node_name``: an initializer's type name or the producing op."""
    node = next(n for n in proto.graph.node if n.name == node_name)
    producer = {o: n.op_type for n in proto.graph.node for o in n.output}
    weight = node.input[1]
    if weight in producer:
        return producer[weight]
    return TensorProto.DataType.Name(initializer_types(proto)[weight])


def test_registered_as_an_onnx_step_with_u8s8_per_channel_defaults():
    info = get("quantize.static")
    assert (info.side, info.family, info.accepts_onnx) == (ONNX, "Quantization", True)
    config = info.config()
    assert (config.types, config.per_channel, config.reduce_range, config.calibration_method) == ("U8S8", True, False, "MinMax")
    assert {p.name: p.spec.choices for p in info.params}["types"] == ("U8S8", "S8S8", "U8U8")


def test_default_static_int8_from_pytorch_is_qdq_u8s8_small_and_agrees_with_fp32(tmp_path):
    progress: list[tuple[float, str]] = []
    out = QuantizeStatic().apply(torch_loaded(trained_quantnet()), context(tmp_path, progress=lambda f, m: progress.append((f, m))))

    path = Path(out.model.runnable.path)
    assert path == tmp_path / "model_int8.onnx" and out.model.is_onnx
    proto = graph(path)
    onnx.checker.check_model(proto)
    counts = oq.op_counts(proto)
    assert counts["QuantizeLinear"] == out.extra["quantize_linear"] > 0
    assert counts["DequantizeLinear"] == out.extra["dequantize_linear"] > 0
    # U8S8: uint8 activations, int8 weights, and no float weight matrix left anywhere
    assert _zero_point_types(proto, "QuantizeLinear") == {TensorProto.UINT8}
    assert all(_weight_source(proto, row["node"]) == "DequantizeLinear" for row in out.layers)
    dq_inputs = {n.input[0] for n in proto.graph.node if n.op_type == "DequantizeLinear"}
    weights = [i for i in proto.graph.initializer if i.name in dq_inputs and len(i.dims) >= 2]
    assert weights and all(w.data_type == TensorProto.INT8 for w in weights)
    assert not [i.name for i in proto.graph.initializer if i.data_type == TensorProto.FLOAT and len(i.dims) >= 2]
    # weights dominate this model, so the file is about 4x smaller
    assert out.extra["fp32_bytes"] / out.extra["int8_bytes"] >= 3.5
    assert out.extra["int8_bytes"] == path.stat().st_size
    # the layers table names every conv and the head, all quantized
    assert [r["op_type"] for r in out.layers] == ["Conv"] * 4 + ["Gemm"]
    assert out.layers[-1]["layer"] == "fc" and all(r["quantized"] for r in out.layers)
    assert out.extra["quantized_layers"] == 5 and "5 of 5 weight layers" in out.summary
    # the calibration split has 40 images, fewer than the default 128: all used, and said so
    assert out.extra["calibration_samples"] == 40 and any("40" in n and "128" in n for n in out.notes)
    # progress: monotone, through calibration, ending at 1
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(m.startswith("calibrating") for _, m in progress)
    # fidelity on held-out images
    x = val_batch()
    with torch.no_grad():
        fp32 = trained_quantnet()(torch.from_numpy(x)).numpy()
    int8 = run_onnx(path, x)
    labels = np.array([quadrants().val[i][1] for i in range(len(x))])
    assert np.mean(fp32.argmax(1) == labels) >= 0.9  # a trained model, so agreement means something
    assert np.mean(fp32.argmax(1) == int8.argmax(1)) >= 0.95
    assert np.mean(int8.argmax(1) == labels) >= np.mean(fp32.argmax(1) == labels) - 0.05
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fp32.onnx", "model_int8.onnx"]  # no scratch left


def test_s8s8_quantizes_activations_to_int8(tmp_path):
    out = QuantizeStatic(types="S8S8", calibration_samples=16).apply(onnx_loaded(exported("cnn")), context(tmp_path))
    proto = graph(out.model.runnable.path)
    assert _zero_point_types(proto, "QuantizeLinear") == {TensorProto.INT8}
    assert any("S8S8" in n for n in out.notes)


def test_starting_from_onnx_leaves_the_source_untouched(tmp_path):
    src = exported("cnn")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    model = onnx_loaded(src)
    out = QuantizeStatic(calibration_samples=8, batch_size=4).apply(model, context(tmp_path))
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest
    assert out.model.name == "net+int8" and out.model.input_shape == model.input_shape
    assert out.extra["calibration_samples"] == 8 and out.extra["fp32_bytes"] == src.stat().st_size
    assert out.model.predict(torch.from_numpy(val_batch()[:3])).shape == (3, 4)


def test_excluded_layer_stays_fp32(tmp_path):
    out = QuantizeStatic(calibration_samples=16, exclude_nodes=("fc",)).apply(onnx_loaded(exported("cnn")), context(tmp_path))
    proto = graph(out.model.runnable.path)
    rows = {r["layer"]: r for r in out.layers}
    assert rows["fc"]["quantized"] is False and rows["fc"]["excluded"] is True
    assert _weight_source(proto, rows["fc"]["node"]) == "FLOAT"
    assert all(r["quantized"] for name, r in rows.items() if name != "fc")
    assert out.extra["excluded_nodes"] == 1 and "4 of 5" in out.summary


def test_excluding_an_op_type_keeps_all_its_nodes_fp32(tmp_path):
    out = QuantizeStatic(calibration_samples=8, exclude_op_types=("Gemm",)).apply(onnx_loaded(exported("cnn")), context(tmp_path))
    assert [r["quantized"] for r in out.layers] == [True] * 4 + [False]


def test_unknown_exclusions_are_named_with_valid_examples(tmp_path):
    model = onnx_loaded(exported("cnn"))
    with pytest.raises(TechniqueError) as err:
        QuantizeStatic(exclude_nodes=("fc", "features.9")).apply(model, context(tmp_path))
    text = str(err.value)
    assert "'features.9'" in text and "'fc'" not in text.split(".")[0]
    assert "features.0.0" in text  # a layer name that would work
    with pytest.raises(TechniqueError, match="'conv'.*Conv"):
        QuantizeStatic(exclude_op_types=("conv",)).apply(model, context(tmp_path))


def test_cancel_during_calibration_stops_and_writes_nothing(tmp_path):
    token = CancelToken()

    def progress(fraction: float, message: str) -> None:
        if message.startswith("calibrating"):
            token.cancel()  # the next batch must not run

    ctx = context(tmp_path, progress=progress, cancel=token)
    with pytest.raises(Cancelled):
        QuantizeStatic(batch_size=4).apply(onnx_loaded(exported("cnn")), ctx)
    assert list(tmp_path.iterdir()) == []


def test_fixed_batch_model_is_calibrated_in_whole_batches(tmp_path):
    src = linear_onnx(tmp_path / "fixed.onnx", batch=4, shape=(3, 4, 4))
    data = make_bundle(n=10, shape=(3, 4, 4), num_classes=5)
    work = tmp_path / "work"
    out = QuantizeStatic().apply(onnx_loaded(src), context(work, data=data))
    assert out.extra["calibration_samples"] == 8  # 10 images, batches of exactly 4
    proto = graph(out.model.runnable.path)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    assert out.layers == [{"layer": "w", "node": "MatMul_1", "op_type": "MatMul", "params": 240,
                           "quantized": True, "excluded": False}]  # unnamed nodes get a name to be excluded by


def test_images_of_the_wrong_size_are_refused_before_calibration(tmp_path):
    data = make_bundle(n=8, shape=(3, 8, 8), num_classes=4)
    with pytest.raises(TechniqueError, match="3×8×8.*3×16×16"):
        QuantizeStatic().apply(onnx_loaded(exported("cnn")), context(tmp_path, data=data))


def test_an_already_quantized_model_is_refused(tmp_path):
    first = QuantizeStatic(calibration_samples=8).apply(onnx_loaded(exported("cnn")), context(tmp_path / "a"))
    with pytest.raises(TechniqueError, match="already quantized"):
        QuantizeStatic().apply(first.model, context(tmp_path / "b"))


def test_slimming_the_quantized_file_changes_no_output(tmp_path):
    """The tidy-up after ONNX Runtime's quantizer is lossless: bit-identical outputs, a smaller file."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    pre = tmp_path / "pre.onnx"
    oq.preprocess(exported("cnn"), pre)
    x = val_batch()
    raw = tmp_path / "raw.onnx"
    class OneBatch:
        def __init__(self) -> None:
            self.batches = [{"input": x[:16]}]

        def get_next(self):
            return self.batches.pop() if self.batches else None

    with oq.quiet_ort():
        quantize_static(str(pre), str(raw), OneBatch(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    slim = tmp_path / "slim.onnx"
    saved = oq.save_slim(graph(raw), slim, compact_qdq=True)
    assert saved > 0 and slim.stat().st_size < raw.stat().st_size
    np.testing.assert_array_equal(run_onnx(slim, x), run_onnx(raw, x))
    assert not any(n.metadata_props for n in graph(slim).graph.node)  # no stack traces with local paths


def test_histogram_calibration_works_and_prints_nothing(tmp_path, capfd):
    out = QuantizeStatic(calibration_method="Entropy", calibration_samples=16).apply(onnx_loaded(exported("cnn")), context(tmp_path))
    assert all(r["quantized"] for r in out.layers) and "Entropy on 16 images" in out.summary
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""  # the CLI's --json output stays parseable


def test_an_excluded_middle_layer_stays_fp32_after_onnx_runtime_optimises_the_graph(tmp_path):
    """ORT re-quantizes a fp32 Conv fed by DequantizeLinear at load; the exclusion must survive that."""
    import onnxruntime as ort

    first = QuantizeStatic(calibration_samples=8).apply(onnx_loaded(exported("cnn")), context(tmp_path / "a"))
    middle = [r["layer"] for r in first.layers if r["op_type"] == "Conv"][1]
    out = QuantizeStatic(calibration_samples=8, exclude_nodes=(middle,)).apply(onnx_loaded(exported("cnn")), context(tmp_path / "b"))
    proto = graph(out.model.runnable.path)
    node = next(n for n in proto.graph.node if n.name == next(r["node"] for r in out.layers if r["layer"] == middle))
    producer = {o: n.op_type for n in proto.graph.node for o in n.output}
    assert producer.get(node.input[0]) != "DequantizeLinear"  # it reads the fp32 activation
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(out.model.runnable.path), opts, providers=["CPUExecutionProvider"])
    optimized = onnx.load(str(tmp_path / "optimized.onnx"))
    fp32 = {i.name for i in optimized.graph.initializer if i.data_type == TensorProto.FLOAT and len(i.dims) == 4}
    convs = [n for n in optimized.graph.node if n.op_type in ("Conv", "FusedConv") and len(n.input) > 1 and n.input[1] in fp32]
    assert len(convs) == 1  # exactly the excluded layer still computes in fp32
    x = torch.from_numpy(val_batch()[:4])
    assert out.model.predict(x).shape == (4, 4)


@pytest.mark.parametrize("method", ["Percentile", "Entropy"])
def test_histogram_calibration_with_a_count_that_is_not_a_multiple_of_the_batch(tmp_path, method):
    """37 images in batches of 8 leave a last batch of 5: ORT's histogram collectors stacked every batch into one
    array and failed with "inhomogeneous shape"; each batch is now collected on its own."""
    fp32 = onnx_loaded(exported("cnn"))
    out = QuantizeStatic(calibration_method=method, calibration_samples=37, batch_size=8).apply(fp32, context(tmp_path))
    assert out.extra["calibration_samples"] == 37 and f"{method} on 37 images" in out.summary
    assert all(r["quantized"] for r in out.layers)
    x = val_batch()
    agree = (run_onnx(out.model.runnable.path, x).argmax(1) == run_onnx(exported("cnn"), x).argmax(1)).mean()
    assert agree >= 0.9
