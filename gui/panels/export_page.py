"""Export page: pick a model, a target, a format and a folder; see the fit; write a verified bundle.

The page's rules are Qt-free (:mod:`gui.pages.export_model`); it sends typed
requests (``core.app.export``) to the worker process through the job
controller and draws the events that come back. The fit check runs by itself,
as a quiet job, whenever the choice changes and the page is open (a newer
check replaces one still waiting for the worker, and cancels one running);
the export is a job with progress here and in the status bar, and Cancel. The
page never imports torch or ONNX: the target profiles are read from their TOML
files, and everything else happens in the child.
"""

from __future__ import annotations

import time
from html import escape as html_escape
from pathlib import Path
from typing import Any, Callable, Optional, Union

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
from core.app.events import Done, Failed, Progress
from core.app.export import ExportCheck, ExportFrom, chosen_folder, default_folder, holds_something, out_path
from core.app.session import Session
from core.errors import EdgeSlimError
from gui.icons import icon
from gui.jobs.controller import Job, JobController
from gui.pages import export_model as em
from gui.pages.export_model import FORMAT_PRECISION, PREFERRED_TARGET, bundles_dir
from gui.style import ERROR_COLOUR
from gui.widgets.bundle_view import BundleView
from gui.widgets.export_text import format_text, target_summary
from gui.widgets.fit_view import FitView
from gui.widgets.scroll import hide_when_short, scrolled

__all__ = ["ExportPage", "bundles_dir"]


