"""quantize.dynamic: shrinks a Linear-heavy model, warns on a convolutional one, validates its op types."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.techniques import ONNX, get
from core.techniques import onnx_quant_common as oq
from core.techniques.base import TechniqueError
from core.techniques.quantize_dynamic import QuantizeDynamic
from tests.core.techniques.quant_helpers import context, exported, graph, mlp, onnx_loaded, run_onnx, torch_loaded, val_batch


def test_registered_as_an_onnx_step_for_matmul_and_gemm():
    info = get("quantize.dynamic")
    assert (info.side, info.family, info.accepts_onnx) == (ONNX, "Quantization", True)
    assert info.config().op_types == ("MatMul", "Gemm") and info.config().weight_type == "QInt8"


def test_linear_heavy_model_shrinks_about_4x_and_keeps_its_outputs(tmp_path):
    out = QuantizeDynamic().apply(torch_loaded(mlp()), context(tmp_path))
    path = Path(out.model.runnable.path)
    assert path == tmp_path / "model_dynamic_int8.onnx"
    counts = oq.op_counts(graph(path))
    assert counts.get("MatMulInteger") == 3 and "Gemm" not in counts and "MatMul" not in counts
    assert [r["quantized"] for r in out.layers] == [True, True, True] and out.extra["quantized_layers"] == 3
    assert out.extra["fp32_bytes"] / out.extra["int8_bytes"] >= 3.5
    assert out.extra["conv_mac_share"] == 0.0 and not any("quantize.static" in n for n in out.notes)
    x = val_batch()
    fp32, int8 = run_onnx(tmp_path / "fp32.onnx", x), run_onnx(path, x)
    assert np.abs(fp32 - int8).max() <= 0.05 * np.abs(fp32).max()


def test_convolutional_model_gets_a_warning_pointing_to_static(tmp_path):
    out = QuantizeDynamic().apply(onnx_loaded(exported("cnn")), context(tmp_path))
    assert out.extra["conv_mac_share"] > 0.9
    warning = next(n for n in out.notes if "quantize.static" in n)
    assert "convolutions" in warning and "fp32" in warning
    rows = {r["op_type"]: r["quantized"] for r in out.layers}
    assert rows == {"Conv": False, "Gemm": True}  # only the head is quantized by default
    assert out.extra["fp32_bytes"] / out.extra["int8_bytes"] < 1.5


def test_conv_selected_explicitly_is_warned_as_slow(tmp_path):
    out = QuantizeDynamic(op_types=("Conv", "Gemm")).apply(onnx_loaded(exported("cnn")), context(tmp_path))
    assert oq.op_counts(graph(out.model.runnable.path)).get("ConvInteger") == 4
    assert any("ConvInteger" in n and "quantize.static" in n for n in out.notes)


def test_excluded_layer_stays_a_float_matmul(tmp_path):
    out = QuantizeDynamic(exclude_nodes=("5",)).apply(onnx_loaded(exported("mlp")), context(tmp_path))
    rows = {r["layer"]: r for r in out.layers}
    assert rows["5"]["quantized"] is False and rows["5"]["excluded"] is True
    assert rows["1"]["quantized"] and rows["3"]["quantized"]
    counts = oq.op_counts(graph(out.model.runnable.path))
    assert counts["MatMulInteger"] == 2 and counts["MatMul"] == 1


def test_op_types_the_model_lacks_or_that_do_not_exist_are_refused(tmp_path):
    with pytest.raises(TechniqueError, match=r"no MatMul layers.*Gemm ×3"):
        QuantizeDynamic(op_types=("MatMul",)).apply(onnx_loaded(exported("mlp")), context(tmp_path))
    with pytest.raises(TechniqueError, match="'Dense'.*MatMul, Gemm, Conv"):
        QuantizeDynamic(op_types=("Dense",)).apply(onnx_loaded(exported("mlp")), context(tmp_path))
    with pytest.raises(TechniqueError, match="'fc9'"):
        QuantizeDynamic(exclude_nodes=("fc9",)).apply(onnx_loaded(exported("mlp")), context(tmp_path))
