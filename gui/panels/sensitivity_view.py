"""Sensitivity view: which layers to leave alone when pruning or quantizing, measured one layer at a time.

The analysis is core's (:mod:`core.pipeline.sensitivity`), run by the
"sensitivity" task in the worker process on the loaded model and data. The
view draws the report — a bar per layer, worst first, the full table, the
notes — and turns its suggested recipe step into ``apply_requested``, which
the window forwards to the Compress page's ``apply_suggestion``.
"""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.icons import icon
from gui.panels import sensitivity_report as rep
from gui.panels.sensitivity_report import PRUNE
from gui.style import MUTED_COLOUR
from gui.widgets.layer_bars import LayerBars
from gui.widgets.param_form import NumberBox
from gui.widgets.table import DataTable
from gui.jobs.controller import Job, JobController
from gui.widgets.scroll import scrolled

QUANT = "quantize.static"
ANALYSES = ((PRUNE, "Pruning per layer"), (QUANT, "Int8 per layer"))
METHOD_LABELS = {  # label, what it measures
    "exclude_one": ("Keep one layer fp32", "All layers int8 but one: the accuracy keeping that layer fp32 wins back"),
    "only_one": ("Quantize one layer alone", "One layer int8, the rest fp32: the accuracy that layer costs by itself"),
    "error": ("Activation error (fast)", "One pass comparing fp32 and int8 activations: the signal-to-noise each layer loses, in dB"),
}
CHART_ROWS = 25
DEFAULT_EVAL_BATCHES = 2
SENSITIVITY_KIND = "sensitivity"


