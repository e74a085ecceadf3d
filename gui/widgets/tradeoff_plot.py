"""Accuracy against a cost (file size, latency or MACs) for every run, with the front and a target's budget.

Points are coloured by technique family and shaped by status; the baseline is
a star, the Pareto front a staircase, the region beyond the target's budget and
the band below its accuracy floor are shaded. Everything comes from a
:class:`gui.pages.explore_model.ExploreModel` (which runs, the front, the
ranges): the widget draws, it does not compute. Log scale is done by hand
(log10 of the data, 1-2-5 tick labels, finer on a narrow range) so budget lines
and the front transform the same way as the points. The shaded regions end at
the visible range's edge (a region reaching to "infinity" overflows Qt's
painter on a narrow range and is drawn on the wrong side).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from core import fmt
from core.store.run_summary import AXES, Budgets, RunSummary, run_tooltip
from gui.pages.explore_model import ExploreModel, log_ticks

# Okabe-Ito: tells the families apart for colour-blind users too
FAMILY_COLOURS = {
    "Pruning": "#0072B2", "Quantization": "#E69F00", "Distillation": "#009E73", "Low-rank": "#CC79A7",
    "Fine-tune": "#56B4E9", "Chain": "#D55E00", "Other": "#7f7f7f", "Baseline": "#000000",
}
STATUS_SYMBOLS = {"done": "o", "running": "t1", "cancelled": "x", "interrupted": "d", "failed": "s", "queued": "t1"}
STATUS_WORDS = {"o": "●", "t1": "▲", "x": "✕", "d": "◆", "s": "■"}
BUDGET_COLOUR = QColor(200, 40, 40)


def axis_scale(axis: str, values: Sequence[float]) -> tuple[float, str]:
    """(divisor, label) so the axis reads in a unit that suits the data (KiB or MiB, M or G MACs)."""
    top = max(values, default=0.0)
    if axis == "size":
        return (1 << 20, "MiB") if top >= 4 << 20 else (1 << 10, "KiB")
    if axis == "macs":
        return (1e9, "G") if top >= 4e9 else (1e6, "M")
    return 1.0, "ms"


class TradeoffPlot(QWidget):
    """One scatter plot of accuracy against ``x_axis``; emits the run id of a clicked point."""

    point_clicked = Signal(int)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        self.view = pg.PlotWidget(background="w")
        self.view.setMinimumHeight(200)
        item = self.view.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.18)
        item.setMenuEnabled(False)
        for side in ("left", "bottom"):
            ax = item.getAxis(side)
            ax.setPen(pg.mkPen("#5f6b76"))
            ax.setTextPen(pg.mkPen("#1f2d3a"))
            ax.enableAutoSIPrefix(False)  # the unit is chosen by axis_scale and named in the label
        self.region = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(200, 40, 40, 28), pen=pg.mkPen(None))
        self.region.setZValue(-10)
        self.floor_region = pg.LinearRegionItem(orientation="horizontal", movable=False, brush=pg.mkBrush(200, 40, 40, 14),
                                                pen=pg.mkPen(None))
        self.floor_region.setZValue(-10)
        self.floor_line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(BUDGET_COLOUR, width=1.2, style=Qt.PenStyle.DotLine),
                                          label="", labelOpts={"position": 0.01, "color": BUDGET_COLOUR, "anchors": [(0, 0), (0, 0)]})
        self.budget_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(BUDGET_COLOUR, width=1.5, style=Qt.PenStyle.DashLine),
                                           label="", labelOpts={"position": 0.04, "color": BUDGET_COLOUR, "anchors": [(1, 1), (1, 1)]})
        self.front = pg.PlotCurveItem(pen=pg.mkPen("#1f2d3a", width=1.6, style=Qt.PenStyle.DashLine))
        self.scatter = pg.ScatterPlotItem(hoverable=True, tip=self._tip, hoverSize=16, hoverPen=pg.mkPen("#1f2d3a", width=2))
        self.baseline = pg.ScatterPlotItem(symbol="star", size=20, brush=pg.mkBrush("#ffd400"), pen=pg.mkPen("#1f2d3a", width=1.2),
                                           hoverable=True, tip=self._baseline_tip)
        self.ring = pg.ScatterPlotItem(size=24, brush=pg.mkBrush(None), pen=pg.mkPen("#1f2d3a", width=2.5))
        for it in (self.region, self.budget_line, self.floor_region, self.floor_line):
            item.addItem(it, ignoreBounds=True)  # the view follows the runs; the budget joins it when near them
        for it in (self.front, self.scatter, self.baseline, self.ring):
            item.addItem(it)
        self.scatter.sigClicked.connect(self._clicked)
        self.legend = QLabel()
        self.legend.setObjectName("muted")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.legend)
        self.summaries: list[RunSummary] = []
        self.x_axis, self.log_x, self.scale = "size", False, 1.0
        self.positions: dict[int, tuple[float, float]] = {}
        self.front_xy: list[tuple[float, float]] = []
        self.budget_x: Optional[float] = None  # where the budget line is, in plot units
        self.floor_y: Optional[float] = None  # the accuracy floor, in %
        self.base_points: list = []
        self.view.getPlotItem().getViewBox().sigRangeChanged.connect(lambda *_: self._follow_range())

    # ------------------------------------------------------------------ data

    def _x(self, value: float) -> float:
        v = value / self.scale
        return math.log10(v) if self.log_x else v

    def set_data(self, model: ExploreModel) -> None:
        """Draw the runs ``model`` plots, its front, budgets and floor, over the ranges it computes."""
        x_axis, log_x, budgets = model.state.x_axis, model.state.log_x, model.state.budgets
        self.x_axis, self.log_x = x_axis, log_x
        shown = model.plotted
        bases = [b for b in model.baselines if b.accuracy is not None and b.value(x_axis) is not None
                 and (not log_x or (b.value(x_axis) or 0) > 0)]
        self.scale, unit = axis_scale(x_axis, [s.value(x_axis) for s in shown] + [b.value(x_axis) for b in bases])
        label = f"Latency on {model.state.device} (measured)" if x_axis == "device" else AXES[x_axis][0]
        item = self.view.getPlotItem()
        item.setLabel("bottom", f"{label} ({unit}{', log scale' if log_x else ''})")
        item.setLabel("left", "Top-1 accuracy (%)")
        self.summaries = shown
        self.positions = {s.id: (self._x(s.value(x_axis)), 100 * s.accuracy) for s in shown}
        spots = []
        for s in shown:
            colour = QColor(FAMILY_COLOURS.get(s.family, FAMILY_COLOURS["Other"]))
            symbol = STATUS_SYMBOLS.get(s.status, "o")
            if s.status != "done":
                colour.setAlpha(140)
            pen = pg.mkPen("#1f2d3a", width=2) if s.on_front else pg.mkPen(colour.darker(140), width=1)
            spots.append({"pos": self.positions[s.id], "data": s.id, "brush": pg.mkBrush(colour), "pen": pen,
                          "symbol": symbol, "size": 13 if s.on_front else 11})
        self.scatter.setData(spots)
        self.base_points = bases
        self.baseline.setData([{"pos": (self._x(b.value(x_axis)), 100 * b.accuracy), "data": i} for i, b in enumerate(bases)])
        front = sorted((p for s in shown if s.on_front for p in [self.positions[s.id]]))
        self.front_xy = front
        xs, ys = [], []
        for i, (x, y) in enumerate(front):
            if i:
                xs.append(x)
                ys.append(front[i - 1][1])
            xs.append(x)
            ys.append(y)
        self.front.setData(xs, ys)
        self._draw_budget(budgets)
        floor = model.shown_floor()
        self.floor_y = None if floor is None else 100 * floor
        self._legend(shown, bool(bases), budgets)
        self.ring.setData([])
        vb = item.getViewBox()
        xr, yr = model.x_range(self.scale), model.y_range()
        vb.disableAutoRange()
        if xr is None or yr is None:  # nothing measured yet: an empty frame on the axes' own scale
            vb.setRange(xRange=(0, 1), yRange=(0, 100), padding=0)
        else:
            vb.setRange(xRange=(xr.low, xr.high), yRange=(yr.low, yr.high), padding=0)
        self._follow_range()

    def _follow_range(self) -> None:
        """Fit the shaded regions and the log ticks to what is visible (called on every zoom and pan)."""
        (x0, x1), (y0, y1) = self.view.getPlotItem().getViewBox().viewRange()
        if self.budget_x is not None:
            self.region.setRegion((self.budget_x, max(self.budget_x, x1)))  # beyond the budget, up to the visible edge
        if self.floor_y is not None:
            self.floor_region.setRegion((min(y0, self.floor_y), self.floor_y))  # below the floor
        self.floor_region.setVisible(self.floor_y is not None)
        self.floor_line.setVisible(self.floor_y is not None)
        if self.floor_y is not None:
            self.floor_line.setPos(self.floor_y)
            self.floor_line.label.setFormat(f"accuracy floor {self.floor_y:.2f} %")
        axis = self.view.getPlotItem().getAxis("bottom")
        if self.log_x:
            ticks = log_ticks(x0, x1)
            axis.setTicks([ticks, []] if ticks else None)
        else:
            axis.setTicks(None)

    def visible_ticks(self) -> list[str]:
        """The bottom axis's labels inside the visible range (what a user can read)."""
        axis = self.view.getPlotItem().getAxis("bottom")
        x0, x1 = self.view.getPlotItem().getViewBox().viewRange()[0]
        if axis._tickLevels is not None:  # ticks set by hand (the log axis)
            return [text for level in axis._tickLevels for x, text in level if x0 <= x <= x1 and text]
        levels = axis.tickValues(x0, x1, max(1, axis.width()))
        labels = []
        for spacing, values in levels:
            inside = [v for v in values if x0 <= v <= x1]
            labels += [t for t in axis.tickStrings(inside, axis.scale, spacing) if t]
        return labels

    def _draw_budget(self, budgets: Budgets) -> None:
        """Place the budget line; the region beyond it is fitted to the visible range by :meth:`_follow_range`."""
        limit = budgets.limit(self.x_axis)
        visible = limit is not None and limit > 0
        self.region.setVisible(visible)
        self.budget_line.setVisible(visible)
        self.budget_x = self._x(limit) if visible else None  # type: ignore[arg-type]
        if not visible:
            return
        self.budget_line.setPos(self.budget_x)
        if self.x_axis == "size":
            text = f"size budget: {budgets.label}" if budgets.label else "size budget"
        else:
            text = f"latency budget {limit:g} ms"
        self.budget_line.label.setFormat(text)

    def _legend(self, shown: Sequence[RunSummary], baseline: bool, budgets: Budgets) -> None:
        families = list(dict.fromkeys(s.family for s in shown))
        parts = [f'<span style="color:{FAMILY_COLOURS.get(f, FAMILY_COLOURS["Other"])}; font-size:13pt">●</span> {f}' for f in families]
        if baseline:
            parts.append('<span style="color:#c9a800; font-size:13pt">★</span> baseline')
        if any(s.on_front for s in shown):
            parts.append("<b>- - -</b> Pareto front")
        if budgets.limit(self.x_axis) is not None:
            parts.append('<span style="color:#c82828">▒</span> over budget')
        if self.floor_y is not None:
            parts.append('<span style="color:#c82828">┄</span> floor')
        statuses = sorted({s.status for s in shown if s.status != "done"})
        if statuses:
            parts.append("shapes: ● done, " + ", ".join(f"{STATUS_WORDS.get(STATUS_SYMBOLS.get(st, 'o'), '●')} {st}" for st in statuses))
        self.legend.setText("&nbsp;&nbsp;&nbsp;".join(parts) if parts else "No measured runs to plot yet.")
        self._fit_legend()

    def _fit_legend(self) -> None:
        """Reserve the wrapped legend's height, so a narrow window wraps it below the plot instead of over the axis."""
        self.legend.setMinimumHeight(max(0, self.legend.heightForWidth(max(1, self.width()))))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._fit_legend()

    # ------------------------------------------------------------------ interaction

    def _tip(self, x: float, y: float, data: object) -> str:
        s = next((s for s in self.summaries if s.id == data), None)
        return run_tooltip(s) if s is not None else ""

    def _baseline_tip(self, x: float, y: float, data: object) -> str:
        b = self.base_points[int(data)]  # type: ignore[arg-type]
        return (f"baseline: {b.model_spec}\ntop-1 {100 * b.accuracy:.2f} %\nfile {fmt.size(b.size_bytes)}\n"
                f"MACs {fmt.si(b.macs)}" + ("" if b.latency_ms is None else f"\nlatency {b.latency_ms:.3f} ms"))

    def _clicked(self, _item, points, _ev=None) -> None:
        if len(points):
            self.point_clicked.emit(int(points[0].data()))

    def highlight(self, run_id: Optional[int]) -> None:
        """Ring the point of ``run_id`` (no ring when it is not plotted)."""
        pos = self.positions.get(run_id) if run_id is not None else None
        self.ring.setData([{"pos": pos}] if pos else [])

    def highlighted(self) -> Optional[tuple[float, float]]:
        pts = self.ring.points()
        return (pts[0].pos().x(), pts[0].pos().y()) if len(pts) else None
