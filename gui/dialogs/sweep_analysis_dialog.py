"""A sweep's trials as parallel coordinates, and how much each swept setting mattered (optuna's parameter importance).

Opened from the Explore page ("Analyse sweep…"). What is drawn comes from the
Qt-free :class:`gui.pages.sweep_analysis_model.SweepAnalysisModel` over core's
:func:`core.app.sweep_analysis.analyse_sweep` (the numbers ``edgeslim-cli
sweep-analysis`` prints); the widgets here only draw them.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.pages.sweep_analysis_model import Axis, Bar, Line, SweepAnalysisModel

TEXT_COLOUR = "#1f2d3a"
AXIS_COLOUR = "#5f6b76"
BAR_COLOUR = (90, 143, 200)
COLOURS = pg.colormap.get("plasma")
SHADE_TOP = 0.82  # plasma beyond this is too pale to read on white
ROW_PX = 26


def shade_colour(shade: float) -> QColor:
    """Dark blue for the sweep's worst objective value, orange for its best."""
    return COLOURS.map(SHADE_TOP * max(0.0, min(1.0, shade)), mode="qcolor")


def _quiet(plot: pg.PlotWidget) -> pg.PlotItem:
    item = plot.getPlotItem()
    item.setMenuEnabled(False)
    item.hideButtons()
    item.setMouseEnabled(x=False, y=False)
    return item


class ParallelCoordinates(pg.PlotWidget):
    """One vertical axis per swept setting plus the objective; each trial a polyline across them."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent, background="w")
        item = _quiet(self)
        item.hideAxis("left")
        item.hideAxis("bottom")
        self.curves: list[pg.PlotCurveItem] = []  # one per trial drawn
        self.titles: list[pg.TextItem] = []
        self._items: list = []
        self.setMinimumHeight(220)

    def show_lines(self, axes: Sequence[Axis], lines: Sequence[Line]) -> None:
        item = self.getPlotItem()
        for old in self._items:
            item.removeItem(old)
        self._items, self.curves, self.titles = [], [], []
        xs = list(range(len(axes)))
        for line in sorted(lines, key=lambda l: l.shade):  # the best on top
            curve = pg.PlotCurveItem(xs, list(line.ys), pen=pg.mkPen(shade_colour(line.shade), width=2))
            curve.setToolTip(line.tip)
            self._add(curve)
            self.curves.append(curve)
        bold = QFont(self.font())
        bold.setBold(True)
        for x, axis in enumerate(axes):
            self._add(pg.PlotCurveItem([x, x], [0, 1], pen=pg.mkPen(AXIS_COLOUR, width=1.5)))
            for y, text in axis.ticks:
                label = pg.TextItem(text, color=TEXT_COLOUR, anchor=(-0.05, 0.5), fill=pg.mkBrush(255, 255, 255, 200))
                label.setPos(x, y)
                self._add(label)
                self._add(pg.PlotCurveItem([x - 0.015, x], [y, y], pen=pg.mkPen(AXIS_COLOUR, width=1.5)))
            title = pg.TextItem(axis.title, color=TEXT_COLOUR, anchor=(0.5 if 0 < x < len(axes) - 1 else (0 if x == 0 else 1), 1.2))
            title.setFont(bold)
            title.setToolTip(axis.full)
            title.setPos(x, 1.0)
            self._add(title)
            self.titles.append(title)
        item.setXRange(-0.08, max(1, len(axes) - 1) + 0.35, padding=0)  # room right of the last axis for its labels
        item.setYRange(-0.06, 1.14, padding=0)

    def _add(self, graphic) -> None:
        self.getPlotItem().addItem(graphic)
        self._items.append(graphic)


class ImportanceBars(pg.PlotWidget):
    """A horizontal bar per swept setting: its share of the importance, largest at the top, the number at its end."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent, background="w")
        item = _quiet(self)
        item.showGrid(x=True, y=False, alpha=0.25)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen("#9aa5b1"))
            axis.setTextPen(pg.mkPen(TEXT_COLOUR))
        item.setLabel("bottom", "share of importance", color=TEXT_COLOUR)
        self.chart: Optional[pg.BarGraphItem] = None
        self.bars: list[Bar] = []
        self._items: list = []
        self.setMinimumHeight(120)

    def show_bars(self, bars: Sequence[Bar]) -> None:
        item = self.getPlotItem()
        for old in self._items:
            item.removeItem(old)
        self._items, self.bars, self.chart = [], list(bars), None
        left = item.getAxis("left")
        n = len(self.bars)
        if not n:
            left.setTicks([[]])
            return
        ys = [n - 1 - i for i in range(n)]
        self.chart = pg.BarGraphItem(x0=[0.0] * n, width=[b.share for b in self.bars], y=ys, height=0.6,
                                     brushes=[pg.mkBrush(*BAR_COLOUR)] * n, pens=[pg.mkPen(None)] * n)
        self._items.append(self.chart)
        item.addItem(self.chart)
        for y, b in zip(ys, self.bars):
            text = pg.TextItem(f"{b.share:.2f}", color=TEXT_COLOUR, anchor=(-0.1, 0.5))
            text.setPos(b.share, y)
            item.addItem(text)
            self._items.append(text)
        left.setTicks([[(y, b.label) for y, b in zip(ys, self.bars)]])
        metrics = QFontMetrics(self.font())
        left.setWidth(min(320, max(metrics.horizontalAdvance(b.label) for b in self.bars) + 18))
        item.setXRange(0, 1.12, padding=0)
        item.setYRange(-0.6, n - 0.4, padding=0)
        self.setMinimumHeight(max(120, n * ROW_PX + 60))

    def widths(self) -> list[float]:
        """The drawn bar lengths, top to bottom."""
        return [float(w) for w in self.chart.opts["width"]] if self.chart is not None else []


