"""What a page shows cut at a window size: buttons and labels narrower than their text, or out of sight.

Shared by the layout tests (``tests/gui/test_layout_*.py``); the idea is the devices dialog's check
(``tests/gui/test_devices_dialog.py``) applied to every widget of a page.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QTableView,
    QWidget,
)

SIZES = ((1024, 640), (1280, 800))
SLACK = 2  # px a word-wrapped label may lose to rounding


def _name(w: QWidget) -> str:
    text = w.text() if hasattr(w, "text") else ""
    return f"{type(w).__name__}({(text or w.objectName() or '?')[:50]!r})"


def _visible_rect(w: QWidget, root: QWidget) -> tuple[QRect, bool]:
    """``w``'s rectangle in ``root``'s coordinates cut by each ancestor, and whether a vertical scroll area is among them.

    A scroll area's viewport cuts what it holds; that is fine vertically (the user scrolls), never horizontally.
    """
    rect = QRect(w.mapTo(root, w.rect().topLeft()), w.size())
    scrolls = False
    parent = w.parentWidget()
    while parent is not None and parent is not root:
        if isinstance(parent.parentWidget(), QScrollArea) and parent.objectName() == "qt_scrollarea_viewport":
            scrolls = True
        box = QRect(parent.mapTo(root, parent.rect().topLeft()), parent.size())
        if scrolls:  # below the fold of a scroll area: only the sides may cut
            box = QRect(box.x(), rect.y(), box.width(), rect.height())
        rect = rect.intersected(box)
        parent = parent.parentWidget()
    return (rect.intersected(root.rect()) if not scrolls else rect), scrolls


def cut_widgets(root: QWidget) -> list[str]:
    """Every button and label shown in ``root`` that is cut: narrower than its text, or partly out of sight;
    every input field (spin box, combo box, line edit, slider) beside the visible area.

    One-line labels and buttons must be as wide as their size hint; word-wrapped labels as tall as their text
    needs at their width. Inside a scroll area a widget may sit below the fold, never beside it; a scroll area
    must not need a horizontal scroll bar.
    """
    QApplication.processEvents()
    problems: list[str] = []
    shown = [w for w in root.findChildren(QAbstractButton) + root.findChildren(QLabel) if w.isVisibleTo(root)]
    for w in shown:
        if isinstance(w, QLabel) and not w.text():
            continue
        if isinstance(w, QLabel) and w.wordWrap():
            need = w.heightForWidth(w.width())
            if need > w.height() + SLACK:
                problems.append(f"{_name(w)} is {w.height()} px tall, its text needs {need}")
        elif hasattr(w, "full"):  # an elided label (gui.job_bar.ElidedLabel) shows what fits, the rest in its tooltip
            pass
        elif w.width() < w.sizeHint().width():
            problems.append(f"{_name(w)} is {w.width()} px wide, its text needs {w.sizeHint().width()}")
        seen, scrolls = _visible_rect(w, root)
        if seen.width() < w.width() or (seen.height() < w.height() and not scrolls):
            problems.append(f"{_name(w)} is partly out of sight ({seen.width()}x{seen.height()} of {w.width()}x{w.height()})")
    fields = [w for kind in (QAbstractSpinBox, QComboBox, QLineEdit, QAbstractSlider) for w in root.findChildren(kind)
              if w.isVisibleTo(root) and not isinstance(w.parentWidget(), (QAbstractSpinBox, QComboBox))]
    for w in fields:
        seen, _ = _visible_rect(w, root)
        if seen.width() < w.width():
            problems.append(f"{type(w).__name__} is partly out of sight ({seen.width()} of {w.width()} px wide)")
    for table in root.findChildren(QTableView):
        if table.isVisibleTo(root) and table.horizontalHeader().length() > table.viewport().width() + SLACK:
            problems.append(f"a table's columns ({table.model().headerData(0, Qt.Orientation.Horizontal)}, …) "
                            f"run past its side: {table.horizontalHeader().length()} of {table.viewport().width()} px")
    for area in root.findChildren(QScrollArea):
        if area.isVisibleTo(root) and area.horizontalScrollBar().isVisible():
            problems.append(f"a scroll area holding {type(area.widget()).__name__} needs a horizontal scroll bar")
    return problems


def show_at(window: QWidget, w: int, h: int) -> None:
    """Resize ``window`` to exactly ``w``×``h`` (as ``gui.app --size`` does) and let the layouts settle."""
    window.setMinimumSize(800, 500)
    window.resize(w, h)
    for _ in range(3):
        QApplication.processEvents()
    assert (window.width(), window.height()) == (w, h), "the window asks for more room than it is given"
