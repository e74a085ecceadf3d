"""A sortable, filterable read-only table with numeric sorting and inline share bars."""

from __future__ import annotations

from typing import Any, Sequence

import shiboken6
from PySide6.QtCore import QEvent, QModelIndex, QRect, QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QHeaderView,
    QLineEdit,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
BAR_ROLE = Qt.ItemDataRole.UserRole + 2


class ShareBarDelegate(QStyledItemDelegate):
    """Draws a horizontal bar for the 0..1 value stored under ``BAR_ROLE`` (its length), then the text."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        share = index.data(BAR_ROLE)
        if isinstance(share, (int, float)) and share > 0:
            r: QRect = option.rect.adjusted(3, 4, -3, -4)
            painter.save()
            painter.fillRect(QRect(r.left(), r.top(), max(1, int(r.width() * min(share, 1.0))), r.height()), QColor(90, 160, 230, 150))
            painter.restore()
        super().paint(painter, option, index)


class DataTable(QWidget):
    """A filter box over a sortable table; rows are lists of (text, sort key) pairs."""

    def __init__(self, headers: Sequence[str], bar_column: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.headers = list(headers)
        self.model = QStandardItemModel(0, len(headers), self)
        self.model.setHorizontalHeaderLabels(self.headers)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter = QLineEdit(placeholderText="Filter rows (name, type, …)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.horizontalHeader().setStretchLastSection(False)  # fit_columns gives the last column what is left
        if bar_column is not None:
            self.view.setItemDelegateForColumn(bar_column, ShareBarDelegate(self.view))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter)
        layout.addWidget(self.view)
        self._wanted: list[int] = []  # the columns' widths for their contents (fit_columns shares out the room)
        self.view.viewport().installEventFilter(self)

    def set_rows(self, rows: Sequence[Sequence[tuple[str, Any]]], bars: Sequence[float] | None = None, bar_column: int | None = None) -> None:
        self.view.setSortingEnabled(False)
        self.model.removeRows(0, self.model.rowCount())
        for i, row in enumerate(rows):
            items = []
            for col, (text, key) in enumerate(row):
                item = QStandardItem(text)
                item.setData(key, SORT_ROLE)
                if isinstance(key, (int, float)):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if bars is not None and col == bar_column:
                    item.setData(bars[i], BAR_ROLE)
                items.append(item)
            self.model.appendRow(items)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.resizeColumnsToContents()
        self._wanted = []  # taken at the next turn of the event loop: after the page's own width caps
        QTimer.singleShot(0, self, self.fit_columns)  # with self as context: dropped if the table is deleted first

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Resize and watched is self.view.viewport():
            self.fit_columns()
        return False

    def fit_columns(self) -> None:
        """Columns as wide as their contents while they fit, narrower in proportion when not (never a sideways
        bar); the last column takes what is left."""
        if not shiboken6.isValid(self.view):  # the dialog holding the table closed before this turn of the loop
            return
        header = self.view.horizontalHeader()
        if not self._wanted:  # contents' widths, within any cap the page set after set_rows
            self._wanted = [min(self.view.columnWidth(c), max(self.view.sizeHintForColumn(c), header.sectionSizeHint(c)))
                            for c in range(self.model.columnCount())]
        wanted = self._wanted
        room = self.view.viewport().width()
        if not wanted or room <= 0:
            return
        floor = header.minimumSectionSize()
        scale = min(1.0, room / max(sum(wanted), 1))
        widths = [max(floor, int(w * scale)) for w in wanted]
        widths[-1] = max(floor, room - sum(widths[:-1]))
        for col, width in enumerate(widths):
            header.resizeSection(col, width)

    def row_count(self) -> int:
        return self.proxy.rowCount()
