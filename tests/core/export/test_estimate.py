"""Estimates and fit checks on small hand-built graphs whose numbers can be worked out by hand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from core.export.estimate import estimate, model_precision
from core.export.fit import check_fit, check_format
from core.export.targets import Memory, OpSupport, Quantization, TargetProfile, get_target

KIB = 1024


def tiny_graph(path: Path) -> Path:
    """conv 3→4 → relu → conv 4→4 → add(skip) → global pool → flatten → gemm 4→2, input (batch, 3, 8, 8)."""
    rng = np.random.default_rng(0)

    def init(name, *shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["y1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["y1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["y2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["y2", "r1"], ["a"], name="add"),
        helper.make_node("GlobalAveragePool", ["a"], ["g"], name="pool"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        [init("w1", 4, 3, 3, 3), init("b1", 4), init("w2", 4, 4, 3, 3), init("b2", 4), init("w3", 2, 4), init("b3", 2)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def quantized(src: Path, dst: Path, symmetric: bool = False) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(1)
            self.batches = iter([{"x": rng.standard_normal((4, 3, 8, 8)).astype(np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.batches, None)

    act = QuantType.QInt8 if symmetric else QuantType.QUInt8
    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True, activation_type=act,
                    weight_type=QuantType.QInt8, extra_options={"ActivationSymmetric": symmetric})
    return dst


def profile(**changes) -> TargetProfile:
    base = TargetProfile(
        name="test", label="Test board", kind="cpu", processor="p", runtime="r", toolchain="onnxruntime",
        formats=("onnx", "onnx-int8"), precisions=("fp32", "int8"), memory=Memory(10**9, 10**9, 1.0),
        compute_gops={"fp32": 1.0, "int8": 4.0}, source="test figures",
    )
    return replace(base, **changes)


@pytest.fixture(scope="module")
def fp32_file(tmp_path_factory) -> Path:
    return tiny_graph(tmp_path_factory.mktemp("est") / "tiny.onnx")


@pytest.fixture(scope="module")
def int8_file(fp32_file) -> Path:
    return quantized(fp32_file, fp32_file.with_name("tiny-int8.onnx"))


def test_memory_and_macs_by_hand(fp32_file):
    est = estimate(fp32_file, profile())
    assert est.precision == "fp32" and est.input_shape == (1, 3, 8, 8)
    assert est.weight_bytes == 4 * (108 + 4 + 144 + 4 + 8 + 2)  # every initializer, fp32
    assert est.macs == 4 * 64 * 27 + 4 * 64 * 36 + 2 * 4
    # at the Add: its inputs (conv2's output and the skip) and its output are live, 3 × 4×8×8 floats
    assert est.peak_activation_bytes == 3 * 4 * 64 * 4 and est.peak_at == "add"
    assert est.ram_bytes == est.peak_activation_bytes + est.weight_bytes  # weights loaded into RAM
    assert est.storage_bytes == est.file_bytes == fp32_file.stat().st_size


def test_roofline_by_hand(fp32_file):
    est = estimate(fp32_file, profile())  # 1 GOPS fp32, 1 GB/s: 1 op or 1 byte = 1 ns
    layers = {c.name: c for c in est.layers}
    assert set(layers) == {"conv1", "relu1", "conv2", "add", "pool", "fc"}  # flatten is a view: free
    assert layers["conv1"].ops == 2 * 6912 and layers["conv1"].bound == "compute"
    assert layers["conv1"].bytes == 768 + 432 + 16 + 1024
    assert layers["add"].bytes == 3 * 1024 and layers["add"].bound == "memory"
    expected_ns = 13824 + 2048 + 18432 + 3072 + 1040 + 64
    assert est.latency_ms == pytest.approx(expected_ns * 1e-6)
    assert est.latency_ms >= max(est.compute_ms, est.memory_ms) - 1e-12
    assert est.bound == "compute"
    text = " ".join(est.assumptions)
    assert "lower bound" in text and "batch 1" in text and "no in-place reuse" in text
    faster = estimate(fp32_file, profile(compute_gops={"fp32": 1000.0, "int8": 4000.0}))
    assert faster.bound == "memory" and faster.latency_ms < est.latency_ms


def test_int8_qdq_counts_one_byte_activations(fp32_file, int8_file):
    fp32 = estimate(fp32_file, profile())
    q = estimate(int8_file, profile())
    assert model_precision(onnx.load(str(int8_file))) == "int8" and q.precision == "int8"
    assert q.macs == fp32.macs  # quantization changes precision, not the arithmetic
    assert {c.name: c.precision for c in q.layers if c.op_type == "Conv"} == {"conv1": "int8", "conv2": "int8"}
    assert q.weight_bytes < 0.5 * fp32.weight_bytes
    assert q.peak_activation_bytes < 0.5 * fp32.peak_activation_bytes
    assert "QDQ" in " ".join(q.assumptions)


def test_vendor_conversion_counts_the_device_precision(fp32_file):
    mcu = profile(kind="mcu", precisions=("int8",), converts_to="int8", weights_in_ram=False, formats=("onnx",))
    est = estimate(fp32_file, mcu)
    assert est.precision == "int8"
    assert est.weight_bytes == 108 + 4 + 144 + 4 + 8 + 2  # quantized by the tool chain: 1 byte each
    assert est.storage_bytes == est.weight_bytes
    assert est.ram_bytes == est.peak_activation_bytes == 3 * 4 * 64  # weights stay in flash
    assert "converts the fp32 model to int8" in " ".join(est.assumptions)


def test_fits_with_room(fp32_file):
    t = profile()
    report = check_fit(t, "onnx", estimate(fp32_file, t), ["Conv", "Relu"])
    assert report.fits and not report.problems and not report.warnings
    assert report.summary().startswith("fits") and report.ram_share < 0.01


def test_ram_and_flash_misfits_are_actionable(fp32_file):
    t = profile(kind="mcu", memory=Memory(1 * KIB, 2 * KIB, 1.0))
    est = estimate(fp32_file, t)
    report = check_fit(t, "onnx", est)
    assert not report.fits
    kinds = {p.kind: p.message for p in report.problems}
    assert set(kinds) == {"storage", "ram"}
    assert kinds["ram"].startswith("RAM: needs 3.00 KiB of activations + 1.05 KiB of weights, target has 2.00 KiB")
    assert "try a smaller input size or a narrower student" in kinds["ram"] and "int8" in kinds["ram"]
    assert kinds["storage"].startswith("flash: needs") and "--format onnx-int8" in kinds["storage"]
    assert report.summary().startswith("does not fit: ")


def test_int8_misfit_suggests_pruning_not_quantizing(int8_file):
    t = profile(kind="mcu", memory=Memory(256, 10**6, 1.0))
    report = check_fit(t, "onnx-int8", estimate(int8_file, t))
    (problem,) = report.problems
    assert "prune" in problem.message and "--format onnx-int8" not in problem.message


def test_tight_budget_is_a_warning(fp32_file):
    est = estimate(fp32_file, profile())
    t = profile(memory=Memory(10**9, int(est.ram_bytes / 0.9), 1.0))
    report = check_fit(t, "onnx", estimate(fp32_file, t))
    assert report.fits and any(w.startswith("RAM: the model takes 90 %") for w in report.warnings)


def test_ops(fp32_file):
    t = profile(ops=OpSupport(supported=("Conv", "Relu", "Gemm", "Flatten"), unsupported=("Add",)))
    ops = [n.op_type for n in onnx.load(str(fp32_file)).graph.node]
    report = check_fit(t, "onnx", estimate(fp32_file, t), ops)
    assert [p.kind for p in report.problems] == ["op"]
    assert "cannot run Add (1 node)" in report.problems[0].message
    assert any("GlobalAveragePool" in w and "known-supported" in w for w in report.warnings)


def test_format_and_precision_messages():
    stm = get_target("stm32h7")
    (issue,) = check_format(stm, "onnx")
    assert issue.kind == "precision" and "runs int8 only" in issue.message and "--format onnx-int8" in issue.message
    (issue,) = check_format(get_target("rpi4"), "onnx-fp16")
    assert issue.kind == "precision" and "runs fp32, int8 only" in issue.message and "--format onnx" in issue.message
    (issue,) = check_format(get_target("esp32s3"), "pt2")
    assert issue.kind == "format" and "does not take pt2 files" in issue.message and "--format onnx" in issue.message
    assert check_format(get_target("esp32s3"), "onnx") == []  # ESP-PPQ quantizes it on the host


def test_tensorrt_needs_symmetric_int8(fp32_file, int8_file, tmp_path):
    jetson = get_target("jetson-orin-nano")
    asym = check_fit(jetson, "onnx-int8", proto=onnx.load(str(int8_file)))
    assert not asym.fits and asym.problems[0].kind == "precision"
    assert "uint8" in asym.problems[0].message and "before quantization" in asym.problems[0].message
    sym = quantized(fp32_file, tmp_path / "sym.onnx", symmetric=True)
    assert check_fit(jetson, "onnx-int8", proto=onnx.load(str(sym))).fits
    relaxed = replace(jetson, quantization=Quantization("S8S8", symmetric=True, required=False))
    report = check_fit(relaxed, "onnx-int8", proto=onnx.load(str(int8_file)))
    assert report.fits and report.warnings  # not required: a warning only


def test_ops_outside_the_profile_list_are_a_warning_and_data():
    from core.export.targets import get_target

    t = get_target("stm32h7")
    report = check_fit(t, "onnx-int8", None, ["Conv", "MyCustomOp"])
    assert report.ops_warning and report.ops_warning in report.warnings and "MyCustomOp" in report.ops_warning
    assert report.to_dict()["ops_warning"] == report.ops_warning  # views read it as data, never by matching text
    assert check_fit(t, "onnx-int8", None, ["Conv"]).ops_warning == ""
