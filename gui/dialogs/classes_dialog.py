"""Per-class accuracy of a run before and after compression: a table by change, a confusion heat map, the changed images.

The comparison is the core service :mod:`core.app.compare_classes`, run off the
GUI thread through the window's job controller; this dialog only draws what
comes back (:class:`core.metrics.per_class.PerClassComparison`).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.app.events import Done, Failed, Progress
from gui.jobs.controller import InThread
from gui.widgets.table import DataTable

THUMB = 56  # pixels of a changed image in the strip
MAX_COUNTED = 15  # classes up to which every cell shows its count
MATRICES = ("after", "before", "after − before")


def _pct(v: Optional[float]) -> tuple[str, float]:
    return ("—", -1.0) if v is None else (f"{100 * v:.2f} %", 100 * v)


class ConfusionView(QWidget):
    """A confusion matrix as a heat map (rows: true class, columns: predicted), with a choice of which matrix."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.result: Any = None
        self.which = QComboBox()
        self.which.addItems([f"Confusion: {m}" for m in MATRICES])
        self.which.currentIndexChanged.connect(lambda _i: self._draw())
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.setLabel("left", "true class")
        self.plot.setLabel("bottom", "predicted class")
        self.plot.setMenuEnabled(False)
        self.plot.getAxis("left").setWidth(56)  # room for the class names and the axis title
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.counts: list[pg.TextItem] = []  # the number in each non-empty cell, for matrices small enough to read
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.which)
        layout.addWidget(self.plot, 1)

    def show_result(self, result: Any) -> None:
        self.result = result
        names = result.class_names
        ticks = [[(i + 0.5, n) for i, n in enumerate(names)]] if len(names) <= 20 else None
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setTicks(ticks)
        self._draw()

    def matrix(self) -> np.ndarray:
        """The matrix on screen (counts; the difference may be negative)."""
        r, i = self.result, self.which.currentIndex()
        if i == 0:
            return r.confusion_after
        if i == 1:
            return r.confusion_before
        return r.confusion_after.astype(np.int64) - r.confusion_before.astype(np.int64)

    def _draw(self) -> None:
        if self.result is None:
            return
        m = self.matrix().astype(np.float64)
        if self.which.currentIndex() == 2:
            span = max(1.0, float(np.abs(m).max()))
            self.image.setColorMap(pg.colormap.get("CET-D1"))
            self.image.setImage(m, levels=(-span, span))
        else:
            self.image.setColorMap(pg.colormap.get("viridis"))
            self.image.setImage(np.log1p(m), levels=(0.0, max(1e-9, float(np.log1p(m).max()))))  # log: the diagonal dwarfs errors
        k = m.shape[0]
        self.image.setRect(0, 0, k, k)
        for item in self.counts:
            self.plot.removeItem(item)
        self.counts = []
        if k <= MAX_COUNTED:
            for (row, col), value in np.ndenumerate(m):
                if value:
                    text = pg.TextItem(f"{value:+.0f}" if self.which.currentIndex() == 2 else f"{value:.0f}",
                                       color="w", anchor=(0.5, 0.5))
                    text.setPos(col + 0.5, row + 0.5)
                    self.plot.addItem(text)
                    self.counts.append(text)
        self.plot.setRange(xRange=(0, k), yRange=(0, k), padding=0.02)


