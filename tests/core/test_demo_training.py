"""train-demo writes weights + card that load as the `demo` model; the full run reaches 97 %."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

import core.paths as paths
from core.demo import DEMO_TRAIN_CONFIG, train_demo
from core.jobs import Cancelled, CancelToken
from core.models import load_model


def test_short_training_writes_loadable_demo(tmp_path, monkeypatch):
    reports: list[float] = []
    outcome = train_demo(tmp_path, replace(DEMO_TRAIN_CONFIG, epochs=1), progress=lambda f, m: reports.append(f))
    card = json.loads(outcome.card.read_text())
    assert card["input_shape"] == [3, 32, 32] and len(card["class_names"]) == 10
    assert card["metrics"]["val_accuracy"] == outcome.val_accuracy > 0.1  # one epoch already learns something
    assert reports == sorted(reports) and reports[-1] == 1.0
    monkeypatch.setattr(paths, "DEMO_WEIGHTS", outcome.weights)
    monkeypatch.setattr(paths, "DEMO_CARD", outcome.card)
    model = load_model("demo")
    assert model.num_classes == 10 and model.input_shape == (3, 32, 32)


def test_training_can_be_cancelled(tmp_path):
    token = CancelToken()

    def progress(fraction: float, message: str) -> None:
        if fraction > 0.01:
            token.cancel()

    with pytest.raises(Cancelled):
        train_demo(tmp_path, progress=progress, cancel=token)
    assert not (tmp_path / "demo_resnet.pt").exists()  # nothing half-written


def test_shipped_demo_card_matches_its_claims():
    card = json.loads(paths.DEMO_CARD.read_text())
    assert card["metrics"]["val_accuracy"] >= 0.97
    assert paths.DEMO_WEIGHTS.stat().st_size < 2 * 1024 * 1024


@pytest.mark.slow
def test_full_demo_training_reaches_97_percent(tmp_path):
    outcome = train_demo(tmp_path)
    assert outcome.val_accuracy >= 0.97
    assert outcome.result.seconds < 300
