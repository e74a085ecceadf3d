"""A two-column "label: value" card used at the top of pages."""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QFrame, QLabel, QWidget


class SummaryCard(QFrame):
    def __init__(self, title: str, fields: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        form = QFormLayout(self)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setHorizontalSpacing(14)
        heading = QLabel(f"<b>{title}</b>")
        form.addRow(heading)
        self.values: dict[str, QLabel] = {}
        for name in fields:
            value = QLabel("—")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            self.values[name] = value
            form.addRow(QLabel(f"{name}:"), value)

    def set(self, name: str, text: str) -> None:
        self.values[name].setText(text)

    def clear(self) -> None:
        for v in self.values.values():
            v.setText("—")
