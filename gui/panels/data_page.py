"""Data page: the current dataset's classes, splits and a grid of samples."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListView, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from core.session import Session
from gui.panels.summary import SummaryCard

FIELDS = ("Dataset", "Classes", "Splits", "Input", "Preprocessing", "Problems")
THUMB = 64


def to_pixmap(image: np.ndarray, size: int = THUMB) -> QPixmap:
    """uint8 H×W×3 array -> scaled pixmap (nearest: small digits stay crisp)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = image.shape[:2]
    qimg = QImage(image.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(qimg).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)


class DataPage(QWidget):
    """Summary card and thumbnail grid of ``session.data``."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.summary = SummaryCard("Dataset", FIELDS)
        self.folder_button = QPushButton("Open image folder…")
        self.demo_button = QPushButton("Load demo data")
        buttons = QHBoxLayout()
        buttons.addWidget(self.folder_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMB, THUMB))
        self.grid.setGridSize(QSize(THUMB + 20, THUMB + 26))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setSelectionMode(QListView.SelectionMode.NoSelection)
        self.caption = QLabel("Samples")
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(self.caption)
        layout.addWidget(self.grid, 1)
        self.samples: Sequence[tuple[np.ndarray, str]] = []
        session.subscribe(self._on_change)

    def _on_change(self, name: str) -> None:
        if name == "data":
            self.refresh()

    def set_samples(self, samples: Sequence[tuple[np.ndarray, str]]) -> None:
        self.samples = samples
        self.grid.clear()
        for image, label in samples:
            self.grid.addItem(QListWidgetItem(QIcon(to_pixmap(image)), label))
        self.caption.setText(f"Samples from the validation split ({len(samples)} shown)")

    def refresh(self) -> None:
        data = self.session.data
        if data is None:
            self.summary.clear()
            self.grid.clear()
            return
        s = self.summary
        s.set("Dataset", f"{data.name}  ({data.spec})")
        names = data.class_names
        s.set("Classes", f"{len(names)}: {', '.join(names[:12])}{'…' if len(names) > 12 else ''}")
        sizes = data.sizes()
        s.set("Splits", f"train {sizes['train']:,} · validation {sizes['val']:,} · calibration {sizes['calib']:,}")
        s.set("Input", "×".join(map(str, data.input_shape)))
        p = data.preprocessing
        steps = [f"resize {p.resize}" if p.resize else None, f"centre-crop {p.crop}" if p.crop else None,
                 f"mean {tuple(round(m, 3) for m in p.mean)}", f"std {tuple(round(v, 3) for v in p.std)}"]
        s.set("Preprocessing", f"{p.name}: " + ", ".join(x for x in steps if x))
        s.set("Problems", "\n".join(data.notes) if data.notes else "none found")
