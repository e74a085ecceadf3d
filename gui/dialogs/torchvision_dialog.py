"""Open a torchvision architecture: its name, a trained weights file (or the one torchvision cached), its class count.

These are the controls the loader's messages ask for (``core.controls``: "the weights file in the
torchvision dialog", "the class count in the torchvision dialog"); the dialog only collects them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

WEIGHTS_FILTER = "PyTorch weights (*.pt *.pth *.bin *.safetensors);;All files (*)"


def cached_weights(name: str) -> Optional[Path]:
    """torchvision's cached ImageNet weights of ``name`` (nothing downloaded); None when absent or torch cannot load."""
    try:
        from core.models.torchvision_zoo import cached_torchvision_weights  # imports torch: asked on a click only
    except Exception:  # noqa: BLE001 (no torch: no cache to offer)
        return None
    return cached_torchvision_weights(name)


class TorchvisionPicker(QDialog):
    """A searchable list of torchvision architectures, with an optional weights file and class count."""

    def __init__(self, names: list[str], parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open a torchvision architecture")
        self.resize(460, 560)
        self.search = QLineEdit(placeholderText="Search, e.g. mobilenet")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.addItems(names)
        self.search.textChanged.connect(self._filter)
        self.list.itemDoubleClicked.connect(lambda item: self.accept())
        self.list.currentTextChanged.connect(lambda text: self._look_for_cache(auto=True))

        self.weights_edit = QLineEdit(placeholderText="none: random initialisation")
        self.weights_edit.setToolTip("A state_dict of this architecture (same as edgeslim-cli --weights FILE)")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse)
        self.cached_button = QPushButton("Find cached weights")
        self.cached_button.setToolTip("Use the ImageNet weights torchvision cached on this computer, if any "
                                      "(EdgeSlim never downloads them)")
        self.cached_button.clicked.connect(lambda: self._look_for_cache(auto=False))
        self.cache_label = QLabel("")
        self.cache_label.setObjectName("muted")
        self.cache_label.setWordWrap(True)
        self.classes = QSpinBox()
        self.classes.setRange(0, 100_000)
        self.classes.setSpecialValueText("as the weights say (1000 for ImageNet)")
        self.classes.setToolTip("Outputs of the classifier head (same as edgeslim-cli --num-classes)")
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights_edit, 1)
        weights_row.addWidget(self.browse_button)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("Weights file:", weights_row)
        form.addRow("", self.cached_button)
        form.addRow("", self.cache_label)
        form.addRow("Classes:", self.classes)

        note = QLabel("Without a weights file the model is randomly initialised; a saved model file opens with "
                      "<b>Open model file…</b>.")
        note.setWordWrap(True)
        note.setObjectName("muted")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        if self.list.count():
            self.list.setCurrentRow(0)

    def _filter(self, text: str) -> None:
        first = None
        for i in range(self.list.count()):
            item = self.list.item(i)
            hidden = text.lower() not in item.text().lower()
            item.setHidden(hidden)
            if not hidden and first is None:
                first = item
        if first is not None:
            self.list.setCurrentItem(first)

    def browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights file (a state_dict)", "", WEIGHTS_FILTER)
        if path:
            self.weights_edit.setText(path)

    def _look_for_cache(self, auto: bool) -> None:
        """Offer torchvision's cached file of the chosen architecture (on a click, or at once when torch is loaded)."""
        name = self.chosen()
        if name is None or (auto and "torch" not in sys.modules):
            self.cache_label.setText("")
            return
        found = cached_weights(name)
        if found is not None:
            self.weights_edit.setText(str(found))
            self.cache_label.setText(f"Cached ImageNet weights of {name} found and chosen.")
        else:
            self.cache_label.setText(f"No cached weights of {name} on this computer: choose a file, or open it "
                                     "randomly initialised.")

    def chosen(self) -> Optional[str]:
        item = self.list.currentItem()
        return item.text() if item and not item.isHidden() else None

    def options(self) -> dict:
        """The ModelSource options the dialog sets: ``weights`` and ``num_classes`` (absent when left empty)."""
        options: dict = {}
        if self.weights_edit.text().strip():
            options["weights"] = self.weights_edit.text().strip()
        if self.classes.value():
            options["num_classes"] = self.classes.value()
        return options
