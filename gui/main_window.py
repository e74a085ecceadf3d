"""EdgeSlim's main window: workflow sidebar, stacked pages, menus, status bar and job bar.

Model → Data → Compress → Explore → Export, one page each. Long work goes
through ``self.jobs`` (a worker thread per job, results back as queued
signals); the window itself only opens things and routes what comes back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from PySide6.QtCore import QEvent, QObject, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QWidget,
)

from core import __version__
from core.errors import EdgeSlimError, UntrustedPickleError
from core.app.session import Session
from gui import loading
from gui.icons import icon
from gui.panels.compress_page import CompressPage, RunInputs
from gui.panels.data_page import DataPage
from gui.panels.explore_page import ExplorePage
from gui.panels.export_page import ExportPage
from gui.panels.model_page import ModelPage
from gui.style import STYLE_SHEET
from gui.run_process import RunWorker, request_payload
from gui.workers import Job, JobRunner

PAGES = ("Model", "Data", "Compress", "Explore", "Export")
PAGE_TIPS = (
    "Open a model and see it layer by layer",
    "Open a dataset: samples, classes and splits",
    "Build a recipe of compression steps and run it",
    "Accuracy against size, latency and MACs for every run; sweeps and per-layer sensitivity",
    "Check a model against a device and write a verified bundle",
)
MODEL_FILTER = "Models (*.pt *.pth *.bin *.pt2 *.ts *.torchscript *.onnx);;All files (*)"
MODEL_SUFFIXES = {".pt", ".pth", ".bin", ".pt2", ".ts", ".torchscript", ".onnx"}
RECENT_MAX = 12
RECENT_KINDS = {"model": "Model", "data": "Dataset", "workspace": "Workspace"}
LOAD_OPTION_KEYS = ("arch", "num_classes", "weights", "trust", "input_shape", "preset", "image_size")


def _short_path(text: str, keep: int = 42) -> str:
    return text if len(text) <= keep else "…" + text[-(keep - 1):]


class _FirstPaint(QObject):
    """Calls ``callback`` once, on the window's first paint."""

    def __init__(self, window: QWidget, callback) -> None:
        super().__init__(window)
        self.callback = callback
        window.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() in (QEvent.Type.Paint, QEvent.Type.Expose) and self.callback is not None:
            callback, self.callback = self.callback, None
            QTimer.singleShot(0, callback)
        return False


