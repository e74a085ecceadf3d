"""A stored run's details, and two runs compared side by side (metrics and a per-layer diff)."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.store.run_compare import RunComparison, compare_runs
from gui.style import GOOD_COLOUR
from gui.widgets.result_card import ResultCard
from gui.widgets.table import DataTable
from gui.widgets.scroll import scrolled


def _closing_buttons(dialog: QDialog) -> QDialogButtonBox:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    return buttons


class RunDetailsDialog(QDialog):
    """The run's before/after card, its steps, files and recipe."""

    def __init__(self, row, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Run #{row.id} — {row.name}")
        self.resize(760, 640)
        self.card = ResultCard()
        self.card.show_row(row)
        scroll = scrolled(self.card)
        recipe = QPlainTextEdit(row.recipe_toml or "")
        recipe.setObjectName("log")
        recipe.setReadOnly(True)
        info = QLabel(f"Model <code>{row.model_spec}</code> · data <code>{row.data_spec}</code> · seed {row.seed}"
                      + (f" · sweep {row.sweep_id}" if row.sweep_id else ""))
        info.setObjectName("muted")
        info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(scroll)
        split.addWidget(recipe)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(info)
        layout.addWidget(split, 1)
        layout.addWidget(_closing_buttons(self))


class CompareDialog(QDialog):
    """Metrics of two runs with the better one marked, and every layer a structural step changed."""

    def __init__(self, a, b, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.comparison: RunComparison = compare_runs(a, b)
        c = self.comparison
        self.setWindowTitle(f"Compare {c.a_title} and {c.b_title}")
        self.resize(980, 680)
        self.metrics = DataTable(("Metric", c.a_title, c.b_title))
        self.metrics.filter.setVisible(False)
        rows = []
        for m in c.metrics:
            mark_a = " ✓" if m.better == "a" else ""
            mark_b = " ✓" if m.better == "b" else ""
            rows.append([(m.label, m.label), (m.a + mark_a, m.a), (m.b + mark_b, m.b)])
        self.metrics.set_rows(rows)
        self.metrics.view.setSortingEnabled(False)
        for i, m in enumerate(c.metrics):  # keep the metric order; colour the better side
            for col, side in ((1, "a"), (2, "b")):
                item = self.metrics.model.item(i, col)
                if m.better == side:
                    item.setForeground(Qt.GlobalColor.darkGreen if GOOD_COLOUR else Qt.GlobalColor.black)
        self.layers = DataTable(("Layer", "Type", "Original", c.a_title, c.b_title))
        self.layers.filter.setPlaceholderText("Filter layers")
        self.layers.set_rows([[(d.name, d.name), (d.type, d.type), (d.original.text(), d.original.params or 0),
                               (d.a.text(), d.a.params or 0), (d.b.text(), d.b.params or 0)] for d in c.layers])
        for i, d in enumerate(c.layers):
            if d.differs:
                for col in (3, 4):
                    font = self.layers.model.item(i, col).font()
                    font.setBold(True)
                    self.layers.model.item(i, col).setFont(font)
        notes = QLabel("<br>".join(c.notes) or "Layers in bold differ between the two runs.")
        notes.setObjectName("muted")
        notes.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Metrics</b> (✓ marks the better run)"))
        layout.addWidget(self.metrics, 2)
        layout.addWidget(QLabel(f"<b>Layers</b> changed by a pruning or low-rank step ({len(c.layers)})"))
        layout.addWidget(notes)
        layout.addWidget(self.layers, 3)
        layout.addWidget(_closing_buttons(self))
