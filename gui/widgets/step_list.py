"""The recipe's steps as a list: drag to reorder, tick to enable, a mark on a step with a problem."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QStyle, QWidget

UID_ROLE = Qt.ItemDataRole.UserRole + 10


class StepList(QListWidget):
    """Shows a :class:`core.app.recipe_draft.RecipeDraft`; reports drags, ticks and selection by step uid."""

    reordered = Signal(list)  # uids in the new order
    toggled = Signal(int, bool)  # uid, enabled
    selected = Signal(object)  # uid or None

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setSpacing(2)
        self.setIconSize(QSize(16, 16))
        self.setWordWrap(True)
        self.setAlternatingRowColors(False)
        self._filling = False
        self.itemChanged.connect(self._item_changed)
        self.currentItemChanged.connect(lambda cur, prev: self.selected.emit(cur.data(UID_ROLE) if cur else None))

    def show_steps(self, steps, problems: dict[int, str], select: Optional[int] = None) -> None:
        """Refill from ``steps`` (DraftStep list); ``problems`` maps a uid to the text of its first problem."""
        current = select if select is not None else self.current_uid()
        self._filling = True
        self.blockSignals(True)
        try:
            self.clear()
            warn = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
            for i, step in enumerate(steps, start=1):
                info = step.info
                changed = step.changed_values()
                detail = ", ".join(f"{k} {_short(v)}" for k, v in list(changed.items())[:3]) or "defaults"
                item = QListWidgetItem(f"{i}. {info.label}\n{step.technique} · {detail}")
                item.setData(UID_ROLE, step.uid)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsDragEnabled)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsDropEnabled)
                item.setCheckState(Qt.CheckState.Checked if step.enabled else Qt.CheckState.Unchecked)
                tip = f"{info.summary}.\nFamily: {info.family}; {'ONNX' if info.side == 'onnx' else 'PyTorch'}-side."
                if step.uid in problems:
                    item.setIcon(warn)
                    item.setForeground(QBrush(QColor("#b3261e")))
                    tip += f"\n\nProblem: {problems[step.uid]}"
                elif not step.enabled:
                    item.setForeground(QBrush(QColor("#8a949e")))
                    tip += "\n\nDisabled: kept in the recipe but not run."
                item.setToolTip(tip)
                self.addItem(item)
                if step.uid == current:
                    self.setCurrentItem(item)
        finally:
            self.blockSignals(False)
            self._filling = False
        if self.currentItem() is None and self.count():
            self.setCurrentRow(0)
        self.selected.emit(self.current_uid())

    def current_uid(self) -> Optional[int]:
        item = self.currentItem()
        return item.data(UID_ROLE) if item else None

    def uids(self) -> list[int]:
        return [self.item(i).data(UID_ROLE) for i in range(self.count())]

    def _item_changed(self, item: QListWidgetItem) -> None:
        if not self._filling:
            self.toggled.emit(item.data(UID_ROLE), item.checkState() == Qt.CheckState.Checked)

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().dropEvent(event)
        QTimer.singleShot(0, lambda: self.reordered.emit(self.uids()))


def _short(value) -> str:
    if isinstance(value, (list, tuple)):
        return f"[{len(value)}]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
