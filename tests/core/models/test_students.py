"""The student catalogue: every architecture adapted to the task's classes and input size."""

from __future__ import annotations

import pytest
import torch

from core.errors import EdgeSlimError
from core.models.students import NAMES, build_student, describe


@pytest.mark.parametrize("name", NAMES)
def test_every_student_runs_on_32px_input_with_a_stride_1_stem(name):
    model, notes = build_student(name, num_classes=7, input_shape=(3, 32, 32))
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7)
    if not name.startswith("demo"):
        assert any("stride 2 → 1" in n for n in notes)


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "shufflenet_v2_x0_5", "squeezenet1_1", "resnet18"])
def test_students_keep_their_imagenet_stem_at_224px(name):
    model, notes = build_student(name, num_classes=5, input_shape=(3, 224, 224))
    assert notes == []
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 5)


def test_small_input_adaptation_costs_macs_but_keeps_params():
    small = describe("resnet18", 10, (3, 32, 32))
    big = describe("resnet18", 10, (3, 224, 224))
    assert small.params == big.params
    assert small.macs > 10 * (big.macs * (32 * 32) / (224 * 224))  # stride-1 stem: far more work per pixel


def test_width_multiplier_and_grey_input():
    thin = describe("mobilenet_v2", 10, (3, 32, 32), width=0.5)
    full = describe("mobilenet_v2", 10, (3, 32, 32))
    assert thin.params < 0.5 * full.params
    grey, notes = build_student("mobilenet_v3_small", 10, (1, 28, 28))
    assert grey(torch.randn(2, 1, 28, 28)).shape == (2, 10) and any("1 input channels" in n for n in notes)
    assert describe("demo_w8", 10, (3, 32, 32), width=0.5).params < describe("demo_w8", 10, (3, 32, 32)).params


def test_unknown_student_and_width_on_a_fixed_architecture():
    with pytest.raises(EdgeSlimError, match="mobilenet_v3_small"):
        build_student("mobilenet_v3_smal", 10, (3, 32, 32))
    with pytest.raises(EdgeSlimError, match="width"):
        build_student("resnet18", 10, (3, 32, 32), width=0.5)
