"""distill.kd and arch.swap: a smaller student learns, the teacher's soft targets and hints are used."""

from __future__ import annotations

import copy

import pytest
import torch

from core.jobs import CancelToken, Cancelled
from core.metrics import evaluate_accuracy
from core.techniques import TechniqueError
from core.techniques.arch_swap import ArchSwap
from core.techniques.distill_kd import DistillKD, last_feature_map
from tests.core.small_models import loaded

FAST = dict(epochs=6, batch_size=16, lr=0.05, augment=False)


def _acc(model, data) -> float:
    return evaluate_accuracy(model, data.loader("val", 64)).top1


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_kd_trains_a_smaller_student_that_learns(trained_net, quadrants, make_ctx):
    teacher = loaded(copy.deepcopy(trained_net))
    out = DistillKD(student="demo_w4", width=0.5, **FAST).apply(teacher, make_ctx(baseline=teacher))
    student = out.model.module
    assert _params(student) < _params(trained_net)
    assert out.model.arch == "student:demo_w4" and out.model.num_classes == 4
    assert _acc(out.model, quadrants) >= 0.85
    assert out.extra["params_student"] == _params(student)
    assert student(torch.randn(3, 3, 16, 16)).shape == (3, 4)


def test_kd_with_a_feature_hint_on_named_layers(trained_net, quadrants, make_ctx):
    teacher = loaded(copy.deepcopy(trained_net))
    out = DistillKD(student="demo_w4", feature_loss=True, teacher_layer="block2.conv2", student_layer="layer3.1.conv2", **FAST).apply(
        teacher, make_ctx(baseline=teacher)
    )
    assert any("block2.conv2" in n and "layer3.1.conv2" in n for n in out.notes)
    assert not out.model.module.layer3[1].conv2._forward_hooks  # hooks are removed after training
    assert _acc(out.model, quadrants) >= 0.8


def test_kd_into_the_current_model_uses_the_original_as_teacher(trained_net, quadrants, make_ctx):
    original = loaded(copy.deepcopy(trained_net))
    damaged = copy.deepcopy(trained_net)
    with torch.no_grad():
        damaged.block2.conv2.weight.mul_(0.2)
    out = DistillKD(student="current", **FAST).apply(loaded(damaged), make_ctx(baseline=original))
    assert out.model.module is damaged and _acc(out.model, quadrants) >= 0.9
    with pytest.raises(TechniqueError, match="teacher"):
        DistillKD(student="current").apply(loaded(copy.deepcopy(trained_net)), make_ctx(baseline=None))


def test_unknown_hint_layer_is_named(trained_net, make_ctx):
    teacher = loaded(copy.deepcopy(trained_net))
    with pytest.raises(TechniqueError, match="block2.conv9"):
        DistillKD(student="demo_w4", feature_loss=True, teacher_layer="block2.conv9", **FAST).apply(teacher, make_ctx(baseline=teacher))


def test_last_feature_map_skips_pooled_outputs(trained_net):
    assert last_feature_map(copy.deepcopy(trained_net), torch.randn(2, 3, 16, 16)) == "block2.relu"


def test_arch_swap_trains_the_same_student_without_a_teacher(trained_net, quadrants, make_ctx):
    out = ArchSwap(student="demo_w4", **FAST).apply(loaded(copy.deepcopy(trained_net)), make_ctx())
    assert out.model.arch == "student:demo_w4" and _acc(out.model, quadrants) >= 0.8
    assert "from scratch" in out.summary


def test_cancel_stops_distillation(trained_net, make_ctx):
    token = CancelToken()

    def progress(fraction, message):
        token.cancel()

    teacher = loaded(copy.deepcopy(trained_net))
    with pytest.raises(Cancelled):
        DistillKD(student="demo_w4", **FAST).apply(teacher, make_ctx(baseline=teacher, progress=progress, cancel=token))
