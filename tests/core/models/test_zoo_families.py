"""Inspection across architecture families: attention, windows, ModuleLists looped by the parent,
auxiliary heads. Batch-of-one forwards keep it to a few seconds."""

from __future__ import annotations

import pytest
import torch

from core.models import inspect_model, load_model

ARCHS = ["vit_b_16", "swin_t", "convnext_tiny", "efficientnet_b0", "regnet_y_400mf", "maxvit_t", "googlenet", "inception_v3", "shufflenet_v2_x0_5"]


@pytest.mark.parametrize("name", ARCHS)
def test_rows_add_up_for_every_family(name):
    model = load_model(f"torchvision:{name}", num_classes=10)
    report = inspect_model(model)
    assert report.total_params == sum(p.numel() for p in model.module.parameters())
    assert sum(layer.params for layer in report.layers) == report.total_params
    assert sum(layer.macs for layer in report.layers) == report.total_macs > 0
    assert report.layers[-1].output_shape == (10,) or any(layer.output_shape == (10,) for layer in report.layers)
    with torch.no_grad():
        assert model.predict(torch.zeros(1, *model.input_shape)).shape == (1, 10)
