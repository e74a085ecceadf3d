"""Model page: what the current model is, layer by layer."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core import fmt
from core.session import Session
from gui.panels.summary import SummaryCard
from gui.widgets.table import DataTable

FIELDS = ("Name", "Format", "Source", "Input", "Classes", "Parameters", "MACs", "Notes")
COLUMNS = ("#", "Layer", "Type", "Output shape", "Params", "MACs", "Share of MACs")


class ModelPage(QWidget):
    """Summary card and per-layer table of ``session.model``."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.summary = SummaryCard("Model", FIELDS)
        self.open_button = QPushButton("Open model file…")
        self.demo_button = QPushButton("Load demo model")
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)
        self.layers = DataTable(COLUMNS, bar_column=6)
        self.caption = QLabel("Layers")
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(self.caption)
        layout.addWidget(self.layers, 1)
        session.subscribe(self._on_change)

    def _on_change(self, name: str) -> None:
        if name == "model":
            self.refresh()

    def refresh(self) -> None:
        model, report = self.session.model, self.session.inspection
        if model is None:
            self.summary.clear()
            self.layers.set_rows([])
            return
        s = self.summary
        s.set("Name", model.name)
        s.set("Format", model.source_format)
        s.set("Source", str(model.file_path or model.spec))
        s.set("Input", fmt.shape(report.input_shape if report else model.input_shape))
        classes = model.num_classes
        names = model.class_names or []
        s.set("Classes", "—" if classes is None else f"{classes}" + (f"  ({', '.join(names[:10])}{'…' if len(names) > 10 else ''})" if names else ""))
        if report is None:
            return
        s.set("Parameters", f"{report.total_params:,}")
        s.set("MACs", fmt.si(report.total_macs) if report.total_macs is not None else "unknown")
        s.set("Notes", "\n".join([*model.notes, *report.notes]) or "—")
        total = max(report.total_macs or 0, 1)
        biggest = max((layer.macs or 0 for layer in report.layers), default=0) or 1
        rows, bars = [], []
        for i, layer in enumerate(report.layers):
            macs = layer.macs or 0
            rows.append([
                (str(i + 1), i),
                (layer.name, layer.name),
                (layer.type, layer.type),
                (fmt.shape(layer.output_shape), str(layer.output_shape)),
                (f"{layer.params:,}", layer.params),
                (fmt.si(layer.macs) if layer.macs is not None else "—", macs),
                (f"{100 * macs / total:.1f} %", macs / total),
            ])
            bars.append(macs / biggest)  # the heaviest layer fills the cell
        self.layers.set_rows(rows, bars, bar_column=6)
        self.caption.setText(f"Layers ({len(rows)})")
