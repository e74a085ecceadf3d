"""Training curves while a step trains: loss and validation accuracy per epoch, one line per training step.

Fed the payloads of ``PartialResult("epoch", {...})`` events (``step``,
``technique``, ``epoch``, ``train_loss``, ``val_accuracy`` as 0..1; ``epochs``,
the planned count, when known) as they arrive; it only draws them.
"""

from __future__ import annotations

from typing import Any, Optional

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from core.app.events import PartialResult

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


class TrainingCurve(QWidget):
    """Two linked plots (loss above, validation accuracy in % below) against the epoch."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.series: dict[tuple[int, str], dict[str, list[float]]] = {}  # (step, technique) -> epoch, loss, accuracy
        self.lines: dict[tuple[int, str], tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        self.caption = QLabel("Training curves appear here while a step trains.")
        self.caption.setObjectName("muted")
        self.loss = pg.PlotWidget()
        self.loss.setLabel("left", "training loss")
        self.loss.showGrid(x=True, y=True, alpha=0.2)
        self.loss.addLegend(offset=(-10, 10))
        self.accuracy = pg.PlotWidget()
        self.accuracy.setLabel("left", "validation top-1 (%)")
        self.accuracy.setLabel("bottom", "epoch")
        self.accuracy.showGrid(x=True, y=True, alpha=0.2)
        self.accuracy.setXLink(self.loss)
        for plot in (self.loss, self.accuracy):
            plot.setMenuEnabled(False)
            plot.getAxis("left").setWidth(60)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.loss, 1)
        layout.addWidget(self.accuracy, 1)

    def on_event(self, event: Any) -> None:
        """A job's event handler: draws ``PartialResult("epoch", …)`` and ignores the rest."""
        if isinstance(event, PartialResult) and event.kind == "epoch":
            self.add(event.payload)

    def add(self, payload: dict) -> None:
        """One finished epoch of one step."""
        key = (int(payload.get("step", 0)), str(payload.get("technique", "training")))
        data = self.series.setdefault(key, {"epoch": [], "loss": [], "accuracy_epoch": [], "accuracy": []})
        data["epoch"].append(float(payload["epoch"]))
        data["loss"].append(float(payload["train_loss"]))
        accuracy = float(payload["val_accuracy"])  # NaN where the step measures no accuracy per epoch (weight tuning)
        if accuracy == accuracy:
            data["accuracy_epoch"].append(float(payload["epoch"]))
            data["accuracy"].append(100.0 * accuracy)
        if key not in self.lines:
            pen = pg.mkPen(COLOURS[len(self.lines) % len(COLOURS)], width=2)
            name = f"{key[0]}. {key[1]}" if "step" in payload else key[1]
            self.lines[key] = (self.loss.plot(pen=pen, symbol="o", symbolSize=5, name=name),
                               self.accuracy.plot(pen=pen, symbol="o", symbolSize=5))
        loss_line, accuracy_line = self.lines[key]
        loss_line.setData(data["epoch"], data["loss"])
        accuracy_line.setData(data["accuracy_epoch"], data["accuracy"])
        planned = payload.get("epochs")
        of = f"/{planned}" if planned else ""
        shown = f", validation top-1 {100 * accuracy:.2f} %" if accuracy == accuracy else ""
        self.caption.setText(f"{key[1]}: epoch {payload['epoch']}{of} — loss {float(payload['train_loss']):.4g}{shown}")
        if planned:
            self.loss.setXRange(1, max(float(planned), 2.0), padding=0.05)

    def has_data(self) -> bool:
        return bool(self.series)

    def clear(self) -> None:
        """Forget every curve (a new run starts)."""
        for loss_line, accuracy_line in self.lines.values():
            self.loss.removeItem(loss_line)
            self.accuracy.removeItem(accuracy_line)
        legend = self.loss.plotItem.legend
        if legend is not None:
            legend.clear()
        self.series.clear()
        self.lines.clear()
        self.caption.setText("Training curves appear here while a step trains.")
