"""Training curves: each epoch payload adds a point to the loss and validation-accuracy lines of its step."""

from __future__ import annotations

import numpy as np

from core.app.events import PartialResult, Progress
from gui.widgets.training_curve import TrainingCurve


def epoch(step: int, technique: str, n: int, loss: float, acc: float, epochs: int = 3) -> PartialResult:
    return PartialResult("epoch", {"step": step, "technique": technique, "epoch": n, "epochs": epochs,
                                   "train_loss": loss, "train_accuracy": acc, "val_accuracy": acc, "seconds": 1.0})


def test_epochs_draw_loss_and_accuracy_per_step(qtbot):
    curve = TrainingCurve()
    qtbot.addWidget(curve)
    for event in (epoch(1, "finetune", 1, 0.9, 0.50), Progress(0.5, "epoch 1/3"), epoch(1, "finetune", 2, 0.5, 0.75),
                  PartialResult("step", {}), epoch(2, "distill.kd", 1, 1.2, 0.60)):
        curve.on_event(event)
    loss, accuracy = curve.lines[(1, "finetune")]
    x, y = loss.getData()
    assert x.tolist() == [1.0, 2.0] and y.tolist() == [0.9, 0.5]
    assert np.allclose(accuracy.getData()[1], [50.0, 75.0])  # percent, as everywhere else in the window
    assert len(curve.lines) == 2 and curve.lines[(2, "distill.kd")][0].getData()[1].tolist() == [1.2]
    assert "distill.kd: epoch 1/3" in curve.caption.text() and "60.00 %" in curve.caption.text()
    assert [label.text for _, label in curve.loss.plotItem.legend.items] == ["1. finetune", "2. distill.kd"]


def test_clear_forgets_every_curve(qtbot):
    curve = TrainingCurve()
    qtbot.addWidget(curve)
    curve.add(epoch(1, "finetune", 1, 0.9, 0.5).payload)
    curve.clear()
    assert curve.lines == {} and curve.series == {} and curve.loss.plotItem.legend.items == []
    assert not [i for i in curve.loss.plotItem.listDataItems()]
    curve.add(epoch(1, "qat", 1, 0.4, 0.9).payload)
    assert list(curve.lines) == [(1, "qat")]


def test_weight_tuning_epochs_draw_loss_only_and_never_say_nan(qtbot):
    curve = TrainingCurve()
    qtbot.addWidget(curve)
    for n, loss in ((1, 0.02), (2, 0.015)):
        curve.add(epoch(1, "quantize.qat", n, loss, float("nan")).payload)
    loss, accuracy = curve.lines[(1, "quantize.qat")]
    assert loss.getData()[1].tolist() == [0.02, 0.015]
    assert accuracy.getData()[0] is None or len(accuracy.getData()[0]) == 0
    assert "nan" not in curve.caption.text().lower() and "loss 0.015" in curve.caption.text()
