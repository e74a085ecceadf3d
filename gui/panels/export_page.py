"""Export page: pick a model, a target, a format and a folder; see the fit; write a verified bundle.

The page builds plain payloads for the worker process (``gui.tasks.export``)
and renders what comes back. The fit check runs by itself, as a quiet job,
whenever the choice changes and the page is open (a stale check is
cancelled); the export is a job with progress here and in the status bar,
and Cancel. The page never imports torch or ONNX: the target profiles are
read from their TOML files, and everything else happens in the child.
"""

from __future__ import annotations

import time
from html import escape as html_escape
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core import fmt
from core.errors import EdgeSlimError
from core.app.session import Session
from gui.icons import icon
from gui.style import ERROR_COLOUR
from gui.widgets.bundle_view import BundleView
from gui.widgets.export_text import default_folder, format_text, target_summary
from gui.widgets.fit_view import FitView
from gui.workers import Job, JobRunner
from gui.widgets.scroll import scrolled

CHECK_DELAY_S = 0.4  # the check waits this long for further changes before it starts (in its job, so the window counts it as busy)
WORKER_KINDS = ("run", "evaluate", "export", "sweep", "sensitivity")  # jobs that hold the worker process for long
PREFERRED_TARGET = "rpi5"
FORMAT_PRECISION = {"onnx": "fp32", "onnx-fp16": "fp16", "onnx-int8": "int8", "pt2": "fp32"}  # core.export.targets.FORMATS


def bundles_dir() -> Path:
    return Path.home() / "EdgeSlim-bundles"


