"""Model page: what the current model is, layer by layer, and how it measures on the data."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QRegularExpression, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core import fmt
from core.app.session import Session
from gui.dialogs.torchvision_dialog import TorchvisionPicker
from gui.panels.summary import SummaryCard
from gui.widgets.table import DataTable

FIELDS = ("Name", "Format", "Source", "Input", "Classes", "Parameters", "MACs", "Source file", "Deployable file", "Baseline", "Notes")
EVALUATE_TIP = "Accuracy on the validation split, file size, MACs and latency (PyTorch and ONNX Runtime)"
DEPLOYABLE_PENDING = "ONNX file, measured by Evaluate baseline (the file runs and bundles hold)"
SHAPE_PATTERN = r"^\s*[1-9]\d*\s*[,x]\s*[1-9]\d*\s*[,x]\s*[1-9]\d*\s*$|^\s*$"  # C,H,W (or CxHxW) or empty (auto)
COLUMNS = ("#", "Layer", "Type", "Output shape", "Params", "MACs", "Share of MACs")
# a short list shown before torchvision is imported; the dialog offers every classification model once it is
COMMON_TORCHVISION = (
    "mobilenet_v3_small", "mobilenet_v3_large", "mobilenet_v2", "resnet18", "resnet34", "resnet50",
    "efficientnet_b0", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "squeezenet1_1", "regnet_x_400mf", "convnext_tiny",
)


def torchvision_names() -> list[str]:
    """Every torchvision classification architecture when torch is already imported, else the common ones."""
    import sys

    if "torch" in sys.modules:
        try:
            from core.models.torchvision_zoo import classification_models

            return sorted(classification_models())
        except Exception:  # an old torchvision without list_models: the short list still works
            pass
    return sorted(COMMON_TORCHVISION)


class ModelPage(QWidget):
    """Summary card and per-layer table of ``session.model``; "Evaluate baseline" measures it on the data."""

    torchvision_requested = Signal(str, object)  # the architecture's name, its ModelSource options (weights, num_classes)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        title = QLabel("Model")
        title.setObjectName("pageTitle")
        self.summary = SummaryCard("Model", FIELDS)
        self.open_button = QPushButton("Open model file…")
        self.open_button.setToolTip("A state_dict, a torch.export program (.pt2), TorchScript, a full pickle (asks for trust) or ONNX")
        self.torchvision_button = QPushButton("torchvision…")
        self.torchvision_button.setToolTip("A torchvision classification architecture by name, with a weights file "
                                           "(or the one torchvision cached) and its class count")
        self.torchvision_button.clicked.connect(self.pick_torchvision)
        self.demo_button = QPushButton("Load demo model")
        self.evaluate_button = QPushButton("Evaluate baseline")
        self.evaluate_button.setToolTip(EVALUATE_TIP)
        self.eval_bar = QProgressBar()
        self.eval_bar.setRange(0, 1000)
        self.eval_bar.setMaximumWidth(220)
        self.eval_bar.setVisible(False)
        self.input_shape = QLineEdit(placeholderText="auto")
        self.input_shape.setValidator(QRegularExpressionValidator(QRegularExpression(SHAPE_PATTERN), self.input_shape))
        self.input_shape.setMaximumWidth(110)
        self.input_shape.setToolTip("C,H,W for a model file that does not fix its input (an ONNX file with free axes, "
                                    "an exported program); used when a model is opened (same as --input-shape)")
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.torchvision_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("Input shape:"))
        buttons.addWidget(self.input_shape)
        buttons.addWidget(self.eval_bar)
        buttons.addWidget(self.evaluate_button)
        self.layers = DataTable(COLUMNS, bar_column=6)
        self.caption = QLabel("Layers")
        self.hide_free = QCheckBox("Hide zero-cost layers")
        self.hide_free.setToolTip("Leave out layers with no MACs (BatchNorm, ReLU, reshapes): the ones compression can act on stay")
        self.hide_free.setChecked(True)
        self.hide_free.toggled.connect(lambda _: self.refresh())
        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        head.addWidget(title)
        head.addStretch(1)
        layout.addLayout(head)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        table_head = QHBoxLayout()
        table_head.addWidget(self.caption, 1)
        table_head.addWidget(self.hide_free)
        layout.addLayout(table_head)
        layout.addWidget(self.layers, 1)
        self._blocked = False  # the Baseline row shows why model and data cannot run together
        self._baselines: dict = {}  # (model source, data source) -> the Baseline row measured on them
        self._deployable: dict = {}  # (model source, data source) -> the ONNX file size measured with the baseline
        session.subscribe(self._on_change)

    def input_shape_choice(self) -> Optional[tuple[int, int, int]]:
        """The input shape typed for the next model opened (ModelSource.input_shape); None for "auto"."""
        try:
            return fmt.parse_shape(self.input_shape.text())
        except ValueError:  # empty ("auto"); the validator lets nothing else through
            return None

    def pick_torchvision(self) -> None:
        dialog = TorchvisionPicker(torchvision_names(), self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.chosen():
            self.torchvision_requested.emit(dialog.chosen(), dialog.options())

    def _on_change(self, name: str) -> None:
        if name == "model":
            self.refresh()
        both = self.session.model is not None and self.session.data is not None
        problem = self.session.mismatch_text() if both else ""
        self.evaluate_button.setEnabled(both and not problem)
        self.evaluate_button.setToolTip(problem or EVALUATE_TIP)
        known = self._baselines.get(self.session.sources()) if both else None
        if problem:  # said here too: this page is where the user looks first
            self.summary.set("Baseline", f"cannot be measured on this data. {problem}")
        elif known:  # measured earlier on this very model and data (the demo loaded again)
            self.summary.set("Baseline", known)
        elif (self._blocked or name in ("model", "data", "labels")) and self.session.model is not None:
            self.summary.set("Baseline", "not measured yet: press Evaluate baseline")
        self._blocked = bool(problem)

    # ------------------------------------------------------------------ baseline evaluation

    def evaluation_started(self) -> None:
        self.evaluate_button.setEnabled(False)
        self.eval_bar.setValue(0)
        self.eval_bar.setVisible(True)
        self.summary.set("Baseline", "measuring…")

    def evaluation_progress(self, fraction: float, message: str) -> None:
        self.eval_bar.setValue(int(fraction * 1000))
        self.summary.set("Baseline", f"measuring… {message}")

    def evaluation_done(self, model, metrics: dict) -> None:
        """``metrics``: ``ModelMetrics.to_dict()`` of the current model, measured in the worker process."""
        self.eval_bar.setVisible(False)
        self.evaluate_button.setEnabled(not self.session.mismatches)
        if model is not self.session.model:
            return
        parts = []
        if metrics.get("accuracy") is not None:
            parts.append(f"top-1 {100 * metrics['accuracy']:.2f} % on {metrics.get('n_eval', 0):,} validation images")
        latency = metrics.get("latency_ms") or {}
        for backend, label in (("torch", "PyTorch"), ("onnxruntime", "ONNX Runtime")):
            if latency.get(backend) is not None:
                parts.append(f"{label} {latency[backend]:.3f} ms")
        parts.append(f"ONNX file {fmt.size(metrics.get('size_bytes'))} ({fmt.size(metrics.get('zip_bytes'))} zipped)")
        text = " · ".join(parts) + f"  (batch {latency.get('batch', 1)}, {latency.get('threads', '?')} threads)"
        self._baselines[self.session.sources()] = text
        self.summary.set("Baseline", text)
        if metrics.get("size_bytes"):  # core.metrics.size.serialized_size: the figure the run card and Export show
            deployable = f"ONNX {fmt.size(metrics['size_bytes'])} ({fmt.size(metrics.get('zip_bytes'))} zipped)"
            self._deployable[self.session.sources()] = deployable
            self.summary.set("Deployable file", deployable)

    def evaluation_failed(self, message: str) -> None:
        self.eval_bar.setVisible(False)
        self.evaluate_button.setEnabled(not self.session.mismatches)
        self.summary.set("Baseline", f"not measured: {message}")

    # ------------------------------------------------------------------ summary and layers

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
        size = None
        try:
            size = model.file_path.stat().st_size if model.file_path else None
        except OSError:
            pass
        # the file opened, not what a bundle holds: that is the ONNX file the baseline measures (as runs and Export do)
        s.set("Source file", f"{fmt.size(size)} ({model.file_path.suffix or 'file'} as opened)" if size is not None
              else "— (built in memory)")
        s.set("Deployable file", self._deployable.get(self.session.sources(), DEPLOYABLE_PENDING))
        s.set("Baseline", "not measured yet: press Evaluate baseline (needs data)")
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
            if self.hide_free.isChecked() and layer.macs == 0:
                continue
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
        hidden = len(report.layers) - len(rows)
        more = f", {hidden} zero-cost hidden" if hidden else ""
        self.caption.setText(f"<b>Layers</b> ({len(rows)}{more}) — sort by a column, filter by name or type")
