"""The student catalogue: every architecture adapted to the task's classes and input size."""

from __future__ import annotations

import pytest
import torch

from core.errors import EdgeSlimError
from core.models.students import BUDGET, NAMES, build_student, count_params, describe, fit_width, size_words

DEMO_TEACHER_PARAMS = 175_258  # the shipped demo ResNet


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
    assert not [n for n in notes if "stride" in n or "max-pool" in n]
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


def test_unknown_student_and_a_width_that_is_not_a_multiplier():
    with pytest.raises(EdgeSlimError, match="mobilenet_v3_small"):
        build_student("mobilenet_v3_smal", 10, (3, 32, 32))
    with pytest.raises(EdgeSlimError, match="width"):
        build_student("resnet18", 10, (3, 32, 32), width=0.0)


@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith("demo")])
def test_every_torchvision_family_takes_a_width(name):
    thin, notes = build_student(name, 10, (3, 32, 32), width=0.25)
    assert count_params(thin) < 0.25 * count_params(build_student(name, 10, (3, 32, 32))[0])
    assert "width ×0.25" in notes
    with torch.no_grad():
        assert thin(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("name", NAMES)
def test_the_automatic_width_gives_a_student_at_most_half_the_teacher(name):
    width = fit_width(name, 10, (3, 32, 32), DEMO_TEACHER_PARAMS)
    assert 0 < width <= 1.0
    assert count_params(build_student(name, 10, (3, 32, 32), width)[0]) <= BUDGET * DEMO_TEACHER_PARAMS
    assert fit_width(name, 10, (3, 32, 32), 50_000_000) == 1.0  # a big teacher: the published network, never wider


def test_no_width_fits_a_tiny_teacher_then_the_narrowest_is_taken():
    assert fit_width("resnet18", 10, (3, 32, 32), 1_000) == 0.05


def test_size_words_say_larger_plainly():
    assert size_words(175_258, 1_528_106) == "8.7× larger than the teacher"
    assert size_words(175_258, 44_370) == "3.9× fewer params than the teacher"
    assert "fewer" not in size_words(100, 101) and "larger" not in size_words(101, 100)


def test_mobilenet_v3_batchnorm_settles_within_a_few_hundred_steps():
    """torchvision's MobileNetV3 BatchNorm momentum (0.01) left the running statistics at their start values
    after a short training, so the student scored chance in eval mode."""
    model, notes = build_student("mobilenet_v3_small", 10, (3, 32, 32), 0.25)
    momenta = {m.momentum for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert momenta == {0.1} and any("BatchNorm momentum" in n for n in notes)
