"""The frameless scroll area every page wraps its long panels in."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QScrollArea, QWidget


def scrolled(widget: QWidget, horizontal: bool = True) -> QScrollArea:
    """``widget`` in a resizable, frameless scroll area (no horizontal bar when ``horizontal`` is False)."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    if not horizontal:
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(widget)
    return scroll


class _HideWhenShort(QObject):
    def __init__(self, page: QWidget, widget: QWidget, min_height: int) -> None:
        super().__init__(page)
        self.widget, self.min_height = widget, min_height
        page.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Resize:
            self.widget.setVisible(watched.height() >= self.min_height)
        return False


def hide_when_short(page: QWidget, widget: QWidget, min_height: int = 640) -> None:
    """Hide ``widget`` (a page's subtitle) while ``page`` is shorter than ``min_height``: the room goes to the work."""
    _HideWhenShort(page, widget, min_height)
