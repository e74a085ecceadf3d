"""The quantization sensitivity suggestion, applied, on a graph as the TorchScript exporter writes it."""

from __future__ import annotations

from core.pipeline.recipe import make_step
from core.pipeline.sensitivity import quant_sensitivity
from tests.core.techniques.mobile_helpers import fragile_layer, loaded_torchscript_onnx, torchscript_onnx
from tests.core.techniques.quant_helpers import context, quadrants, run_onnx, val_batch


def test_the_applied_suggestion_on_a_torchscript_export_wins_back_what_int8_lost(tmp_path):
    """dynamo=False export: Conv+BN folded into ``onnx::Conv_NNN`` weights, ReLU6 as Clip. All-int8 collapses on pw1;
    the analysis must find pw1 and the suggested step, applied as a recipe would, must agree with fp32 again.
    Before the fix a layer kept fp32 read the activation *before* the ReLU6 ONNX Runtime had folded away, so keeping
    pw1 fp32 looked useless (and, applied, wrecked the model)."""
    model = loaded_torchscript_onnx()
    report = quant_sensitivity(model, quadrants(), method="exclude_one", calibration_samples=40, threshold=1.0)
    assert report.suggestion["exclude_nodes"][:1] == [fragile_layer()]
    technique, params = report.suggested_step()
    out = make_step(technique, params).config.apply(model, context(tmp_path))
    x = val_batch()
    applied = float((run_onnx(out.model.runnable.path, x).argmax(1) == run_onnx(torchscript_onnx(), x).argmax(1)).mean())
    assert applied >= max(report.extra["int8_agreement"], 0.95)
    assert out.extra["input_agreement"] == round(applied, 4)  # the step's own guard measured the same thing
