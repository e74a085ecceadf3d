"""EdgeSlim's main window: workflow sidebar, stacked pages, menus, status bar and job bar.

Model → Data → Compress → Explore → Export, one page each. Long work goes
through ``self.jobs`` (:class:`gui.jobs.controller.JobController`: typed
requests in, typed events back on the GUI thread); the window itself only
opens things and routes what comes back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from core import __version__
from core.app.events import Done, Failed
from core.app.session import Session
from core.app.sources import ModelSource
from core.errors import EdgeSlimError, UntrustedPickleError
from core.store.workspace import DB_NAME
from gui.icons import icon
from gui.job_bar import ElidedLabel, JobBar, short_path
from gui.jobs import loads
from gui.jobs.controller import Job, JobController
from gui.jobs.process import WorkerProcess
from gui.pages.compress_model import RunInputs
from gui.panels.compress_page import CompressPage
from gui.panels.data_page import DataPage
from gui.panels.explore_page import ExplorePage
from gui.panels.export_page import ExportPage
from gui.panels.model_page import ModelPage
from gui.recent import RecentFiles
from gui.style import STYLE_SHEET
from gui.window_menu import build_menu, show_classes
from gui.window_runs import RunActions, app_words, ask_stop, ask_trust

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
_short_path = short_path


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

    PAGES = PAGES
    idle = Signal()  # emitted when the last running job has ended
    first_paint = Signal()

    def __init__(
        self,
        session: Optional[Session] = None,
        settings: Optional[QSettings] = None,
        workspace: Optional[Union[str, Path]] = None,
        persist: bool = True,
        worker: Optional[WorkerProcess] = None,
        headless: bool = False,
    ) -> None:
        super().__init__()
        # headless (screenshots, tests): errors go to self.errors and the status bar, never a modal box that waits
        # for a click; set before the workspace opens, whose error would otherwise block the constructor
        self.setProperty("headless_errors", headless)
        self.session = session or Session()
        self.settings = settings or QSettings("EdgeSlim", "EdgeSlim")
        self.persist = persist  # False for screenshots: nothing of the run is remembered
        # a child process for runs and evaluations, started on first use (tests may share one between windows)
        self.own_worker = worker is None
        self.worker = worker or WorkerProcess()
        self.jobs = JobController(self.worker, self)
        self.actions = RunActions(self)
        self.recent_files = RecentFiles(self.settings, persist)
        self.errors: list[str] = []  # messages shown to the user (kept for tests and the log)
        self.workspace = None  # core.store.workspace.Workspace
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
        self.compress_page = CompressPage(self.session, self.jobs, self.run_inputs, self.show_error)
        self.explore_page = ExplorePage()
        self.export_page = ExportPage(self.session, self.jobs, self.show_error)
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
        self.workspace_label = ElidedLabel("Workspace: —", Qt.TextElideMode.ElideMiddle)  # the full path in its tooltip
        self.target_label = QLabel()
        bar = self.statusBar()
        for i, label in enumerate((self.model_label, self.data_label, self.workspace_label, self.target_label)):
            if i:
                sep = QLabel("·")
                sep.setObjectName("muted")
                bar.addWidget(sep)
            bar.addWidget(label)
        self.job_bar = JobBar(bar, self.jobs)
        self.sidebar.currentRowChanged.connect(lambda i: self.job_bar.set_page(PAGES[i].lower()))
        self.progress, self.job_label, self.cancel_button = self.job_bar.progress, self.job_bar.label, self.job_bar.cancel_button
        self.jobs.started.connect(lambda job: self._update_actions())
        self.jobs.ended.connect(self._job_ended)
        self.session.subscribe(self._update_status)
        self.compress_page.threads.valueChanged.connect(lambda v: self._update_target())
        self.compress_page.run_finished.connect(self._run_finished)
        self.explore_page.export_requested.connect(self.export_run)
        self.explore_page.details_requested.connect(self.show_run_details)
        self.explore_page.classes_requested.connect(lambda run_id: show_classes(self, run_id))
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
        self.model_page.torchvision_requested.connect(lambda name, options: self.load_model(f"torchvision:{name}", **options))
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
        def on_event(event) -> None:
            if isinstance(event, Done):
                self._engine_ready(event.result)
            elif isinstance(event, Failed):
                self.compress_page.techniques_failed(app_words(event.error))
                self.show_error(app_words(event.error))

        return self.jobs.start(loads.techniques_request(), on_event, title="Loading the compression techniques", kind="load")

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
        build_menu(self)

    def _fill_recent(self) -> None:
        self.recent_files.fill(self.recent_menu, self.open_recent)

    def recent(self) -> list[tuple[str, str]]:
        return self.recent_files.entries()

    def add_recent(self, kind: str, path: str) -> None:
        self.recent_files.add(kind, path)

    def clear_recent(self) -> None:
        self.recent_files.clear()

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
        if any(folder.iterdir()) and not (folder / DB_NAME).exists():
            self.show_error(f"{folder} is not empty: choose an empty folder for a new workspace, or open an existing one.")
            return
        self.open_workspace(folder)

    def _dialog_dir(self) -> str:
        for kind, path in self.recent():
            if kind in ("model", "data"):
                return str(Path(path).parent)
        return str(Path.home())

    def show_about(self) -> None:
        QMessageBox.about(self, "About EdgeSlim", loads.about_text(__version__))

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
            self.show_error(exc.for_app())
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
        sources = self.session.sources()
        if sources is None:
            return "Load a model and a dataset first."
        return RunInputs(self.workspace, *sources)

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

            view = SensitivityView(self.session, self.jobs, self.show_error)
            view.apply_requested.connect(self.apply_suggestion)
            if self.compress_page.ready:
                view.set_techniques(self.compress_page.techniques)
            self.explore_page.add_tab(view, "Sensitivity")
            self._sensitivity_view = view
        return self._sensitivity_view

    def apply_suggestion(self, technique: str, params: dict) -> None:
        """A sensitivity suggestion goes into the Compress page's recipe, which is shown so the change is seen."""
        if self.compress_page.apply_suggestion(technique, params):
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
        return self.actions.start_sweep(sweep_toml, executor, inputs)

    def rerun(self, row, trust: bool = False) -> Job:
        """Run a stored run's recipe again on its model and data (nothing reused); trust holds for this run only."""
        return self.actions.rerun(row, trust)

    def _ask_trust(self, spec: str) -> bool:
        return ask_trust(self, spec)

    def _run_finished(self, row) -> None:
        self.explore_page.refresh()
        if row.status == "done":
            self.export_page.show_run(row)

    # ------------------------------------------------------------------ loading

    def load_demo(self) -> None:
        self.load_model("demo")
        self.load_data("demo")

    def load_model(self, spec: str, trust: bool = False, **options) -> Job:
        source = ModelSource(spec, trust=trust, input_shape=self.model_page.input_shape_choice(), **options)  # + the dialog's

        def on_event(event) -> None:
            if isinstance(event, Done):
                self.session.set_model(*event.result, source=source)
                if self.persist:
                    self.settings.setValue("last_model", spec)
                self.add_recent("model", spec)
            elif isinstance(event, Failed) and not event.cancelled:
                if isinstance(event.error, UntrustedPickleError) and not self.property("headless_errors"):
                    if self._ask_trust(spec):
                        self.load_model(spec, trust=True, **options)
                    return
                self.show_error(app_words(event.error))

        return self.jobs.start(loads.model_request(source), on_event, title=f"Loading model {spec}", kind="load")

    def load_data(self, spec: str) -> Job:
        source = self.session.next_data_source(spec)

        def on_event(event) -> None:
            if isinstance(event, Done):
                bundle, report, samples, counts = event.result
                self.session.set_data(bundle, report, source)
                self.data_page.set_samples(samples, counts)
                if self.persist:
                    self.settings.setValue("last_data", spec)
                self.add_recent("data", spec)
            elif isinstance(event, Failed) and not event.cancelled:
                message = app_words(event.error)
                self.data_page.show_failure(spec, message, getattr(event.error, "report", None))
                self.show_error(message)

        return self.jobs.start(loads.data_request(source), on_event, title=f"Loading data {spec}", kind="load")

    def evaluate_baseline(self) -> Optional[Job]:
        return self.actions.evaluate_baseline()

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
            if (path / DB_NAME).exists():
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

    def _job_ended(self, job: Job) -> None:
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
        self.workspace_label.setText(f"Workspace: {ws.path}" if ws else "Workspace: none")
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
        """Quit: running work is asked about, then cancelled and its last events handled before the workspace closes."""
        if not ask_stop(self):
            event.ignore()
            return
        if self.persist:
            self.settings.setValue("geometry", self.saveGeometry())
            self.settings.sync()
        self.compress_page.estimate_timer.stop()
        self.explore_page.stop()
        self.jobs.shutdown(30_000)
        # the jobs' last events are queued: their handlers run now, while the workspace they read is still open
        QCoreApplication.sendPostedEvents(None, QEvent.Type.MetaCall)
        self.compress_page.estimate_timer.stop()  # a handler may have asked for an estimate again
        if self.own_worker:
            self.worker.stop()
        if self.workspace is not None:
            self.workspace.close()
            self.workspace = None
        super().closeEvent(event)