class ChangedStrip(QListWidget):
    """The validation images whose prediction changed: picture, true class, before → after."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 70, THUMB + 40))
        self.setMovement(QListWidget.Movement.Static)
        self.setFixedHeight(THUMB + 62)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)

    def show_result(self, result: Any) -> None:
        self.clear()
        names = result.class_names
        for c in result.changed:
            picture = result.thumbnails.get(c.index)
            if picture is None:
                continue  # only the first images come with pictures; the table and CLI count them all
            item = QListWidgetItem(_icon(picture), f"true {names[c.label]}\n{names[c.before]} → {names[c.after]}")
            verdict = "fixed" if c.fixed else "broken" if c.broken else "still wrong"
            item.setToolTip(f"validation image {c.index}: true {names[c.label]}, "
                            f"before {names[c.before]}, after {names[c.after]} ({verdict})")
            item.setData(Qt.ItemDataRole.UserRole, c.index)
            self.addItem(item)


def _icon(picture: np.ndarray) -> QIcon:
    img = np.ascontiguousarray(picture)
    h, w = img.shape[:2]
    qimg = QImage(img.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QIcon(QPixmap.fromImage(qimg).scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.FastTransformation))


class ClassesDialog(QDialog):
    """``ClassesDialog(window, run_id)``: starts the comparison on ``window.jobs`` and draws it when it arrives."""

    def __init__(self, window: Any, run_id: int, *, start: bool = True) -> None:
        super().__init__(window)
        self.window_, self.run_id = window, run_id
        self.result: Any = None
        self.job = None
        self.setWindowTitle(f"Run #{run_id} — per-class accuracy before and after")
        self.resize(980, 600)
        self.summary = QLabel("Comparing the baseline and the compressed model on every validation image…")
        self.summary.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.table = DataTable(["class", "images", "before", "after", "Δ pt"])
        self.table.filter.setPlaceholderText("Filter classes")
        self.confusion = ConfusionView()
        self.strip = ChangedStrip()
        self.strip_label = QLabel("Images that changed prediction")
        self.strip_label.setObjectName("muted")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.confusion)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        self.split = split
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.bar)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addWidget(self.strip_label)
        layout.addWidget(self.strip)
        layout.addWidget(buttons)
        if start:
            self.start()

    def start(self) -> None:
        """Ask the window's job controller for the comparison (a pool thread; Cancel on close)."""
        from core.app.compare_classes import CompareClassesRequest, compare_classes

        request = CompareClassesRequest(self.run_id, self.window_.workspace.path)
        self.job = self.window_.jobs.start(InThread(lambda emit, cancel: compare_classes(request, emit, cancel)),
                                           self.on_event, title=f"per-class accuracy of run #{self.run_id}",
                                           kind="classes")

    def on_event(self, event: Any) -> None:
        if isinstance(event, Progress):
            self.bar.setValue(int(1000 * event.fraction))
            self.summary.setText(f"{event.message[:1].upper()}{event.message[1:]}…")
        elif isinstance(event, Done):
            self.show_result(event.result)
        elif isinstance(event, Failed):
            self.bar.hide()
            error = event.error
            text = "Cancelled." if event.cancelled else (error.for_app() if hasattr(error, "for_app") else str(error))
            self.summary.setText(text)
            self.summary.setStyleSheet("" if event.cancelled else "color: #b3261e")

    def show_result(self, result: Any) -> None:
        """Draw a :class:`core.metrics.per_class.PerClassComparison`."""
        self.result = result
        self.bar.hide()
        rows = result.rows_by_delta()
        self.table.set_rows([[(r.name, r.index), (str(r.count), r.count), _pct(r.before), _pct(r.after),
                              ("—" if r.delta is None else f"{r.delta:+.2f}", -1e9 if r.delta is None else r.delta)]
                             for r in rows])
        self.table.view.sortByColumn(4, Qt.SortOrder.AscendingOrder)  # the classes that lost most first
        view = self.table.view
        needed = sum(view.columnWidth(c) for c in range(5)) + view.verticalScrollBar().sizeHint().width() + 8
        self.table.setMinimumWidth(min(needed, 460))  # every column in sight, Δ included
        self.confusion.show_result(result)
        self.strip.show_result(result)
        shown, total = self.strip.count(), len(result.changed)
        self.summary.setText(f"Top-1 {100 * result.top1_before:.2f} % → {100 * result.top1_after:.2f} % on "
                             f"{result.n} validation images; {total} changed prediction.")
        self.strip_label.setText("No image changed prediction." if not total else
                                 f"Images that changed prediction ({shown} of {total} shown; hover for details)")

    def done(self, code: int) -> None:  # closing stops a comparison still running
        if self.job is not None and not self.job.ended:
            self.job.cancel()
        super().done(code)