class SensitivityView(QWidget):
    """Run a per-layer sensitivity analysis and show it; ``apply_requested(technique, params)`` applies its suggestion."""

    apply_requested = Signal(str, dict)
    report_shown = Signal(dict)

    def __init__(
        self,
        session,
        jobs: JobController,
        show_error: Callable[[str], None] = lambda message: None,
        parent: Optional[QWidget] = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.jobs, self.show_error = session, jobs, show_error
        self.job: Optional[Job] = None
        self.report: Optional[dict] = None
        self.ready = False

        intro = QLabel("Measure what compressing each layer alone costs, on a copy of the current model, then let the "
                       "analysis write which layers to leave alone into the recipe.")
        intro.setObjectName("muted")
        intro.setWordWrap(True)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self._controls_box())
        ll.addWidget(self._suggestion_box(), 1)
        left.setMinimumWidth(320)
        left.setMaximumWidth(400)
        right = self._results_panel()

        body = QHBoxLayout()
        body.addWidget(left)
        body.addWidget(right, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(body, 1)

        self.analysis.currentIndexChanged.connect(lambda i: self._technique_changed())
        self.method.currentIndexChanged.connect(lambda i: self._technique_changed())
        session.subscribe(lambda name: self.update_state())
        jobs.started.connect(lambda job: self.update_state())
        jobs.ended.connect(lambda job: self.update_state())
        self._technique_changed()

    # ================================================================== building

    def _controls_box(self) -> QGroupBox:
        """What to analyse and how precisely; Run, Cancel, progress."""
        self.analysis = QComboBox()
        for key, label in ANALYSES:
            self.analysis.addItem(label, key)
        self.analysis.setToolTip("prune.structured: each channel group pruned alone. quantize.static: int8 per layer")
        self.ratio = NumberBox("float", 0.05, 0.95, 0.05, 0.5)
        self.ratio.setValue(0.5)
        self.ratio.setToolTip("Fraction of each group's channels removed while it is measured")
        self.importance = QComboBox()
        self.importance.addItem("l1", "l1")
        self.importance.setToolTip("How channels are ranked for removal")
        self.method = QComboBox()
        for i, (key, (label, tip)) in enumerate(METHOD_LABELS.items()):
            self.method.addItem(label, key)
            self.method.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.method.setToolTip("\n".join(f"{label}: {tip}" for label, tip in METHOD_LABELS.values()))
        self.calibration = QSpinBox()
        self.calibration.setRange(1, 100_000)
        self.calibration.setValue(128)
        self.calibration.setSingleStep(32)
        self.calibration.setToolTip("Calibration images for int8 (as quantize.static's Calibration images)")
        self.eval_batches = QSpinBox()
        self.eval_batches.setRange(0, 10_000)
        self.eval_batches.setValue(DEFAULT_EVAL_BATCHES)
        self.eval_batches.setSpecialValueText("all")
        self.eval_batches.setSuffix(" × 128 images")
        self.eval_batches.setToolTip("Validation batches each variant is scored on: fewer is quicker and coarser (0 = all)")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 100.0)
        self.threshold.setDecimals(2)
        self.threshold.setSingleStep(0.5)
        self.threshold.setValue(1.0)
        self.threshold.setSuffix(" points")
        self.threshold.setToolTip("Layers that cost more than this many accuracy points are suggested to be left alone")
        self.form = QFormLayout()
        self.form.addRow("Analysis:", self.analysis)
        self.form.addRow("Channel ratio:", self.ratio)
        self.form.addRow("Importance:", self.importance)
        self.form.addRow("Method:", self.method)
        self.form.addRow("Calibration images:", self.calibration)
        self.form.addRow("Evaluate on:", self.eval_batches)
        self.form.addRow("Threshold:", self.threshold)
        self.run_button = QPushButton(icon("run"), "Run analysis")
        self.run_button.setObjectName("primary")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton(icon("stop"), "Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("not running")
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.reason = QLabel("")
        self.reason.setObjectName("muted")
        self.reason.setWordWrap(True)
        controls = QGroupBox("Analysis")
        cl = QVBoxLayout(controls)
        cl.addLayout(self.form)
        cl.addLayout(buttons)
        cl.addWidget(self.reason)
        cl.addWidget(self.progress)
        cl.addWidget(self.status)
        return controls

    def _suggestion_box(self) -> QGroupBox:
        """The suggested step in words, the button that applies it, the report's notes."""
        self.suggestion = QLabel("Run an analysis to get a suggestion.")
        self.suggestion.setWordWrap(True)
        self.suggestion.setTextFormat(Qt.TextFormat.RichText)
        self.apply_button = QPushButton("Apply suggestion to the recipe")
        self.apply_button.setToolTip("Write the suggested settings into the recipe on the Compress page "
                                     "(its first step of this technique, or a new step)")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self.apply_suggestion)
        self.notes = QLabel("")
        self.notes.setObjectName("muted")
        self.notes.setWordWrap(True)
        self.notes.setTextFormat(Qt.TextFormat.RichText)
        self.notes.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        box = QGroupBox("Suggestion")
        sl = QVBoxLayout(box)
        sl.addWidget(self.suggestion)
        sl.addWidget(self.apply_button, 0, Qt.AlignmentFlag.AlignLeft)
        sl.addWidget(scrolled(self.notes), 1)
        return box

    def _results_panel(self) -> QSplitter:
        """The bar chart over the table."""
        self.heading = QLabel("<b>Per-layer sensitivity</b>")
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.heading.setWordWrap(True)
        self.chart = LayerBars()
        chart_scroll = scrolled(self.chart)
        self.chart_note = QLabel("")
        self.chart_note.setObjectName("muted")
        self.chart_note.setWordWrap(True)
        self.table = DataTable(["Layer"])
        self.table.filter.setPlaceholderText("Filter layers (name, type, …)")
        chart_panel = QWidget()
        cp = QVBoxLayout(chart_panel)
        cp.setContentsMargins(0, 0, 0, 0)
        cp.addWidget(self.heading)
        cp.addWidget(chart_scroll, 1)
        cp.addWidget(self.chart_note)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(chart_panel)
        right.addWidget(self.table)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setChildrenCollapsible(False)
        return right

    # ================================================================== set-up

    @property
    def technique(self) -> str:
        return self.analysis.currentData()

    def set_techniques(self, techniques: list) -> None:
        """Once the registry has loaded: the pruning choices and limits come from ``prune.structured``'s fields."""
        by_name = {t.name: t for t in techniques}
        prune = by_name.get(PRUNE)
        if prune is not None:
            fields = {p.name: p for p in prune.params}
            spec = fields["importance"].spec
            current = self.importance.currentData()
            self.importance.clear()
            for choice in spec.choices:
                self.importance.addItem(str(choice), choice)
            self.importance.setCurrentIndex(max(0, self.importance.findData(current)))
            self.importance.setToolTip(spec.help)
            ratio = fields["ratio"].spec
            self.ratio.lo, self.ratio.hi = max(ratio.min or 0.0, 0.05), ratio.max
            self.ratio.setToolTip(ratio.help)
        self.ready = True
        self.update_state()

    def _technique_changed(self) -> None:
        prune = self.technique == PRUNE
        for w, show in ((self.ratio, prune), (self.importance, prune), (self.method, not prune), (self.calibration, not prune)):
            self.form.setRowVisible(w, show)
        error = not prune and self.method.currentData() == "error"
        self.threshold.setToolTip("For the error method: the accuracy points the whole int8 model may lose before "
                                  "layers are kept fp32" if error else
                                  "Layers that cost more than this many accuracy points are suggested to be left alone")
        self.update_state()

    def blocker(self) -> str:
        """Why Run is not possible now ("" when it is)."""
        if not self.ready:
            return "The compression techniques are still loading."
        if self.job is not None:
            return "An analysis is running."
        model, data = self.session.model, self.session.data
        if model is None or data is None:
            return "Load a model and a dataset first."
        if self.technique == PRUNE and getattr(model, "is_onnx", False):
            return "Channel pruning needs the PyTorch model: this one is ONNX (analyse int8 instead)."
        return ""

    def update_state(self) -> None:
        reason = self.blocker()
        running = self.job is not None
        self.run_button.setEnabled(not reason)
        self.cancel_button.setEnabled(running and not self.job.cancelled)
        for w in (self.analysis, self.ratio, self.importance, self.method, self.calibration, self.eval_batches, self.threshold):
            w.setEnabled(not running)
        self.reason.setText("" if running else reason)
        self.reason.setVisible(bool(reason) and not running)

    # ================================================================== running

    def settings(self) -> dict:
        """The analysis settings as the "sensitivity" task takes them."""
        common = {"eval_batches": self.eval_batches.value() or None, "threshold": round(self.threshold.value(), 4)}
        if self.technique == PRUNE:
            return {"ratio": round(self.ratio.value(), 4), "importance": self.importance.currentData(), **common}
        return {"method": self.method.currentData(), "calibration_samples": self.calibration.value(), **common}

    def request(self):
        """The worker's request: the analysis of the current model and data (as they were opened)."""
        from core.app.worker_tasks import Sensitivity

        model, data = self.session.sources()
        return Sensitivity(model, data, self.technique, tuple(sorted(self.settings().items())))

    def run(self) -> Optional[Job]:
        """Start the analysis in the worker process (a no-op with the reason shown when it can't)."""
        reason = self.blocker()
        if reason:
            self.reason.setText(reason)
            self.reason.setVisible(True)
            return None
        label = dict(ANALYSES)[self.technique].lower()
        self.progress.setValue(0)
        self.progress.setFormat("%p %")
        self.status.setText("Starting…")
        self.job = self.jobs.start(self.request(), self._event, title=f"Sensitivity: {label}")
        self.update_state()
        return self.job

    def cancel(self) -> None:
        if self.job is not None and not self.job.cancelled:
            self.jobs.cancel(self.job)
            self.status.setText("Cancelling…")
            self.update_state()

    def _event(self, event) -> None:
        from core.app.events import Done, Failed, Progress
        from core.errors import EdgeSlimError

        if isinstance(event, Progress):
            self.progress.setValue(int(1000 * event.fraction))
            self.status.setText(event.message)
            return
        if isinstance(event, Done):
            self.show_report(event.result)
        elif isinstance(event, Failed) and event.cancelled:
            self._ended("Cancelled.")
        elif isinstance(event, Failed):
            message = event.error.for_app() if isinstance(event.error, EdgeSlimError) else str(event.error)
            self._ended(f"Failed: {message}")
            self.show_error(message)
        else:
            return
        self.job = None
        self.update_state()

    def _ended(self, text: str) -> None:  # failed or cancelled: the bar empties
        self.progress.setFormat("not running")
        self.progress.setValue(0)
        self.status.setText(text)

    # ================================================================== showing a report

    def show_report(self, report: dict) -> None:
        """Draw a report (``SensitivityReport.to_dict()``, as the task returns it)."""
        self.report = report
        s = report.get("settings", {})
        what = (f"pruning {100 * s.get('ratio', 0):.0f} % of each group's channels ({s.get('importance')})"
                if report["technique"] == PRUNE else f"int8, {report['method']}")
        who = f"{report['model']} on {report.get('data', 'the data')}: " if report.get("model") else ""
        self.heading.setText(f"<b>{who}{what}</b> &nbsp;<span style='color:{MUTED_COLOUR}'>baseline top-1 "
                             f"{100 * report['baseline']:.2f} % on {s.get('eval_images', '?')} images · {report['seconds']:.0f} s</span>")
        bars = rep.chart_bars(report)
        line = s.get("threshold") if report["key"] != "lost_db" else None
        self.chart.show_bars(bars[:CHART_ROWS], rep.AXIS_LABELS.get(report["key"], report["key"]), line_at=line)
        self.chart_note.setText(rep.chart_note(report, min(len(bars), CHART_ROWS), len(bars), line is not None))
        headers, rows, sort_by = rep.table(report)
        self.table.model.setColumnCount(len(headers))
        self.table.model.setHorizontalHeaderLabels(headers)
        self.table.headers = headers
        self.table.set_rows(rows)
        self.table.view.sortByColumn(headers.index(sort_by), Qt.SortOrder.DescendingOrder)
        self.suggestion.setText(rep.suggestion_text(report))
        self.notes.setText("".join(f"<p>• {n}</p>" for n in report.get("notes", [])))
        self.apply_button.setEnabled(True)
        self.progress.setValue(1000)
        self.progress.setFormat("done")
        self.status.setText(f"Done in {report['seconds']:.0f} s.")
        self.report_shown.emit(report)

    def apply_suggestion(self) -> None:
        """Emit the report's suggested step: ``apply_requested(technique, params)``."""
        if self.report is None:
            return
        params = {k: v for k, v in self.report["suggestion"].items() if k != "technique"}
        self.apply_requested.emit(self.report["suggestion"]["technique"], params)
        self.status.setText("Suggestion sent to the recipe on the Compress page.")

