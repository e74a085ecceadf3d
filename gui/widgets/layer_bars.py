"""A horizontal bar per layer (pyqtgraph), most affected at the top, layer names as the y ticks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pyqtgraph as pg
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QWidget

BAR_COLOUR = (90, 143, 200)
MARKED_COLOUR = (196, 69, 60)
TEXT_COLOUR = "#1f2d3a"
ROW_PX = 22  # height per bar the widget asks for, so names never overlap


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    marked: bool = False  # drawn in the warning colour (e.g. the layers a suggestion leaves alone)
    tip: str = ""


class LayerBars(pg.PlotWidget):
    """Bars of ``value`` per layer; ``show`` replaces them. Mouse panning is off: it is a chart to read."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent, background="w")
        self.bars: list[Bar] = []
        self._items: list = []
        item = self.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(x=False, y=False)
        item.showGrid(x=True, y=False, alpha=0.25)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen("#9aa5b1"))
            axis.setTextPen(pg.mkPen(TEXT_COLOUR))
        item.getAxis("left").setStyle(tickTextOffset=6)
        self.setMinimumHeight(160)

    def show_bars(self, bars: Sequence[Bar], x_label: str, line_at: Optional[float] = None) -> None:
        """Draw ``bars`` top to bottom; ``line_at`` adds a dashed vertical line (a threshold)."""
        item = self.getPlotItem()
        for old in self._items:
            item.removeItem(old)
        self._items = []
        self.bars = list(bars)
        n = len(self.bars)
        left = item.getAxis("left")
        if not n:
            left.setTicks([[]])
            return
        ys = [n - 1 - i for i in range(n)]
        values = [b.value for b in self.bars]
        chart = pg.BarGraphItem(
            x0=[min(0.0, v) for v in values], width=[abs(v) for v in values], y=ys, height=0.66,
            brushes=[pg.mkBrush(*(MARKED_COLOUR if b.marked else BAR_COLOUR)) for b in self.bars],
            pens=[pg.mkPen(None)] * n,
        )
        item.addItem(chart)
        self._items.append(chart)
        for y, v in zip(ys, values):  # the number at the end of each bar: the chart reads without the table
            text = pg.TextItem(f"{v:+.2f}" if abs(v) < 10 else f"{v:+.1f}", color=TEXT_COLOUR, anchor=(0 if v >= 0 else 1, 0.5))
            text.setPos(v, y)
            item.addItem(text)
            self._items.append(text)
        if line_at is not None:
            line = pg.InfiniteLine(pos=line_at, angle=90, pen=pg.mkPen(MARKED_COLOUR, width=1, style=pg.QtCore.Qt.PenStyle.DashLine))
            item.addItem(line)
            self._items.append(line)
        left.setTicks([[(y, b.label) for y, b in zip(ys, self.bars)]])
        metrics = QFontMetrics(QFont(left.style.get("tickFont") or self.font()))
        left.setWidth(min(360, max(metrics.horizontalAdvance(b.label) for b in self.bars) + 16))
        item.setLabel("bottom", x_label, color=TEXT_COLOUR)
        lo, hi = min(0.0, *values), max(0.0, *values, line_at or 0.0)
        pad = 0.12 * ((hi - lo) or 1.0)  # room for the numbers
        item.setXRange(lo - (pad if lo < 0 else 0), hi + pad, padding=0)
        item.setYRange(-0.6, n - 0.4, padding=0)
        self.setMinimumHeight(max(160, n * ROW_PX + 60))

    def labels(self) -> list[str]:
        return [b.label for b in self.bars]
