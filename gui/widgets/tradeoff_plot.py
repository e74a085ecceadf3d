"""Accuracy against a cost (file size, latency or MACs) for every run, with the front and a target's budget.

Points are coloured by technique family and shaped by status; the baseline is
a star, the Pareto front a staircase, and the region beyond the target's
budget is shaded. Everything comes in as :class:`core.store.run_summary`
objects: the widget draws, it does not compute. Log scale is done by hand
(log10 of the data, power-of-ten tick labels) so budget lines and the front
transform the same way as the points.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from core import fmt
from core.store.run_summary import AXES, BaselinePoint, Budgets, RunSummary, run_tooltip

# Okabe-Ito: tells the families apart for colour-blind users too
FAMILY_COLOURS = {
    "Pruning": "#0072B2", "Quantization": "#E69F00", "Distillation": "#009E73", "Low-rank": "#CC79A7",
    "Fine-tune": "#56B4E9", "Chain": "#D55E00", "Other": "#7f7f7f", "Baseline": "#000000",
}
STATUS_SYMBOLS = {"done": "o", "running": "t1", "cancelled": "x", "interrupted": "d", "failed": "s", "queued": "t1"}
STATUS_WORDS = {"o": "●", "t1": "▲", "x": "✕", "d": "◆"}
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
        self.view.setMinimumHeight(240)
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
        self.budget_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(BUDGET_COLOUR, width=1.5, style=Qt.PenStyle.DashLine),
                                           label="", labelOpts={"position": 0.04, "color": BUDGET_COLOUR, "anchors": [(1, 1), (1, 1)]})
        self.front = pg.PlotCurveItem(pen=pg.mkPen("#1f2d3a", width=1.6, style=Qt.PenStyle.DashLine))
        self.scatter = pg.ScatterPlotItem(hoverable=True, tip=self._tip, hoverSize=16, hoverPen=pg.mkPen("#1f2d3a", width=2))
        self.baseline = pg.ScatterPlotItem(symbol="star", size=20, brush=pg.mkBrush("#ffd400"), pen=pg.mkPen("#1f2d3a", width=1.2),
                                           hoverable=True, tip=self._baseline_tip)
        self.ring = pg.ScatterPlotItem(size=24, brush=pg.mkBrush(None), pen=pg.mkPen("#1f2d3a", width=2.5))
        for it in (self.region, self.budget_line):
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

    # ------------------------------------------------------------------ data

    def _x(self, value: float) -> float:
        v = value / self.scale
        return math.log10(v) if self.log_x else v

    def set_data(
        self, summaries: Sequence[RunSummary], baselines: Sequence[BaselinePoint], x_axis: str = "size",
        log_x: bool = False, budgets: Budgets = Budgets(),
    ) -> None:
        self.x_axis, self.log_x = x_axis, log_x
        shown = [s for s in summaries if s.plottable and s.value(x_axis) is not None and (not log_x or s.value(x_axis) > 0)]
        bases = [b for b in baselines if b.accuracy is not None and b.value(x_axis) is not None]
        self.scale, unit = axis_scale(x_axis, [s.value(x_axis) for s in shown] + [b.value(x_axis) for b in bases])
        label, _, _ = AXES[x_axis]
        item = self.view.getPlotItem()
        item.setLabel("bottom", f"{label} ({unit}{', log scale' if log_x else ''})")
        item.setLabel("left", "Top-1 accuracy (%)")
        self.summaries = shown
        self.positions = {s.id: (self._x(s.value(x_axis)), 100 * s.accuracy) for s in shown}
        spots = []
        for s in shown:
            colour = QColor(FAMILY_COLOURS.get(s.family, FAMILY_COLOURS["Other"]))
            symbol = STATUS_SYMBOLS.get(s.status, "o")
            faded = s.status != "done"
            if faded:
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
        self._log_ticks([s.value(x_axis) / self.scale for s in shown] + [b.value(x_axis) / self.scale for b in bases])
        near = self._draw_budget(budgets)
        self._legend(shown, bool(bases), budgets)
        self.ring.setData([])
        item.enableAutoRange()
        xs = [p[0] for p in self.positions.values()] + [self._x(b.value(x_axis)) for b in bases]
        if xs and near is not None:
            item.getViewBox().setXRange(min(xs + [near]), max(xs + [near]), padding=0.06)
        if not xs:  # nothing measured yet: an empty frame on the axes' own scale, not pyqtgraph's 0..1 default
            item.getViewBox().setRange(xRange=(0, 1), yRange=(0, 100), padding=0)

    def _log_ticks(self, values: Sequence[float]) -> None:
        """On a log axis, ticks at 1, 2 and 5 × 10^k labelled with plain numbers (pyqtgraph's own crowd at small ranges)."""
        axis = self.view.getPlotItem().getAxis("bottom")
        values = [v for v in values if v > 0]
        if not self.log_x or not values:
            axis.setTicks(None)
            return
        low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
        major, minor = [], []
        for k in range(low - 1, high + 1):
            for m in (1, 2, 5):
                v = m * 10.0 ** k
                (major if m == 1 else minor).append((math.log10(v), f"{v:g}"))
        if high - low > 2:  # a wide range: decades only, unlabelled 2 and 5 marks
            minor = [(x, "") for x, _ in minor]
        axis.setTicks([major, minor])

    def _draw_budget(self, budgets: Budgets) -> Optional[float]:
        """Draw the budget line and shade beyond it; return its x when it lies near the runs (to keep it in view)."""
        limit = budgets.limit(self.x_axis)
        visible = limit is not None and limit > 0
        self.region.setVisible(visible)
        self.budget_line.setVisible(visible)
        if not visible:
            return None
        x = self._x(limit)
        self.region.setRegion((x, x + 1e6))
        self.budget_line.setPos(x)
        if self.x_axis == "size":
            text = f"size budget: {budgets.label}" if budgets.label else "size budget"
        else:
            text = f"latency budget {limit:g} ms"
        self.budget_line.label.setFormat(text)
        values = [s.value(self.x_axis) for s in self.summaries]
        if values and min(values) / 4 <= limit <= max(values) * 4:
            return x
        return None

    def _legend(self, shown: Sequence[RunSummary], baseline: bool, budgets: Budgets) -> None:
        families = list(dict.fromkeys(s.family for s in shown))
        parts = [f'<span style="color:{FAMILY_COLOURS.get(f, FAMILY_COLOURS["Other"])}; font-size:13pt">●</span> {f}' for f in families]
        if baseline:
            parts.append('<span style="color:#c9a800; font-size:13pt">★</span> baseline')
        if any(s.on_front for s in shown):
            parts.append("<b>- - -</b> Pareto front (outlined points)")
        if budgets.limit(self.x_axis) is not None:
            parts.append('<span style="color:#c82828">▒</span> over the budget')
        statuses = sorted({s.status for s in shown if s.status != "done"})
        if statuses:
            parts.append("shapes: ● done, " + ", ".join(f"{STATUS_WORDS.get(STATUS_SYMBOLS.get(st, 'o'), '●')} {st}" for st in statuses))
        self.legend.setText("&nbsp;&nbsp;&nbsp;".join(parts) if parts else "No measured runs to plot yet.")

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
