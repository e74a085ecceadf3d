"""Data page: the current dataset's classes, splits, preprocessing, problems and a grid of samples."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.app.session import Session
from gui.panels.summary import SummaryCard
from gui.style import ERROR_COLOUR
from gui.widgets.table import DataTable

FIELDS = ("Dataset", "Classes", "Splits", "Input", "Preprocessing", "Labels", "Model fit", "Problems")
LABELS_FILTER = "Labels files (*.txt *.csv *.tsv *.json);;All files (*)"
THUMB = 64
TORCHVISION_KINDS = (("CIFAR-10", "cifar10"), ("MNIST", "mnist"), ("Fashion-MNIST", "fashionmnist"))


def to_pixmap(image: np.ndarray, size: int = THUMB) -> QPixmap:
    """uint8 H×W×3 array -> scaled pixmap (nearest: small digits stay crisp)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = image.shape[:2]
    qimg = QImage(image.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(qimg).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)


class TorchvisionDataDialog(QDialog):
    """Pick a local torchvision dataset: its kind and the folder holding its files (never downloaded)."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open a local torchvision dataset")
        self.kind = QComboBox()
        for label, kind in TORCHVISION_KINDS:
            self.kind.addItem(label, kind)
        self.path = QLineEdit(placeholderText="folder holding the dataset's files")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        note = QLabel("EdgeSlim never downloads: point at files already on disk (e.g. the folder that holds "
                      "<code>cifar-10-batches-py</code> or <code>MNIST/raw</code>).")
        note.setWordWrap(True)
        note.setObjectName("muted")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Dataset:", self.kind)
        form.addRow("Folder:", row)
        form.addRow(note)
        form.addRow(buttons)
        self.resize(520, 180)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder with the dataset's files")
        if path:
            self.path.setText(path)

    def spec(self) -> Optional[str]:
        path = self.path.text().strip()
        return f"{self.kind.currentData()}:{path}" if path else None


class DataPage(QWidget):
    """Summary card, class counts and thumbnail grid of ``session.data``."""

    dataset_requested = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        title = QLabel("Data")
        title.setObjectName("pageTitle")
        self.summary = SummaryCard("Dataset", FIELDS)
        self.folder_button = QPushButton("Open image folder…")
        self.folder_button.setToolTip("A folder with one sub-folder per class (or train/ and val/ sub-folders of that shape)")
        self.torchvision_button = QPushButton("torchvision dataset…")
        self.torchvision_button.setToolTip("CIFAR-10, MNIST or Fashion-MNIST files already on disk")
        self.torchvision_button.clicked.connect(self.pick_torchvision)
        self.demo_button = QPushButton("Load demo data")
        buttons = QHBoxLayout()
        buttons.addWidget(self.folder_button)
        buttons.addWidget(self.torchvision_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)
        fit_controls = self._build_fit_controls()
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMB, THUMB))
        self.grid.setGridSize(QSize(THUMB + 20, THUMB + 26))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setSelectionMode(QListView.SelectionMode.NoSelection)
        self.caption = QLabel("<b>Samples</b>")
        self.counts = DataTable(("Class", "Train", "Validation", "Calibration", "Total"))
        self.counts.filter.setPlaceholderText("Filter classes")
        self.counts_caption = QLabel("<b>Images per class</b>")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.caption)
        ll.addWidget(self.grid, 1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.counts_caption)
        rl.addWidget(self.counts, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(buttons)
        layout.addLayout(fit_controls)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)
        self.samples: Sequence[tuple[np.ndarray, str]] = []
        session.subscribe(self._on_change)

    def _build_fit_controls(self) -> QHBoxLayout:
        """Preprocessing, image size and labels file: what makes a dataset fit a model's input and outputs."""
        self.preprocessing = QComboBox()
        self.preprocessing.setToolTip("How images become the model's input (resize, crop, mean and std); "
                                      "pick the one the model was trained with — the dataset reloads")
        self.preprocessing.setEnabled(False)
        self.preprocessing.activated.connect(self.apply_preprocessing)
        self.image_size = QSpinBox()
        self.image_size.setRange(0, 4096)
        self.image_size.setSpecialValueText("preset")
        self.image_size.setSuffix(" px")
        self.image_size.setToolTip("Resize and centre-crop the images of an image folder to this size "
                                   "(\"preset\": the preprocessing preset's size, 224 for ImageNet); the folder reloads")
        self._size_timer = QTimer(self, singleShot=True, interval=600)
        self._size_timer.timeout.connect(self.apply_image_size)
        self.image_size.valueChanged.connect(lambda v: self._size_timer.start())
        self.labels_button = QPushButton("Labels file…")
        self.labels_button.setToolTip("Map class folders onto the model's outputs: `folder,index` lines, or one class name "
                                      "per line in output order (folders holding some of an ImageNet model's classes)")
        self.labels_button.clicked.connect(self.pick_labels)
        self.clear_labels_button = QPushButton("No labels file")
        self.clear_labels_button.setToolTip("Use the class folders as the model's outputs again")
        self.clear_labels_button.clicked.connect(lambda: self.session.set_labels(None))
        self.clear_labels_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(QLabel("Preprocessing:"))
        row.addWidget(self.preprocessing)
        row.addWidget(QLabel("Image size:"))
        row.addWidget(self.image_size)
        row.addWidget(self.labels_button)
        row.addWidget(self.clear_labels_button)
        row.addStretch(1)
        return row

    def apply_preprocessing(self) -> None:
        """Reload the current dataset with the preset picked in the Preprocessing box."""
        spec = self.session.set_preprocessing(self.preprocessing.currentData())
        if spec:
            self.dataset_requested.emit(spec)

    def apply_image_size(self) -> None:
        """Reload the current image folder at the size in the Image size box."""
        self._size_timer.stop()
        spec = self.session.set_image_size(self.image_size.value() or None)
        if spec:
            self.dataset_requested.emit(spec)

    def _show_preprocessing_choices(self) -> None:
        """The presets the loaded dataset accepts, the one in use selected; one choice only: nothing to pick."""
        box, data = self.preprocessing, self.session.data
        box.blockSignals(True)
        box.clear()
        for name, words in self.session.preprocessing_choices():
            box.addItem(name, name)
            box.setItemData(box.count() - 1, words, Qt.ItemDataRole.ToolTipRole)
        if data is not None:
            box.setCurrentIndex(max(0, box.findData(data.preprocessing.name)))
        box.setEnabled(box.count() > 1)
        box.blockSignals(False)
        self.image_size.setEnabled(self.session.image_size_applies())

    def pick_labels(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Labels file: class folder -> model output", "", LABELS_FILTER)
        if path:
            self.session.set_labels(path)

    def pick_torchvision(self) -> None:
        dialog = TorchvisionDataDialog(self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.spec():
            self.dataset_requested.emit(dialog.spec())

    def _on_change(self, name: str) -> None:
        if name == "data":
            self.refresh()
            self._show_preprocessing_choices()
        if name in ("model", "data", "labels"):
            self.refresh_fit()

    def refresh_fit(self) -> None:
        """The labels file in use and whether the data fits the model, with the fix in this window's words."""
        s, model = self.session, self.session.model
        self.summary.set("Labels", Path(s.labels).name if s.labels else "none (class folders are the model's outputs)")
        self.clear_labels_button.setEnabled(bool(s.labels))
        if s.mismatches:
            text = s.mismatch_text()
            self.summary.values["Model fit"].setText(f"<span style='color:{ERROR_COLOUR}'>{escape(text)}</span>")
            self.summary.values["Model fit"].setToolTip(text)
            return
        self.summary.values["Model fit"].setToolTip("")
        data = s.fitted_data
        if model is None or data is None:
            self.summary.set("Model fit", "load a model to check" if model is None and s.data is not None else "—")
            return
        mapped = f"; {data.label_map.note()}" if data.label_map is not None else ""
        self.summary.set("Model fit", f"fits {model.name}: {'×'.join(map(str, data.input_shape))} input, "
                                      f"{data.num_classes} outputs{mapped}")

    def set_samples(self, samples: Sequence[tuple[np.ndarray, str]], counts: Optional[dict] = None) -> None:
        self.samples = samples
        self.grid.clear()
        for image, label in samples:
            self.grid.addItem(QListWidgetItem(QIcon(to_pixmap(image)), label))
        self.caption.setText(f"<b>Samples</b> from the validation split ({len(samples)} shown)")
        self.set_counts(counts or {})

    def set_counts(self, counts: dict) -> None:
        rows = [[(name, name), *((f"{n:,}", n) for n in c), (f"{sum(c):,}", sum(c))] for name, c in counts.items()]
        self.counts.set_rows(rows)
        self.counts_caption.setText(f"<b>Images per class</b> ({len(rows)} classes)" if rows else "<b>Images per class</b>")

    def show_failure(self, spec: str, message: str, report=None) -> None:
        """A dataset that could not be opened: what is wrong, listed, instead of an empty page."""
        if self.session.data is not None:
            return  # the previous dataset stays; the message says why the new one did not open
        self.summary.clear()
        self.summary.set("Dataset", f"{spec} — could not be opened")
        lines = [message]
        if report is not None:
            lines += [f"• {p}" for p in report.problems] + [f"• {n}" for n in report.notes]
        self.summary.set("Problems", "\n".join(lines))

    def refresh(self) -> None:
        data = self.session.data
        if data is None:
            self.summary.clear()
            self.grid.clear()
            self.set_counts({})
            return
        s = self.summary
        s.set("Dataset", f"{data.name}  ({data.spec})")
        names = data.class_names
        s.set("Classes", f"{len(names)}: {', '.join(names[:12])}{'…' if len(names) > 12 else ''}")
        sizes = data.sizes()
        s.set("Splits", f"train {sizes['train']:,} · validation {sizes['val']:,} · calibration {sizes['calib']:,}")
        s.set("Input", "×".join(map(str, data.input_shape)))
        from core.data.presets import describe  # torch is loaded with the data

        s.set("Preprocessing", describe(data.preprocessing))
        s.set("Problems", "\n".join(f"• {n}" for n in data.notes) if data.notes else "none found")