def _muted(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


def _field(caption: str, field: QWidget | QHBoxLayout, note: QWidget) -> QVBoxLayout:
    """A caption over its control and a note under it (wrapped notes size properly here, unlike in a QFormLayout)."""
    box = QVBoxLayout()
    box.setSpacing(3)
    label = QLabel(f"<b>{caption}</b>")
    box.addWidget(label)
    if isinstance(field, QHBoxLayout):
        box.addLayout(field)
    else:
        box.addWidget(field)
    box.addWidget(note)
    return box


def _scrolled(widget: QWidget) -> QScrollArea:
    return scrolled(widget, horizontal=False)


class ExportPage(QWidget):
    """Source, target, format and folder; the automatic fit check; Export with progress; the parity results."""

    def __init__(
        self,
        session: Session,
        jobs: JobRunner,
        worker: Any,
        show_error: Callable[[str], None] = lambda message: None,
        parent: Optional[QWidget] = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.jobs, self.worker, self.show_error = session, jobs, worker, show_error
        self.workspace: Any = None  # core.store.workspace.Workspace
        self.runs: dict[int, Any] = {}  # finished RunRows by id
        self.targets: dict[str, Any] = {}  # name -> TargetProfile
        self._targets_stamp: tuple = ()
        self.broken_profiles: list[str] = []  # messages for profile files that could not be read
        self.preview: Optional[dict] = None  # ExportPreview.to_dict() of the current choice
        self.result: Optional[dict] = None  # ExportResult.to_dict() of the latest export
        self.check_job: Optional[Job] = None
        self.export_job: Optional[Job] = None
        self._check_dirty = True
        self._out_edited = False
        self._export_started = 0.0
        self.threads = 2  # ONNX Runtime threads for the latency measured on this computer
        self.latency_repeats = 30
        self.artifact: Optional[str] = None  # the selected run's model file

        title = QLabel("Export")
        title.setObjectName("pageTitle")
        subtitle = _muted("Write a deployable bundle for a device: the model file in the target's format, its preprocessing "
                          "and labels, a runnable example and a report — checked against the target before, and against the "
                          "model after.")

        # -------------------------------------------------------------- what and where
        self.source_combo = QComboBox()
        self.source_combo.setToolTip("The current model as it is, or the final model of a finished run in the workspace")
        self.heading = _muted()
        self.target_combo = QComboBox()
        self.target_combo.setToolTip("Device profiles: resources/targets/ and your own in ~/.config/EdgeSlim/targets/")
        self.target_info = _muted()
        self.format_combo = QComboBox()
        self.format_combo.setToolTip("The model file's format; the target's default keeps the model's precision where it can")
        self.format_info = _muted()
        for combo in (self.source_combo, self.target_combo, self.format_combo):  # long items must not widen the column
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(24)
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("Folder for the bundle (new or empty)")
        self.out_edit.setToolTip("The bundle appears here only when it is complete")
        self.browse_button = QPushButton("Browse…")
        self.replace_box = QCheckBox("Replace the bundle in this folder")
        self.replace_box.setToolTip("Only a folder that holds an earlier EdgeSlim bundle is replaced, and only once the new one is complete")
        self.replace_box.setVisible(False)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(self.browse_button)
        what_box = QGroupBox("Bundle")
        wl = QVBoxLayout(what_box)
        wl.setSpacing(10)
        wl.addLayout(_field("Model", self.source_combo, self.heading))
        wl.addLayout(_field("Target", self.target_combo, self.target_info))
        wl.addLayout(_field("Format", self.format_combo, self.format_info))
        wl.addLayout(_field("Folder", out_row, self.replace_box))

        # -------------------------------------------------------------- export
        self.parity_spin = QSpinBox()
        self.parity_spin.setRange(16, 100_000)
        self.parity_spin.setValue(1000)
        self.parity_spin.setSingleStep(100)
        self.parity_spin.setToolTip("Validation images the written file is compared on (at most the split's size)")
        self.anyway = QCheckBox("Export anyway (the fit check says it does not fit)")
        self.anyway.setToolTip("Write the bundle although the estimate says it does not fit; the verdict is recorded in it")
        self.anyway.setVisible(False)
        self.export_button = QPushButton(icon("export"), "Export")
        self.export_button.setObjectName("primary")
        self.export_button.setToolTip("Write the bundle, then load the written file back and compare it with the model")
        self.cancel_button = QPushButton(icon("stop"), "Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the export; nothing is written")
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("Parity check on"))
        buttons.addWidget(self.parity_spin)
        buttons.addWidget(QLabel("images"))
        self.reason_label = _muted()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setFormat("not running")
        self.stage_label = _muted("Not running")
        export_box = QGroupBox("Export")
        el = QVBoxLayout(export_box)
        el.addLayout(buttons)
        el.addWidget(self.anyway)
        el.addWidget(self.reason_label)
        el.addWidget(self.bar)
        el.addWidget(self.stage_label)
        about = _muted("The bundle holds the model file, <code>model.json</code> (input, preprocessing, labels, recipe, "
                       "numbers), <code>infer.py</code> (needs only onnxruntime, numpy and Pillow), a README for the device "
                       "and <code>report.html</code>. It appears only when complete, after the written file has been loaded "
                       "back and compared with the model (parity).")
        el.addSpacing(4)
        el.addWidget(about)

        self.fit_view = FitView()
        self.bundle_view = BundleView()
        left_host = QWidget()
        left = QVBoxLayout(left_host)
        left.setContentsMargins(0, 0, 4, 0)
        left.addWidget(what_box)
        left.addWidget(export_box)
        left.addStretch(1)

        # -------------------------------------------------------------- fit check
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 10, 4, 0)
        rl.setSpacing(10)
        rl.addWidget(self.bundle_view)  # shown once an export starts: the outcome above the check that preceded it
        rl.addWidget(self.fit_view)
        rl.addStretch(1)
        self.bundle_view.setVisible(False)

        columns = QHBoxLayout()
        columns.setSpacing(14)
        self.right_scroll = _scrolled(right)
        columns.addWidget(_scrolled(left_host), 1)
        columns.addWidget(self.right_scroll, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addLayout(columns, 1)

        self.source_combo.currentIndexChanged.connect(lambda i: self._source_changed())
        self.target_combo.currentIndexChanged.connect(lambda i: self._target_changed())
        self.format_combo.currentIndexChanged.connect(lambda i: self._format_changed())
        self.out_edit.textEdited.connect(self._out_typed)
        self.out_edit.textChanged.connect(lambda text: self._update_export_state())
        self.browse_button.clicked.connect(self.browse)
        self.replace_box.toggled.connect(lambda on: self._update_export_state())
        self.anyway.toggled.connect(lambda on: self._update_export_state())
        self.export_button.clicked.connect(lambda: self.export())
        self.cancel_button.clicked.connect(self.cancel)
        session.subscribe(self._session_changed)
        jobs.ended.connect(self._job_ended)
        self.load_targets()
        self._refresh_sources()

    # ================================================================== sources

    def set_workspace(self, workspace: Any) -> None:
        """The workspace whose finished runs the page offers (None: only the current model)."""
        self.workspace = workspace
        self.refresh_runs()

    def refresh_runs(self) -> None:
        """Re-read the workspace's finished runs, keeping the selection when it is still there."""
        runs = [r for r in self.workspace.list_runs(status="done")] if self.workspace is not None else []
        self.runs = {r.id: r for r in runs}
        self._refresh_sources()

    def show_run(self, row: Any) -> None:
        """Select the stored run ``row`` as the source (after a run finished, or from the Explore page)."""
        if row is None:
            return
        if row.status != "done":
            self.fit_view.show_message(f"Run #{row.id} is {row.status}",
                                       "Only a finished run has a final model to export: resume it, or pick another run.")
            return
        self.refresh_runs()
        if row.id not in self.runs:  # a run of another workspace than the page's
            self.runs[row.id] = row
            self._refresh_sources()
        index = self.source_combo.findData(f"run:{row.id}")
        if index >= 0:
            self.source_combo.setCurrentIndex(index)

    def _model_item_text(self) -> str:
        model = self.session.model
        return f"Current model — {model.name}" if model is not None else "Current model (none loaded)"

    def _refresh_sources(self) -> None:
        combo = self.source_combo
        current = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(self._model_item_text(), "model")
        if self.runs:
            combo.insertSeparator(1)
        for row in sorted(self.runs.values(), key=lambda r: r.id, reverse=True):
            combo.addItem(self._run_item_text(row), f"run:{row.id}")
        index = combo.findData(current) if current is not None else 0
        combo.setCurrentIndex(max(index, 0))
        combo.blockSignals(False)
        if combo.currentData() != current:
            self._source_changed()
        else:
            self._describe_source()

    @staticmethod
    def _run_item_text(row: Any) -> str:
        final = row.final or {}
        parts = [f"Run #{row.id}", row.name]
        if final.get("accuracy") is not None:
            parts.append(f"{100 * final['accuracy']:.2f} %")
        if final.get("size_bytes"):
            parts.append(fmt.size(final["size_bytes"]))
        return " · ".join(parts)

    def _source(self) -> tuple[str, Optional[int]]:
        """("model", None) or ("run", id), from the picker's item data ("model" | "run:ID")."""
        data = self.source_combo.currentData() or "model"
        kind, _, run_id = str(data).partition(":")
        return (kind, int(run_id)) if kind == "run" else ("model", None)

    def _source_name(self) -> str:
        kind, run_id = self._source()
        if kind == "run" and run_id in self.runs:
            return f"{self.runs[run_id].name}-run{run_id}"
        return self.session.model.name if self.session.model is not None else "model"

    def _describe_source(self) -> None:
        kind, run_id = self._source()
        if kind == "run" and run_id in self.runs:
            row = self.runs[run_id]
            final, base = row.final or {}, row.baseline or {}
            artifacts = row.artifacts or {}
            self.artifact = artifacts.get("onnx") or artifacts.get("pt2")
            bits = [" → ".join(row.techniques) or "no steps"]
            if final.get("accuracy") is not None:
                delta = f" ({100 * (final['accuracy'] - base['accuracy']):+.2f} pt)" if base.get("accuracy") is not None else ""
                bits.append(f"top-1 {100 * final['accuracy']:.2f} %{delta}")
            if final.get("size_bytes"):
                bits.append(f"ONNX {fmt.size(final['size_bytes'])}")
            kind_text = "a PyTorch program" if "pt2" in artifacts else "an ONNX file"
            self.heading.setText(f"Run #{row.id} “{row.name}”: {' · '.join(bits)}. Its final model is {kind_text}; "
                                 f"data {row.data_spec}.")
            return
        self.artifact = None
        model, data = self.session.model, self.session.data
        text = (f"{model.name} as it is now ({model.source_format})" if model is not None else "No model loaded yet")
        text += f", with {data.name} to calibrate and verify it." if data is not None else "; export also needs its dataset."
        if not self.runs:
            text += " Finished runs: none yet — run a recipe on the Compress page to export a compressed model."
        self.heading.setText(text)

    def _source_changed(self) -> None:
        self._describe_source()
        self._suggest_folder()
        self._inputs_changed()

    def _session_changed(self, name: str) -> None:
        if name not in ("model", "data"):
            return
        self.source_combo.setItemText(0, self._model_item_text())
        if self._source()[0] == "model":
            self._describe_source()
            self._suggest_folder()
            self._inputs_changed()

    def _load_options(self) -> dict:
        """How the window opened the current model (trust, arch, …), as runs store it."""
        options = getattr(self.window(), "load_options", None)
        return dict(options()) if callable(options) else {}

    def source_payload(self) -> dict | str:
        """The worker's ``source`` for the current choice, or why there is none yet."""
        kind, run_id = self._source()
        if kind == "run":
            if self.workspace is None:
                return "Open the run's workspace first."
            return {"run_id": run_id, "workspace": str(self.workspace.path)}
        model, data = self.session.model, self.session.data
        if model is None:
            return "Load a model first (Model page or File ▸ Open model)."
        if data is None:
            return "Load the model's dataset first (Data page): export calibrates and verifies the file on it."
        return {"model_spec": model.spec, "data_spec": data.spec, "load_options": self._load_options()}

    # ================================================================== targets and formats

    def load_targets(self) -> None:
        """Read the profiles (shipped and the user's); a broken file is named, the others still offered."""
        from core.export.targets import TargetError, get_target, target_names

        targets, broken = {}, []
        for name in target_names():
            try:
                targets[name] = get_target(name)
            except TargetError as exc:
                broken.append(str(exc))
        self.targets = targets
        self._targets_stamp = self._profiles_stamp()
        combo = self.target_combo
        current = combo.currentData() or PREFERRED_TARGET
        combo.blockSignals(True)
        combo.clear()
        for name, t in targets.items():
            mine = "" if t.shipped else "  (your profile)"
            best = max(t.compute_gops.items(), key=lambda kv: kv[1])
            combo.addItem(f"{t.label} · {fmt.size(t.memory.ram_bytes)} RAM · {best[1]:g} GOPS {best[0]}{mine}", name)
            combo.setItemData(combo.count() - 1, f"{t.label}\n{target_summary(t)}\nProfile: {t.path}", Qt.ItemDataRole.ToolTipRole)
        index = combo.findData(current)
        combo.setCurrentIndex(index if index >= 0 else 0)
        combo.blockSignals(False)
        self.broken_profiles = broken
        self._target_changed()

    @staticmethod
    def _profiles_stamp() -> tuple:
        from core.export.targets import SHIPPED_DIR, user_dir

        files = [p for d in (SHIPPED_DIR, user_dir()) if d.is_dir() for p in sorted(d.glob("*.toml"))]
        return tuple((str(p), p.stat().st_mtime_ns) for p in files)

    def target(self) -> Any:
        return self.targets.get(self.target_combo.currentData())

    def set_target(self, name: Optional[str]) -> None:
        """Select the profile ``name`` (e.g. the target chosen on the Explore page); unknown names are ignored."""
        index = self.target_combo.findData(name) if name else -1
        if index >= 0 and index != self.target_combo.currentIndex():
            self.target_combo.setCurrentIndex(index)

    def _target_changed(self) -> None:
        t = self.target()
        combo = self.format_combo
        current = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("Target default", None)
        for f in (t.formats if t is not None else ()):
            combo.addItem(f"{f} — {FORMAT_PRECISION.get(f, '?')}", f)
        index = combo.findData(current) if current is not None else 0
        combo.setCurrentIndex(max(index, 0))
        combo.blockSignals(False)
        text = "No target profile could be read." if t is None else target_summary(t) + ("" if t.shipped else f" Your profile: {t.path}.")
        if self.broken_profiles:  # named here rather than in a dialog: the other profiles still work
            text += f"<br><span style='color:{ERROR_COLOUR}'>Not offered: {html_escape(self.broken_profiles[0])}</span>"
        self.target_info.setText(text)
        self._describe_format()
        self._suggest_folder()
        self._inputs_changed()

    def format_choice(self) -> Optional[str]:
        return self.format_combo.currentData()

    def _format_changed(self) -> None:
        self._describe_format()
        self._inputs_changed()

    def _describe_format(self) -> None:
        t = self.target()
        chosen = self.format_choice()
        resolved = chosen or (self.preview or {}).get("format")
        if chosen is None:
            self.format_combo.setItemText(0, f"Target default ({resolved})" if resolved else "Target default")
        self.format_info.setText(format_text(resolved, t) if t is not None else "")

    # ================================================================== output folder

    def _suggest_folder(self) -> None:
        if self._out_edited or self.export_job is not None:
            return
        t = self.target()
        self.out_edit.setText(str(default_folder(bundles_dir(), self._source_name(), t.name if t else "target")))

    def _out_typed(self, text: str) -> None:
        self._out_edited = bool(text.strip())

    def browse(self) -> None:
        start = self.out_edit.text().strip() or str(bundles_dir())
        chosen = QFileDialog.getExistingDirectory(self, "Choose where the bundle goes", str(Path(start).expanduser().parent))
        if chosen:
            self.set_output(chosen)

    def set_output(self, folder: str | Path) -> None:
        """Use ``folder`` itself when it is new or empty, else a new folder inside it."""
        folder = Path(folder).expanduser()
        t = self.target()
        if folder.is_dir() and any(folder.iterdir()) and not (folder / "model.json").exists():
            folder = default_folder(folder, self._source_name(), t.name if t else "target")
        self.out_edit.setText(str(folder))
        self._out_edited = True

    def out_path(self) -> Optional[Path]:
        text = self.out_edit.text().strip()
        return Path(text).expanduser().absolute() if text else None

    # ================================================================== the fit check

    def check_pending(self) -> bool:
        """A check is due or running (tests wait for it)."""
        return self._check_dirty or self.check_job is not None

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self.export_job is None:
            self.refresh_runs()  # runs stored meanwhile (by the CLI, a sweep) appear; the selection stays
        if self._profiles_stamp() != self._targets_stamp:
            self.load_targets()  # a profile was added or edited meanwhile
        if self._check_dirty:
            QTimer.singleShot(0, self.start_check)

    def _inputs_changed(self) -> None:
        """The choice changed: the shown verdict no longer applies; check again (now when the page is open)."""
        self.preview = None
        self.anyway.setChecked(False)
        self._check_dirty = True
        self.jobs.cancel_kind("export-check")
        self.check_job = None
        if self.isVisible():
            self.start_check()
        else:
            self.fit_view.show_message("Fit check", "Runs when this page is open.")
        self._describe_format()
        self._update_export_state()

    def _worker_busy(self) -> bool:
        return any(self.jobs.running(kind) for kind in WORKER_KINDS)

    def check_payload(self) -> dict | str:
        source = self.source_payload()
        t = self.target()
        if isinstance(source, str):
            return source
        if t is None:
            return "No target profile could be read: fix the profile file named in the message."
        payload = {"source": source, "target": str(t.path) if t.path else t.name, "format": self.format_choice()}
        payload.update({k: source[k] for k in ("model_spec", "data_spec") if k in source})  # the worker drops stale caches by these
        return payload

    def start_check(self) -> Optional[Job]:
        """Check the current choice in the worker (the job waits CHECK_DELAY_S for further changes first)."""
        if not self._check_dirty or self.check_job is not None:
            return None
        payload = self.check_payload()
        if isinstance(payload, str):
            self._check_dirty = False
            self.fit_view.show_message("Fit check", payload)
            self._update_export_state()
            return None
        if self._worker_busy():
            self.fit_view.show_message("Fit check waiting", "The worker is busy with another task (a run or an export); "
                                                            "the check starts when it ends.")
            return None
        self._check_dirty = False
        worker = self.worker

        def work(progress, cancel):
            until = time.monotonic() + CHECK_DELAY_S
            while time.monotonic() < until:
                cancel.raise_if_cancelled()
                time.sleep(0.02)
            return worker.execute("export_check", payload, progress=progress, cancel=cancel)

        t = self.target()
        job = Job(f"Checking the fit on {t.label}", work, kind="export-check")
        job.quiet = True
        job.signals.progress.connect(lambda f, m, j=job: self._check_progress(j, m))
        job.signals.finished.connect(lambda result, j=job: self._check_done(j, result))
        job.signals.failed.connect(lambda message, exc, j=job: self._check_failed(j, message))
        job.signals.done.connect(lambda j=job: self._check_ended(j))
        self.check_job = job
        self.fit_view.show_busy(f"Making the model file for {t.label} and estimating it…")
        self.jobs.start(job)
        self._update_export_state()
        return job

    def _check_progress(self, job: Job, message: str) -> None:
        if job is self.check_job and message:
            self.fit_view.show_busy(message[0].upper() + message[1:] + "…")

    def _check_done(self, job: Job, preview: dict) -> None:
        if job is not self.check_job or job.cancelled:
            return
        self.preview = preview
        self.fit_view.show_preview(preview, self.target())
        self._describe_format()

    def _check_failed(self, job: Job, message: str) -> None:
        if job is self.check_job and not job.cancelled:
            self.fit_view.show_failure(message)

    def _check_ended(self, job: Job) -> None:
        if job is self.check_job:
            self.check_job = None
            self._update_export_state()

    def _job_ended(self, job: Job) -> None:
        if job.kind in WORKER_KINDS and self._check_dirty and self.isVisible():
            QTimer.singleShot(0, self.start_check)  # a check that waited for the worker
        self._update_export_state()

    # ================================================================== export

    def fits(self) -> Optional[bool]:
        return None if self.preview is None else bool((self.preview.get("fit") or {}).get("fits"))

    def export_blocker(self) -> str:
        """Why Export is not possible now ("" when it is)."""
        if self.export_job is not None:
            return "Exporting…"
        source = self.source_payload()
        if isinstance(source, str):
            return source
        if self.target() is None:
            return "No target profile could be read."
        if self.check_pending():
            return "Checking the fit first…"
        if self.fit_view.state == "failed":
            return "The model cannot be exported this way: see the fit check."
        if self.fits() is False and not self.anyway.isChecked():
            return (f"The model does not fit {self.target().label}: see what to do in the fit check, "
                    "or tick “Export anyway”.")
        out = self.out_path()
        if out is None:
            return "Choose the folder for the bundle."
        if out.exists() and not out.is_dir():
            return f"{out} is a file: choose a folder for the bundle."
        if out.is_dir() and any(out.iterdir()) and not self.replace_box.isChecked():
            return ("The folder is not empty: choose a new one, or tick “Replace the bundle in this folder” "
                    "(only an earlier bundle is ever replaced).")
        return ""

    def _update_export_state(self) -> None:
        running = self.export_job is not None
        reason = self.export_blocker()
        self.export_button.setEnabled(not reason)
        self.cancel_button.setEnabled(running and not self.export_job.cancelled)
        self.reason_label.setText("" if running else reason)
        self.reason_label.setVisible(bool(reason) and not running)
        self.anyway.setVisible(self.fits() is False)
        out = self.out_path()
        self.replace_box.setVisible(bool(out and out.is_dir() and any(out.iterdir())))
        for w in (self.source_combo, self.target_combo, self.format_combo, self.out_edit, self.browse_button,
                  self.replace_box, self.anyway, self.parity_spin):
            w.setEnabled(not running)

    def export(self) -> Optional[Job]:
        """Write the bundle for the current choice in the worker (a no-op with the reason shown when it can't)."""
        reason = self.export_blocker()
        if reason:
            self.reason_label.setText(reason)
            self.reason_label.setVisible(True)
            return None
        payload = self.check_payload()
        assert isinstance(payload, dict)
        t = self.target()
        payload.update(
            format=self.format_choice() or (self.preview or {}).get("format"), out=str(self.out_path()),
            force=self.replace_box.isChecked(), ignore_fit=self.fits() is False and self.anyway.isChecked(),
            parity_samples=self.parity_spin.value(), threads=self.threads, latency_repeats=self.latency_repeats,
        )
        worker = self.worker
        job = Job(f"Exporting {self._source_name()} for {t.label}",
                  lambda p, c: worker.execute("export", payload, progress=p, cancel=c), kind="export")
        job.signals.progress.connect(self._export_progress)
        job.signals.finished.connect(self._export_done)
        job.signals.failed.connect(self._export_failed)
        job.signals.cancelled.connect(self._export_cancelled)
        job.signals.done.connect(self._export_ended)
        self.export_job = job
        self._export_started = time.monotonic()
        self.bar.setValue(0)
        self.bar.setFormat("%p %")
        self.stage_label.setText("Starting…")
        self.bundle_view.clear("Exporting… The parity results appear here once the bundle is written and checked.")
        self.bundle_view.setVisible(True)
        self.jobs.start(job)
        self._update_export_state()
        return job

    def cancel(self) -> None:
        if self.export_job is not None and not self.export_job.cancelled:
            self.export_job.cancel()
            self.stage_label.setText("Cancelling…")
            self._update_export_state()

    def _export_progress(self, fraction: float, message: str) -> None:
        self.bar.setValue(int(1000 * fraction))
        if message:
            self.stage_label.setText(message[0].upper() + message[1:])

    def _export_done(self, result: dict) -> None:
        self.result = result
        self.bar.setValue(1000)
        self.stage_label.setText(f"Bundle written in {time.monotonic() - self._export_started:.1f} s")
        self.bundle_view.show_result(result)

    def _export_failed(self, message: str, exc: object) -> None:
        self.bar.setFormat("failed")
        self.stage_label.setText("Failed: nothing was written")
        self.bundle_view.show_failure("The bundle was not written", message)
        if not isinstance(exc, EdgeSlimError):
            self.show_error(message)  # unexpected: the log has the traceback

    def _export_cancelled(self) -> None:
        self.bar.setFormat("cancelled")
        self.stage_label.setText("Cancelled")
        self.bundle_view.show_cancelled()

    def _export_ended(self) -> None:
        self.export_job = None
        self._update_export_state()
        QTimer.singleShot(0, lambda: self.right_scroll.verticalScrollBar().setValue(0))  # the outcome in view
