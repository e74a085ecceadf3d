"""The frameless scroll area every page wraps its long panels in."""

from __future__ import annotations

from PySide6.QtCore import Qt
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
