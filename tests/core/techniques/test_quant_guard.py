"""The collapse guard: an ONNX-side quantization that wrecks the model fails with the numbers and the likely layers."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from core.techniques import qdq_exclusions
from core.techniques.base import TechniqueError
from core.techniques.quant_guard import CHANCE_MARGIN, agreement_of
from core.techniques.quantize_dynamic import QuantizeDynamic
from core.techniques.quantize_fp16 import QuantizeFp16
from core.techniques.quantize_static import QuantizeStatic
from tests.core.techniques.mobile_helpers import fragile_layer, loaded_torchscript_onnx
from tests.core.techniques.quant_helpers import context, exported, mlp, onnx_loaded, quadrants, torch_loaded


def test_chance_is_what_unrelated_predictions_with_the_same_class_frequencies_score():
    ref = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 3])
    constant = agreement_of(ref, np.zeros_like(ref), "validation")
    assert constant.value == pytest.approx(0.3) and constant.chance == pytest.approx(0.3)  # a constant output is chance
    assert constant.value <= constant.floor and constant.collapsed
    same = agreement_of(ref, ref.copy(), "validation")
    assert same.value == 1.0 and same.floor == pytest.approx(same.chance + CHANCE_MARGIN * (1 - same.chance))
    assert same.value > same.floor and not same.collapsed
    skewed = agreement_of(np.zeros(20, dtype=int), np.zeros(20, dtype=int), "validation")
    assert skewed.chance == 1.0 and not skewed.collapsed  # a one-class reference matched exactly is no collapse


def test_a_sound_step_passes_and_reports_its_agreement(tmp_path):
    out = QuantizeStatic(calibration_samples=16).apply(onnx_loaded(exported("cnn")), context(tmp_path))
    assert out.extra["input_agreement"] >= 0.9 and out.extra["input_agreement_images"] == len(quadrants().val)


def test_an_exclusion_that_breaks_the_graph_is_refused_naming_the_excluded_layer(tmp_path, monkeypatch):
    """The bug this guard was made for, put back on purpose: the excluded layer reads the tensor before a removed
    ReLU6 (−1000 on a dead channel). All-int8 is fine here, so the exclusion is named as the cause."""
    monkeypatch.setattr(qdq_exclusions, "removed_activations", lambda *a, **k: [])
    layer = fragile_layer(fragile=False)
    with pytest.raises(TechniqueError) as err:
        QuantizeStatic(calibration_samples=40, exclude_nodes=(layer,)).apply(loaded_torchscript_onnx(fragile=False),
                                                                            context(tmp_path))
    text = str(err.value)
    assert "1 layer(s) kept in fp32" in text and "without exclusions" in text and layer in text
    assert "% of 40 validation images" in text and "not stored" in text
    assert not (tmp_path / "model_int8.onnx").exists()


def test_an_all_int8_collapse_is_refused_naming_where_the_signal_is_lost(tmp_path):
    """pw1 meets a weight of 150 on a dead channel: per-channel int8 rounds its real weights to zero."""
    with pytest.raises(TechniqueError) as err:
        QuantizeStatic(calibration_samples=40).apply(loaded_torchscript_onnx(), context(tmp_path))
    text = str(err.value)
    assert "no better than chance" in text and "not stored" in text
    assert f"signal is lost first at {fragile_layer()} (" in text  # the first layer in graph order that lost it
    assert not (tmp_path / "model_int8.onnx").exists()


def _blank_channel0(bundle):
    def blank(ds: TensorDataset) -> TensorDataset:
        x, y = ds.tensors
        x = x.clone()
        x[:, 0] = 0
        return TensorDataset(x, y)

    return dataclasses.replace(bundle, train=blank(bundle.train), val=blank(bundle.val), calib=blank(bundle.calib))


def test_a_dynamic_int8_collapse_is_refused(tmp_path):
    """A huge weight on an input pixel that is always zero: fp32 ignores it, int8 rounds every other weight away."""
    net = copy.deepcopy(mlp())
    with torch.no_grad():
        net[1].weight[:, 0] = 1e4
    with pytest.raises(TechniqueError, match="dynamic int8 model agrees .* no better than chance"):
        QuantizeDynamic().apply(torch_loaded(net), context(tmp_path, data=_blank_channel0(quadrants())))
    assert not (tmp_path / "model_dynamic_int8.onnx").exists()


def test_an_fp16_overflow_is_refused(tmp_path):
    """A bias of 1e5 cancelled by the next layer's bias: exact in fp32, clamped to 65,504 in fp16, so every logit
    shifts by thousands and one class wins everywhere."""
    net = copy.deepcopy(mlp())
    with torch.no_grad():
        net[3].bias += 1e5
        net[5].bias -= net[5].weight.sum(1) * 1e5
    with pytest.raises(TechniqueError, match="fp16 model agrees .* no better than chance") as err:
        QuantizeFp16().apply(torch_loaded(net), context(tmp_path))
    assert "float32 with exclude_nodes" in err.value.fix
    assert not (tmp_path / "model_fp16.onnx").exists()