class MainWindow(QMainWindow):
    """Sidebar (workflow steps) + one page per step; long work goes through ``self.jobs``."""

    idle = Signal()  # emitted when the last running job has ended
    first_paint = Signal()

    def __init__(
        self,
        session: Optional[Session] = None,
        settings: Optional[QSettings] = None,
        workspace: Optional[Union[str, Path]] = None,
        persist: bool = True,
        worker: Optional[RunWorker] = None,
        headless: bool = False,
    ) -> None:
        super().__init__()
        # headless (screenshots, tests): errors go to self.errors and the status bar, never a modal box that waits
        # for a click; set before the workspace opens, whose error would otherwise block the constructor
        self.setProperty("headless_errors", headless)
        self.session = session or Session()
        self.settings = settings or QSettings("EdgeSlim", "EdgeSlim")
        self.persist = persist  # False for screenshots: nothing of the run is remembered
        self.jobs = JobRunner(self)
        # a child process for runs and evaluations, started on first use (tests may share one between windows)
        self.own_worker = worker is None
        self.worker = worker or RunWorker()
        self.errors: list[str] = []  # messages shown to the user (kept for tests and the log)
        self.workspace = None  # core.store.workspace.Workspace
        self.model_options: dict = {}  # how the current model was opened (trust, …), stored with each run
        self.first_start = self.settings.value("workspace") is None  # no workspace yet: open on the demo
        self.setWindowTitle("EdgeSlim — compress vision models for embedded devices")
        self.setWindowIcon(icon("app"))
        self.setStyleSheet(STYLE_SHEET)
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        _FirstPaint(self, self.first_paint.emit)

        # ------------------------------------------------------------------ pages
        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setIconSize(QSize(24, 24))
        self.sidebar.setFixedWidth(158)
        self.sidebar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for name, tip in zip(PAGES, PAGE_TIPS):
            item = QListWidgetItem(icon(name.lower()), name)
            item.setToolTip(tip)
            self.sidebar.addItem(item)
        self.stack = QStackedWidget()
        self.model_page = ModelPage(self.session)
        self.data_page = DataPage(self.session)
        self.compress_page = CompressPage(self.session, self.jobs, self.run_inputs, self.show_error, self.worker)
        self.explore_page = ExplorePage()
        self.export_page = ExportPage(self.session, self.jobs, self.worker, self.show_error)
        for page in (self.model_page, self.data_page, self.compress_page, self.explore_page, self.export_page):
            self.stack.addWidget(page)
        self.sidebar.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.sidebar.setCurrentRow(0)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 6, 0)
        row.setSpacing(6)
        row.addWidget(self.sidebar)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        # ------------------------------------------------------------------ status and job bar
        self.model_label = QLabel("Model: —")
        self.data_label = QLabel("Data: —")
        self.workspace_label = QLabel("Workspace: —")
        self.target_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(220)
        self.progress.setVisible(False)
        self.job_label = QLabel("")
        self.job_label.setMaximumWidth(360)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.setToolTip("Cancel the running work")
        self.cancel_button.clicked.connect(self.jobs.cancel_all)
        bar = self.statusBar()
        for i, label in enumerate((self.model_label, self.data_label, self.workspace_label, self.target_label)):
            if i:
                sep = QLabel("·")
                sep.setObjectName("muted")
                bar.addWidget(sep)
            bar.addWidget(label)
        bar.addPermanentWidget(self.job_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        self._job_fraction: dict[int, float] = {}
        self.jobs.started.connect(self._job_started)
        self.jobs.ended.connect(self._job_ended)
        self.session.subscribe(self._update_status)
        self.compress_page.threads.valueChanged.connect(lambda v: self._update_target())
        self.compress_page.run_finished.connect(self._run_finished)
        self.explore_page.export_requested.connect(self.export_run)
        self.explore_page.details_requested.connect(self.show_run_details)
        self.explore_page.compare_requested.connect(self.compare_runs)
        self.explore_page.rerun_requested.connect(self.rerun)
        self.explore_page.sweep_requested.connect(self.open_sweep_dialog)
        self._sensitivity_view = None  # built after the first paint, with the Explore plot (both import pyqtgraph)
        self.first_paint.connect(lambda: QTimer.singleShot(0, self._build_plots))  # after the other first-paint slots
        self._restore_target()
        self.explore_page.target_changed.connect(self._target_changed)
        self.dialogs: list = []  # open non-modal dialogs (details, comparisons), kept alive until closed
        self.compress_page.changed.connect(self._update_actions)
        self._update_target()

        self._build_menu()
        self.model_page.open_button.clicked.connect(self.open_model_dialog)
        self.model_page.demo_button.clicked.connect(lambda: self.load_model("demo"))
        self.model_page.torchvision_requested.connect(lambda name: self.load_model(f"torchvision:{name}"))
        self.model_page.evaluate_button.clicked.connect(self.evaluate_baseline)
        self.data_page.folder_button.clicked.connect(self.open_data_dialog)
        self.data_page.demo_button.clicked.connect(lambda: self.load_data("demo"))
        self.data_page.dataset_requested.connect(self.load_data)
        geometry = self.settings.value("geometry")
        if geometry is not None and self.persist:
            self.restoreGeometry(geometry)
        self.open_workspace(workspace if workspace is not None else self._initial_workspace())

    # ------------------------------------------------------------------ start-up

    def _initial_workspace(self) -> Path:
        saved = self.settings.value("workspace")
        if saved:
            return Path(str(saved))
        from core.store.workspace import default_workspace

        return default_workspace()

    def start(self, model: Optional[str] = None, data: Optional[str] = None, demo: bool = False) -> None:
        """Load the engine's technique list and the first model and data (off the GUI thread).

        On first start, or with ``demo``, that is the demo; otherwise what was
        open last time (falling back to the demo).
        """
        self.load_techniques()
        if demo or self.first_start:
            model, data = model or "demo", data or "demo"
        elif model is None and data is None:
            model = str(self.settings.value("last_model") or "demo")
            data = str(self.settings.value("last_data") or "demo")
        if model:
            self.load_model(model)
        if data:
            self.load_data(data)

    def load_techniques(self) -> Job:
        job = Job("Loading the compression techniques", loading.load_techniques, kind="load")
        job.signals.finished.connect(self._engine_ready)
        job.signals.failed.connect(lambda msg, exc: (self.compress_page.techniques_failed(msg), self.show_error(msg)))
        return self.jobs.start(job)

    def _engine_ready(self, techniques: list) -> None:
        import gc

        # torch, ONNX and friends leave ~400 k long-lived objects; a full garbage collection scanning them
        # pauses the GUI thread for 200-300 ms. Freezing moves them out of the collector's way for good.
        gc.freeze()
        self.compress_page.set_techniques(techniques)
        self.explore_page.set_families({t.name: t.family for t in techniques})
        self.sensitivity_view.set_techniques(techniques)

    # ------------------------------------------------------------------ menu and dialogs

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction("Open &model…", QKeySequence.StandardKey.Open, self.open_model_dialog)
        file_menu.addAction("Open &dataset folder…", QKeySequence("Ctrl+D"), self.open_data_dialog)
        file_menu.addAction("Load the d&emo model and data", self.load_demo)
        file_menu.addSeparator()
        file_menu.addAction("Open &recipe…", lambda: (self.show_page("compress"), self.compress_page.open_recipe()))
        file_menu.addAction("&Save recipe…", QKeySequence.StandardKey.Save, lambda: (self.show_page("compress"), self.compress_page.save_recipe()))
        file_menu.addSeparator()
        file_menu.addAction("Open &workspace…", self.open_workspace_dialog)
        file_menu.addAction("&New workspace…", self.new_workspace_dialog)
        self.recent_menu = file_menu.addMenu("Recen&t")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._fill_recent()
        file_menu.addSeparator()
        file_menu.addAction("&Quit", QKeySequence.StandardKey.Quit, self.close)
        run_menu = self.menuBar().addMenu("&Run")
        self.run_action = QAction(icon("run"), "&Run recipe", self)
        self.run_action.setShortcut(QKeySequence("Ctrl+R"))
        self.run_action.triggered.connect(self.run_recipe)
        run_menu.addAction(self.run_action)
        self.cancel_action = QAction(icon("stop"), "&Cancel running work", self)
        self.cancel_action.setShortcut(QKeySequence("Ctrl+."))
        self.cancel_action.triggered.connect(self.jobs.cancel_all)
        self.cancel_action.setEnabled(False)
        run_menu.addAction(self.cancel_action)
        run_menu.addSeparator()
        run_menu.addAction("&Evaluate baseline", self.evaluate_baseline)
        view_menu = self.menuBar().addMenu("&Go")
        for i, name in enumerate(PAGES):
            view_menu.addAction(icon(name.lower()), name, QKeySequence(f"Ctrl+{i + 1}"), lambda i=i: self.sidebar.setCurrentRow(i))
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("&About EdgeSlim", self.show_about)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        entries = self.recent()
        if not entries:
            self.recent_menu.addAction("(nothing yet)").setEnabled(False)
            return
        for kind, path in entries:
            self.recent_menu.addAction(f"{RECENT_KINDS.get(kind, kind)}: {_short_path(path, 60)}", lambda k=kind, p=path: self.open_recent(k, p))
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear the list", self.clear_recent)

    def recent(self) -> list[tuple[str, str]]:
        raw = self.settings.value("recent") or []
        if isinstance(raw, str):
            raw = [raw]
        out = []
        for entry in raw:
            kind, _, path = str(entry).partition("\t")
            if kind in RECENT_KINDS and path:
                out.append((kind, path))
        return out

    def add_recent(self, kind: str, path: str) -> None:
        if not self.persist or path == "demo":
            return
        entries = [(k, p) for k, p in self.recent() if (k, p) != (kind, path)]
        entries.insert(0, (kind, path))
        self.settings.setValue("recent", [f"{k}\t{p}" for k, p in entries[:RECENT_MAX]])

    def clear_recent(self) -> None:
        self.settings.setValue("recent", [])

    def open_recent(self, kind: str, path: str) -> None:
        if kind == "model":
            self.load_model(path)
        elif kind == "data":
            self.load_data(path)
        else:
            self.open_workspace(path)

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model", self._dialog_dir(), MODEL_FILTER)
        if path:
            self.load_model(path)

    def open_data_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open an image folder (one sub-folder per class)", self._dialog_dir())
        if path:
            self.load_data(path)

    def open_workspace_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a workspace folder", str(self.workspace.path if self.workspace else Path.home()))
        if path:
            self.open_workspace(path)

    def new_workspace_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the new workspace", str(Path.home()))
        if not path:
            return
        folder = Path(path)
        if any(folder.iterdir()) and not (folder / "edgeslim.sqlite").exists():
            self.show_error(f"{folder} is not empty: choose an empty folder for a new workspace, or open an existing one.")
            return
        self.open_workspace(folder)

    def _dialog_dir(self) -> str:
        for kind, path in self.recent():
            if kind in ("model", "data"):
                return str(Path(path).parent)
        return str(Path.home())

    def show_about(self) -> None:
        QMessageBox.about(self, "About EdgeSlim", loading.about_text(__version__))

    def show_error(self, message: str, exc: object = None) -> None:
        self.errors.append(message)
        self.statusBar().showMessage(message, 15000)
        if self.property("headless_errors"):
            return
        QMessageBox.warning(self, "EdgeSlim", message)

    def show_page(self, name: str) -> None:
        self.sidebar.setCurrentRow([p.lower() for p in PAGES].index(name.lower()))

    def current_page(self) -> str:
        return PAGES[self.sidebar.currentRow()].lower()

    # ------------------------------------------------------------------ workspace

    def open_workspace(self, path: Union[str, Path], remember: bool = True) -> bool:
        from core.store.workspace import Workspace

        try:
            ws = Workspace(path)
        except EdgeSlimError as exc:
            self.show_error(str(exc))
            self._update_status("workspace")
            return False
        if self.workspace is not None:
            self.workspace.close()
        self.workspace = ws
        if remember and self.persist:
            self.settings.setValue("workspace", str(ws.path))
            self.add_recent("workspace", str(ws.path))
        if ws.interrupted:
            self.statusBar().showMessage(
                f"{len(ws.interrupted)} run(s) in this workspace were interrupted; resume them with edgeslim-cli runs resume", 15000)
        self.explore_page.set_workspace(ws)
        self.export_page.set_workspace(ws)
        self.compress_page.show_latest(ws)
        self._update_status("workspace")
        self.compress_page.update_run_state()
        return True

    def run_inputs(self) -> Union[RunInputs, str]:
        """What a run needs, or why it cannot start."""
        if self.workspace is None:
            return "Open a workspace first (File ▸ Open workspace)."
        model, data = self.session.model, self.session.data
        if model is None or data is None:
            return "Load a model and a dataset first."
        if self.session.mismatches:  # found as soon as both were loaded, fix in the app's words
            return self.session.mismatch_text()
        return RunInputs(self.workspace, model.spec, data.spec, self.load_options())

    def load_options(self) -> dict:
        """How the current model and data were opened, in the form runs store (as ``edgeslim-cli run`` does)."""
        lo = {k: None for k in LOAD_OPTION_KEYS}
        lo.update(self.model_options)
        lo.update(self.session.data_options())  # image size and labels file chosen on the Data page
        return lo

    def run_recipe(self) -> None:
        self.show_page("compress")
        self.compress_page.run()

    # ------------------------------------------------------------------ runs from the Explore page

    def export_run(self, row) -> None:
        self.export_page.show_run(row)
        self.show_page("export")

    def _open_dialog(self, dialog) -> None:
        self.dialogs.append(dialog)
        dialog.finished.connect(lambda _: self.dialogs.remove(dialog) if dialog in self.dialogs else None)
        dialog.show()

    def show_run_details(self, row) -> None:
        from gui.dialogs.run_dialogs import RunDetailsDialog

        self._open_dialog(RunDetailsDialog(self.workspace.get_run(row.id), self))

    def compare_runs(self, a, b) -> None:
        from gui.dialogs.run_dialogs import CompareDialog

        self._open_dialog(CompareDialog(a, b, self))

    def _build_plots(self) -> None:
        self.explore_page.build_plot()
        _ = self.sensitivity_view

    @property
    def sensitivity_view(self):
        """The Explore page's Sensitivity tab (a :class:`gui.panels.sensitivity_view.SensitivityView`), made on first use."""
        if self._sensitivity_view is None:
            from gui.panels.sensitivity_view import SensitivityView

            view = SensitivityView(self.session, self.jobs, self.worker, self.show_error, self.load_options)
            view.apply_requested.connect(self.apply_suggestion)
            if self.compress_page.ready:
                view.set_techniques(self.compress_page.techniques)
            self.explore_page.add_tab(view, "Sensitivity")
            self._sensitivity_view = view
        return self._sensitivity_view

    def apply_suggestion(self, technique: str, params: dict) -> None:
        """A sensitivity suggestion goes into the Compress page's recipe, which is shown so the change is seen."""
        self.compress_page.apply_suggestion(technique, params)
        self.show_page("compress")
        self.statusBar().showMessage(f"applied the suggested {technique} settings to the recipe", 8000)

    def open_sweep_dialog(self) -> None:
        """Sweep the Compress page's recipe: the dialog picks what to vary, then the sweep runs in the worker."""
        from core.errors import EdgeSlimError
        from gui.dialogs.sweep_dialog import SweepDialog

        if not self.compress_page.ready:
            self.show_error("The compression techniques are still loading: open the sweep dialog again in a moment.")
            return
        blocker = self.run_inputs()
        if isinstance(blocker, str):
            self.show_error(blocker)
            return
        try:
            dialog = SweepDialog(self.compress_page.current_recipe_toml(), self.compress_page.techniques, self)
        except EdgeSlimError as exc:
            self.show_error(f"The recipe on the Compress page has a problem, so it cannot be swept: {exc}")
            return
        dialog.accepted.connect(lambda: self.start_sweep(dialog.sweep_toml(), dialog.executor()))
        self._open_dialog(dialog)

    def start_sweep(self, sweep_toml: str, executor: dict, inputs: Optional[RunInputs] = None) -> Optional[Job]:
        """Run a sweep on the current model and data; each finished trial appears on the Explore page at once."""
        from core.pipeline.runner import RunOptions
        from gui.sweep_job import make_sweep_job, sweep_payload

        inputs = inputs or self.run_inputs()
        if isinstance(inputs, str):
            self.show_error(inputs)
            return None
        page = self.compress_page
        repeats = page.repeats.value()
        options = RunOptions(threads=page.threads.value(), repeats=repeats, warmup=min(10, max(2, repeats // 5)))
        payload = sweep_payload(sweep_toml, executor, inputs.workspace.path, inputs.model_spec, inputs.data_spec,
                                inputs.load_options, options)
        job = make_sweep_job(self.worker, payload)
        job.signals.event.connect(lambda kind, data: self._sweep_event(kind, data))
        job.signals.finished.connect(self._sweep_finished)
        job.signals.failed.connect(lambda msg, exc: self.show_error(msg))
        job.signals.cancelled.connect(self.explore_page.refresh)
        self.show_page("explore")
        return self.jobs.start(job)

    def _sweep_event(self, kind: str, data) -> None:
        if kind == "trial":
            self.explore_page.refresh_if_changed()  # the trial's run is committed by the worker before it is reported
            if data.get("run_id"):
                self.explore_page.select_run(int(data["run_id"]))

    def _sweep_finished(self, outcome: dict) -> None:
        self.explore_page.refresh()
        trials = outcome.get("trials") or []
        done = sum(1 for t in trials if t.get("status") == "done")
        front = ", ".join(f"#{i}" for i in outcome.get("front") or []) or "none"
        self.statusBar().showMessage(f"sweep {outcome.get('name', '')} {outcome.get('status')}: {done} of {len(trials)} trials done; "
                                     f"Pareto front {front}", 15000)

    def rerun(self, row, trust: bool = False) -> Job:
        """Run a stored run's recipe again on its model and data (nothing reused), in the worker process.

        ``trust`` (a full-pickle model the user confirmed) holds for this run only: it is never stored.
        """
        ws, worker = self.workspace, self.worker
        path = str(ws.path)

        def work(progress, cancel):
            from core.app.execute import RunRequest

            request = RunRequest.from_row(row, trust=trust)
            payload = {"workspace": path, "request": request_payload(request), "reuse": False,
                       "model_spec": request.model_spec, "data_spec": request.data_spec}
            return worker.execute("run", payload, progress=progress, cancel=cancel)

        job = Job(f"Running #{row.id} {row.name} again", work, kind="run")
        job.signals.finished.connect(lambda done: (self.explore_page.refresh(), self.explore_page.select_run(done["run_id"]),
                                                   self.statusBar().showMessage(f"run #{done['run_id']} stored ({done['status']})", 8000)))
        job.signals.failed.connect(lambda msg, exc: self._rerun_failed(row, trust, msg))
        job.signals.cancelled.connect(self.explore_page.refresh)
        return self.jobs.start(job)

    def _rerun_failed(self, row, trust: bool, message: str) -> None:
        # the worker process sends the message, not the exception's type: UntrustedPickleError is known by its words
        if not trust and "is a full pickle" in message:
            if self._ask_trust(row.model_spec):
                self.rerun(row, trust=True)
            return
        self.show_error(message)

    def _ask_trust(self, spec: str) -> bool:
        """Whether the user trusts a full-pickle model file (loading it runs code from it); never asked headless."""
        if self.property("headless_errors"):
            return False
        answer = QMessageBox.question(
            self,
            "Trust this file?",
            f"{Path(spec).name} is a full Python pickle. Loading it runs code stored in the file, "
            "which can do anything your user account can.\n\nLoad it only if you trust where it came from. "
            "Load it now?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _run_finished(self, row) -> None:
        self.explore_page.refresh()
        if row.status == "done":
            self.export_page.show_run(row)

    # ------------------------------------------------------------------ loading

    def load_demo(self) -> None:
        self.load_model("demo")
        self.load_data("demo")

    def load_model(self, spec: str, trust: bool = False) -> Job:
        job = Job(f"Loading model {spec}", lambda p, c: loading.load_model(spec, trust, p, c), kind="load")
        job.signals.finished.connect(lambda out: self._model_loaded(spec, trust, out))
        job.signals.failed.connect(lambda msg, exc: self._model_failed(spec, msg, exc))
        return self.jobs.start(job)

    def _model_loaded(self, spec: str, trust: bool, out) -> None:
        self.model_options = {"trust": True} if trust else {}
        self.session.set_model(*out)
        if self.persist:
            self.settings.setValue("last_model", spec)
        self.add_recent("model", spec)

    def _model_failed(self, spec: str, message: str, exc: object) -> None:
        if isinstance(exc, UntrustedPickleError) and not self.property("headless_errors"):
            if self._ask_trust(spec):
                self.load_model(spec, trust=True)
            return
        self.show_error(message)

    def load_data(self, spec: str) -> Job:
        size = self.session.image_size
        job = Job(f"Loading data {spec}", lambda p, c: loading.load_data(spec, p, c, size), kind="load")
        job.signals.finished.connect(lambda out: self._data_loaded(spec, out))
        job.signals.failed.connect(lambda msg, exc: self._data_failed(spec, msg, exc))
        return self.jobs.start(job)

    def _data_loaded(self, spec: str, out) -> None:
        bundle, report, samples, counts = out
        self.session.set_data(bundle, report)
        self.data_page.set_samples(samples, counts)
        if self.persist:
            self.settings.setValue("last_data", spec)
        self.add_recent("data", spec)

    def _data_failed(self, spec: str, message: str, exc: object) -> None:
        self.data_page.show_failure(spec, message, getattr(exc, "report", None))
        self.show_error(message)

    def evaluate_baseline(self) -> Optional[Job]:
        model, data = self.session.model, self.session.data
        if model is None or data is None:
            self.show_error("Load a model and a dataset first: the baseline is measured on the dataset's validation split.")
            return None
        from core.pipeline.runner import RunOptions
        from core.app.execute import RunRequest

        threads = self.compress_page.threads.value()
        request = RunRequest("", model.spec, data.spec, self.load_options(), RunOptions(threads=threads))
        payload = {"request": request_payload(request), "threads": threads, "repeats": 30, "warmup": 5,
                   "model_spec": model.spec, "data_spec": data.spec}
        worker = self.worker
        job = Job(f"Evaluating {model.name}", lambda p, c: worker.execute("evaluate", payload, progress=p, cancel=c), kind="evaluate")
        self.model_page.evaluation_started()
        job.signals.progress.connect(self.model_page.evaluation_progress)
        job.signals.finished.connect(lambda metrics, m=model: self.model_page.evaluation_done(m, metrics))
        job.signals.failed.connect(lambda msg, exc: (self.model_page.evaluation_failed(msg), self.show_error(msg)))
        job.signals.cancelled.connect(lambda: self.model_page.evaluation_failed("cancelled"))
        return self.jobs.start(job)

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if self._dropped_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt name)
        paths = self._dropped_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        for path in paths:
            self.open_path(path)

    @staticmethod
    def _dropped_paths(mime) -> list[Path]:
        if mime is None or not mime.hasUrls():
            return []
        return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]

    def open_path(self, path: Path) -> None:
        """Open whatever ``path`` is: a dataset folder, a workspace folder, a recipe, or a model file."""
        if path.is_dir():
            if (path / "edgeslim.sqlite").exists():
                self.open_workspace(path)
            else:
                self.show_page("data")
                self.load_data(str(path))
        elif path.suffix.lower() == ".toml":
            self.show_page("compress")
            if self.compress_page.ready:
                self.compress_page.open_recipe(path)
            else:
                self.show_error("The compression techniques are still loading: drop the recipe again in a moment.")
        elif path.is_file():
            self.show_page("model")
            self.load_model(str(path))
        else:
            self.show_error(f"{path} does not exist.")

    # ------------------------------------------------------------------ job bar and status

    def _job_started(self, job: Job) -> None:
        self._update_actions()
        if job.quiet:
            return
        job.signals.progress.connect(lambda f, m, j=job: self._job_progress(j, f, m))
        self._job_fraction[id(job)] = 0.0
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.job_label.setText(job.title)
        self._show_job_bar("")

    def _job_progress(self, job: Job, fraction: float, message: str) -> None:
        if id(job) not in self._job_fraction:
            return
        self._job_fraction[id(job)] = fraction
        self.job_label.setText(_short_path(message, 60) if message else job.title)
        self._show_job_bar(message)

    def _show_job_bar(self, message: str) -> None:
        if message.startswith("starting the engine") or not self._job_fraction:
            self.progress.setRange(0, 0)  # busy: importing PyTorch reports nothing until done
            return
        self.progress.setRange(0, 1000)
        fractions = list(self._job_fraction.values())
        self.progress.setValue(int(1000 * sum(fractions) / len(fractions)))

    def _job_ended(self, job: Job) -> None:
        self._job_fraction.pop(id(job), None)
        if not self._job_fraction:
            self.progress.setVisible(False)
            self.cancel_button.setVisible(False)
            self.job_label.setText("")
        self._update_actions()
        if not self.jobs.active:
            self.idle.emit()

    def _update_actions(self) -> None:
        self.cancel_action.setEnabled(bool(self.jobs.active))
        self.run_action.setEnabled(self.compress_page.ready and self.compress_page.run_job is None)

    def _update_status(self, name: str) -> None:
        m, d = self.session.model, self.session.data
        self.model_label.setText(f"Model: <b>{m.name}</b>" if m else "Model: —")
        self.model_label.setToolTip(str(m.file_path or m.spec) if m else "")
        self.data_label.setText(f"Data: <b>{d.name}</b>" if d else "Data: —")
        self.data_label.setToolTip(str(d.spec) if d else "")
        ws = self.workspace
        self.workspace_label.setText(f"Workspace: {_short_path(str(ws.path), 36)}" if ws else "Workspace: none")
        self.workspace_label.setToolTip(str(ws.path) if ws else "Open a workspace with File ▸ Open workspace")

    def _restore_target(self) -> None:
        if not self.persist:
            return
        latency = self.settings.value("latency_budget_ms")
        try:
            self.explore_page.latency_budget.setValue(float(latency or 0))
        except (TypeError, ValueError):
            pass
        self.explore_page.set_target(self.settings.value("target") or None)
        self.export_page.set_target(self.settings.value("target") or None)

    def _target_changed(self, budgets) -> None:
        name = self.explore_page.target_combo.currentData()
        if name:
            self.export_page.set_target(name)
        if self.persist:
            self.settings.setValue("target", self.explore_page.target_combo.currentData() or "")
            self.settings.setValue("latency_budget_ms", budgets.latency_ms or 0.0)
        self._update_target()

    def _update_target(self) -> None:
        threads = self.compress_page.threads.value()
        budgets = self.explore_page.budgets
        device = f"Target: <b>{budgets.label}</b> · " if budgets.label else "Target: none · "
        self.target_label.setText(f"{device}measured on this CPU, ONNX Runtime, {threads} thread{'s' if threads != 1 else ''}, batch 1")
        self.target_label.setToolTip("The device whose budgets the Explore page draws (choose it there), and how latency is "
                                     "measured here. The Export page checks a model against any device profile.")

    def is_busy(self) -> bool:
        return bool(self.jobs.active) or self.compress_page.estimate_pending()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if self.persist:
            self.settings.setValue("geometry", self.saveGeometry())
            self.settings.sync()
        self.compress_page.estimate_timer.stop()
        self.explore_page.stop()
        self.jobs.cancel_all()
        self.jobs.wait(30_000)
        if self.own_worker:
            self.worker.stop()
        if self.workspace is not None:
            self.workspace.close()
            self.workspace = None
        super().closeEvent(event)
