"""finetune: recovers accuracy, can learn from the original model, stops on cancel."""

from __future__ import annotations

import copy

import pytest
import torch

from core.jobs import CancelToken, Cancelled
from core.metrics import evaluate_accuracy
from core.models.exported import ProgramModule
from core.techniques import TechniqueError
from core.techniques.finetune import Finetune, kd_loss
from tests.core.small_models import loaded


def _acc(model, data) -> float:
    return evaluate_accuracy(model, data.loader("val", 64)).top1


def test_finetune_recovers_a_damaged_model(trained_net, quadrants, make_ctx):
    net = copy.deepcopy(trained_net)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p) * p.abs().mean())
    damaged = loaded(net)
    before = _acc(damaged, quadrants)
    out = Finetune(epochs=3, lr=0.05, batch_size=16, augment=False).apply(damaged, make_ctx())
    after = _acc(out.model, quadrants)
    assert after >= max(before, 0.9)
    assert len(out.extra["history"]) == 3
    assert "3 epoch" in out.summary
    import re

    shown = re.search(r"validation accuracy (\d+\.\d\d) %", out.summary)  # in %, as every other figure of the app
    assert shown and abs(float(shown.group(1)) - 100 * out.extra["history"][-1]["val_accuracy"]) <= 0.011


def test_finetune_with_teacher_uses_the_baseline(trained_net, make_ctx):
    teacher = loaded(copy.deepcopy(trained_net))
    student = loaded(copy.deepcopy(trained_net))
    out = Finetune(epochs=1, kd_alpha=0.7, temperature=3.0, batch_size=16).apply(student, make_ctx(baseline=teacher))
    assert "teacher" in out.summary
    with pytest.raises(TechniqueError, match="original PyTorch model"):
        Finetune(kd_alpha=0.5).apply(loaded(copy.deepcopy(trained_net)), make_ctx(baseline=None))


def test_kd_loss_is_cross_entropy_at_alpha_zero_and_zero_for_a_perfect_copy():
    logits = torch.randn(8, 4)
    labels = torch.randint(0, 4, (8,))
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(kd_loss(logits, logits.clone(), labels, 0.0, 4.0), ce)
    assert float(kd_loss(logits, logits.clone(), labels, 1.0, 4.0)) == pytest.approx(0.0, abs=1e-6)


def test_cancel_stops_training_within_a_batch(trained_net, make_ctx):
    token = CancelToken()
    seen = []

    def progress(fraction, message):
        seen.append(fraction)
        if len(seen) == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        Finetune(epochs=5, batch_size=8).apply(loaded(copy.deepcopy(trained_net)), make_ctx(progress=progress, cancel=token))
    assert len(seen) <= 4


def test_an_exported_program_cannot_be_trained(trained_net, make_ctx):
    program = torch.export.export(copy.deepcopy(trained_net).eval(), (torch.randn(2, 3, 16, 16),)).module()
    with pytest.raises(TechniqueError, match="cannot be trained"):
        Finetune().apply(loaded(ProgramModule(program)), make_ctx())