def _app_words(error: BaseException) -> str:
    return error.for_app() if isinstance(error, EdgeSlimError) else str(error)


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
        jobs: JobController,
        show_error: Callable[[str], None] = lambda message: None,
        parent: Optional[QWidget] = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.jobs, self.show_error = session, jobs, show_error
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
            combo.setMinimumContentsLength(12)
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
        parity_row = QHBoxLayout()  # its own row: beside the buttons it widened the column past a 1024-px window
        parity_row.addWidget(QLabel("Parity check on"))
        parity_row.addWidget(self.parity_spin)
        parity_row.addWidget(QLabel("validation images"))
        parity_row.addStretch(1)
        self.reason_label = _muted()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setFormat("not running")
        self.stage_label = _muted("Not running")
        export_box = QGroupBox("Export")
        el = QVBoxLayout(export_box)
        el.addLayout(buttons)
        el.addLayout(parity_row)
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
        hide_when_short(self, subtitle)

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

    _run_item_text = staticmethod(em.run_item_text)

    def _source(self) -> tuple[str, Optional[int]]:
        return em.parse_source(self.source_combo.currentData())

    def _source_name(self) -> str:
        kind, run_id = self._source()
        if kind == "run" and run_id in self.runs:
            return f"{self.runs[run_id].name}-run{run_id}"
        return self.session.model.name if self.session.model is not None else "model"

    def _describe_source(self) -> None:
        kind, run_id = self._source()
        if kind == "run" and run_id in self.runs:
            self.artifact, text = em.describe_run(self.runs[run_id])
        else:
            self.artifact, text = None, em.describe_model(self.session.model, self.session.data, bool(self.runs))
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

    def source_request(self) -> Union[ExportFrom, str]:
        """What the worker exports for the current choice, or why there is nothing yet."""
        kind, run_id = self._source()
        return em.export_source(kind, run_id, self.workspace, self.session)

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
        """Use ``folder`` itself when it is new, empty or an earlier bundle, else a new folder inside it (core's rule)."""
        t = self.target()
        self.out_edit.setText(str(chosen_folder(Path(folder), self._source_name(), t.name if t else "target")))
        self._out_edited = True

    def out_path(self) -> Optional[Path]:
        return out_path(self.out_edit.text())

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
        elif self.preview is not None and self.fit_view.state == "done":
            self._show_preview()

    def _inputs_changed(self) -> None:
        """The choice changed: the shown verdict and the last bundle's card no longer apply; check again."""
        self.preview = None
        if self.export_job is None:  # the previous bundle's "parity passed" is not about the new choice
            self.bundle_view.setVisible(False)
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

    def check_request(self) -> Union[ExportCheck, str]:
        return em.check_request(self.source_request(), self.target(), self.format_choice())

    def start_check(self) -> Optional[Job]:
        """Check the current choice in the worker; it waits in the worker's queue behind a run or an export."""
        if not self._check_dirty or self.check_job is not None:
            return None
        request = self.check_request()
        if isinstance(request, str):
            self._check_dirty = False
            self.fit_view.show_message("Fit check", request)
            self._update_export_state()
            return None
        self._check_dirty = False
        t = self.target()
        if self.jobs.worker_busy():
            self.fit_view.show_message("Fit check waiting", "The worker is busy with another task (a run or an export); "
                                                            "the check starts when it ends.")
        else:
            self.fit_view.show_busy(f"Making the model file for {t.label} and estimating it…")
        self.check_job = self.jobs.start(request, lambda event: self._check_event(job, event),
                                         title=f"Checking the fit on {t.label}", quiet=True, replace=True)
        job = self.check_job
        self._update_export_state()
        return job

    def _show_preview(self) -> None:
        """The checked estimate and what the profile's boards measured (read again on show: a measurement may be new)."""
        figures = em.device_figures_for(self.workspace, self._source(), self.target(), self.preview)
        self.fit_view.show_preview(self.preview, self.target(), figures)

    def _check_event(self, job: Job, event: Any) -> None:
        if job is not self.check_job:
            return
        if isinstance(event, Progress) and event.message and not job.cancelled:
            self.fit_view.show_busy(event.message[0].upper() + event.message[1:] + "…")
        elif isinstance(event, Done) and not job.cancelled:
            self.preview = event.result
            self._show_preview()
            self._describe_format()
        elif isinstance(event, Failed) and not event.cancelled and not job.cancelled:
            self.fit_view.show_failure(_app_words(event.error))
        if isinstance(event, (Done, Failed)):
            self.check_job = None
            self._update_export_state()

    # ================================================================== export

    def fits(self) -> Optional[bool]:
        return em.fits(self.preview)

    def export_blocker(self) -> str:
        """Why Export is not possible now ("" when it is)."""
        return em.export_blocker(exporting=self.export_job is not None, source=self.source_request(), target=self.target(),
                                 check_pending=self.check_pending(), check_failed=self.fit_view.state == "failed",
                                 preview=self.preview, anyway=self.anyway.isChecked(), out=self.out_path(),
                                 replace=self.replace_box.isChecked())

    def _update_export_state(self) -> None:
        running = self.export_job is not None
        reason = self.export_blocker()
        self.export_button.setEnabled(not reason)
        self.cancel_button.setEnabled(running and not self.export_job.cancelled)
        self.reason_label.setText("" if running else reason)
        self.reason_label.setVisible(bool(reason) and not running)
        self.anyway.setVisible(self.fits() is False)
        self.replace_box.setVisible(holds_something(self.out_path()))
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
        check = self.check_request()
        assert isinstance(check, ExportCheck)
        request = em.export_request(
            check, self.format_choice() or (self.preview or {}).get("format"), self.out_path(),
            replace=self.replace_box.isChecked(), ignore_fit=self.fits() is False and self.anyway.isChecked(),
            parity_samples=self.parity_spin.value(), threads=self.threads, latency_repeats=self.latency_repeats)
        self._export_started = time.monotonic()
        self.bar.setValue(0)
        self.bar.setFormat("%p %")
        self.stage_label.setText("Starting…")
        self.bundle_view.clear("Exporting… The parity results appear here once the bundle is written and checked.")
        self.bundle_view.setVisible(True)
        self.export_job = self.jobs.start(request, self._export_event,
                                          title=f"Exporting {self._source_name()} for {self.target().label}")
        self._update_export_state()
        return self.export_job

    def cancel(self) -> None:
        if self.export_job is not None and not self.export_job.cancelled:
            self.jobs.cancel(self.export_job)
            self.stage_label.setText("Cancelling…")
            self._update_export_state()

    def _export_event(self, event: Any) -> None:
        if isinstance(event, Progress):
            self.bar.setValue(int(1000 * event.fraction))
            if event.message and not (self.export_job and self.export_job.cancelled):
                self.stage_label.setText(event.message[0].upper() + event.message[1:])
            return
        if isinstance(event, Done):
            self.result = event.result
            self.bar.setValue(1000)
            self.stage_label.setText(f"Bundle written in {time.monotonic() - self._export_started:.1f} s")
            self.bundle_view.show_result(event.result)
        elif isinstance(event, Failed) and event.cancelled:
            self.bar.setFormat("cancelled")
            self.stage_label.setText("Cancelled")
            self.bundle_view.show_cancelled()
        elif isinstance(event, Failed):
            self.bar.setFormat("failed")
            self.stage_label.setText("Failed: nothing was written")
            self.bundle_view.show_failure("The bundle was not written", _app_words(event.error))
            if not isinstance(event.error, EdgeSlimError):
                self.show_error(_app_words(event.error))  # unexpected: the log has the traceback
        else:
            return
        self.export_job = None
        self._update_export_state()
        QTimer.singleShot(0, lambda: self.right_scroll.verticalScrollBar().setValue(0))  # the outcome in view
        if self._check_dirty and self.isVisible():
            QTimer.singleShot(0, self.start_check)