class SweepAnalysisDialog(QDialog):
    """Pick a sweep and an objective; see the trials across their settings and which setting mattered."""

    def __init__(self, workspace: Any, sweeps: Sequence[int], parent: Optional[QWidget] = None, jobs: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sweep analysis")
        self.model = SweepAnalysisModel(workspace, sweeps)
        self.jobs, self.job = jobs, None  # with the window's job controller the analysis runs on a pool thread
        self.sweep_combo = QComboBox()
        for sweep_id in reversed(self.model.sweeps):  # newest first
            self.sweep_combo.addItem(self.model.sweep_label(sweep_id), sweep_id)
        self.sweep_combo.setEnabled(self.sweep_combo.count() > 1)
        self.sweep_combo.setToolTip("The sweep whose finished trials are analysed")
        self.objective_combo = QComboBox()
        for key, label in self.model.objectives():
            self.objective_combo.addItem(label, key)
        self.objective_combo.setToolTip("What colours the lines, forms the last axis and what the importances explain")
        top = QHBoxLayout()
        top.addWidget(QLabel("Sweep"))
        top.addWidget(self.sweep_combo, 1)
        top.addSpacing(12)
        top.addWidget(QLabel("Objective"))
        top.addWidget(self.objective_combo, 1)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.lines_view = ParallelCoordinates()
        self.bars_title = QLabel()
        self.bars_title.setObjectName("sectionTitle")
        self.bars_view = ImportanceBars()
        self.note = QLabel()
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        lower = QWidget()
        ll = QVBoxLayout(lower)
        ll.setContentsMargins(0, 4, 0, 0)
        ll.addWidget(self.bars_title)
        ll.addWidget(self.bars_view, 1)
        ll.addWidget(self.note)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.lines_view)
        split.addWidget(lower)
        split.setChildrenCollapsible(False)
        split.setSizes([420, 220])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.caption)
        layout.addWidget(split, 1)
        layout.addWidget(buttons)
        window = parent.window() if parent is not None else None
        self.resize(int(window.width() * 0.92), int(window.height() * 0.92)) if window is not None else self.resize(1000, 680)
        self.sweep_combo.currentIndexChanged.connect(lambda _: self._redraw(sweep_id=self.sweep_combo.currentData()))
        self.objective_combo.currentIndexChanged.connect(lambda _: self._redraw(objective=self.objective_combo.currentData()))
        self._redraw(sweep_id=self.sweep_combo.currentData())

    def _redraw(self, **choice) -> None:
        self.model.choose(**choice)
        sweep_id = self.model.pending()
        if self.jobs is not None and sweep_id is not None:
            self._analyse(sweep_id)
            return
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # the first analysis imports optuna (about a second)
        try:
            m = self.model
            lines = m.lines()
            worst, best = m.legend()
            self.caption.setText(f"{m.caption()} Colour: <span style='color:{shade_colour(0).name()}'>■</span> {worst} "
                                 f"→ <span style='color:{shade_colour(1).name()}'>■</span> {best}")
            self.lines_view.show_lines(m.axes(), lines)
            self.bars_title.setText(f"Parameter importance for {m.objective}")
            self.bars_view.show_bars(m.bars())
            self.bars_view.setVisible(bool(m.bars()))
            self.note.setText(m.importance_note())
        finally:
            QApplication.restoreOverrideCursor()

    def _analyse(self, sweep_id: int) -> None:
        """Compute the chosen sweep's analysis on a pool thread (the first one imports optuna), then draw it."""
        from core.app.events import Done, Failed
        from core.app.sweep_analysis import analyse_stored_sweep
        from gui.jobs.controller import InThread

        path = self.model.workspace.path
        self.caption.setText(f"Analysing sweep #{sweep_id}…")
        self.lines_view.show_lines([], [])
        self.bars_view.show_bars([])
        self.note.setText("")

        def on_event(event: Any) -> None:
            if isinstance(event, Done):
                self.model.store(sweep_id, event.result)
                if self.model.sweep_id == sweep_id:
                    self._redraw()
            elif isinstance(event, Failed) and not event.cancelled:
                error = event.error
                self.caption.setText(error.for_app() if hasattr(error, "for_app") else str(error))

        self.job = self.jobs.start(InThread(lambda emit, cancel: analyse_stored_sweep(path, sweep_id)), on_event,
                                   title=f"analysing sweep #{sweep_id}", kind="sweep-analysis")

    def done(self, code: int) -> None:  # closing stops an analysis still running
        if self.job is not None and not self.job.ended:
            self.job.cancel()
        super().done(code)
