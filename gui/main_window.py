"""EdgeSlim's main window: workflow sidebar, stacked pages, status and job bar."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QWidget,
)

from core import __version__
from core.errors import UntrustedPickleError
from core.session import Session
from gui import loading
from gui.panels.data_page import DataPage
from gui.panels.model_page import ModelPage
from gui.workers import Job, JobRunner

PAGES = ("Model", "Data")
MODEL_FILTER = "Models (*.pt *.pth *.bin *.pt2 *.ts *.torchscript *.onnx);;All files (*)"


class MainWindow(QMainWindow):
    """Sidebar (workflow steps) + one page per step; long work goes through ``self.jobs``."""

    idle = Signal()  # emitted when the last running job has ended

    def __init__(self, session: Optional[Session] = None, settings: Optional[QSettings] = None) -> None:
        super().__init__()
        self.session = session or Session()
        self.settings = settings or QSettings("EdgeSlim", "EdgeSlim")
        self.jobs = JobRunner(self)
        self.errors: list[str] = []  # messages shown to the user (kept for tests and the log)
        self.setWindowTitle("EdgeSlim — compress vision models for embedded devices")
        self.resize(1200, 780)

        self.sidebar = QListWidget()
        self.sidebar.addItems(PAGES)
        self.sidebar.setFixedWidth(150)
        self.sidebar.setObjectName("sidebar")
        self.stack = QStackedWidget()
        self.model_page = ModelPage(self.session)
        self.data_page = DataPage(self.session)
        self.stack.addWidget(self.model_page)
        self.stack.addWidget(self.data_page)
        self.sidebar.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.sidebar.setCurrentRow(0)
        central = QWidget()
        row = QHBoxLayout(central)
        row.addWidget(self.sidebar)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.model_label = QLabel("Model: —")
        self.data_label = QLabel("Data: —")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(260)
        self.progress.setVisible(False)
        self.job_label = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.jobs.cancel_all)
        bar = self.statusBar()
        bar.addWidget(self.model_label)
        bar.addWidget(self.data_label)
        bar.addPermanentWidget(self.job_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        self.jobs.started.connect(self._job_started)
        self.jobs.ended.connect(self._job_ended)
        self.session.subscribe(self._update_status)

        self._build_menu()
        self.model_page.open_button.clicked.connect(self.open_model_dialog)
        self.model_page.demo_button.clicked.connect(lambda: self.load_model("demo"))
        self.data_page.folder_button.clicked.connect(self.open_data_dialog)
        self.data_page.demo_button.clicked.connect(lambda: self.load_data("demo"))
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    # ------------------------------------------------------------------ menu and dialogs

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction("Open &model…", self.open_model_dialog)
        file_menu.addAction("Open &dataset folder…", self.open_data_dialog)
        file_menu.addAction("Load the &demo", self.load_demo)
        file_menu.addSeparator()
        file_menu.addAction("&Quit", self.close)
        run_menu = self.menuBar().addMenu("&Run")
        run_menu.addAction("&Cancel running work", self.jobs.cancel_all)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("&About EdgeSlim", self.show_about)

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model", str(Path.home()), MODEL_FILTER)
        if path:
            self.load_model(path)

    def open_data_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open an image folder (one sub-folder per class)", str(Path.home()))
        if path:
            self.load_data(path)

    def show_about(self) -> None:
        QMessageBox.about(self, "About EdgeSlim", loading.about_text(__version__))

    def show_error(self, message: str, exc: object = None) -> None:
        self.errors.append(message)
        if self.property("headless_errors"):
            self.statusBar().showMessage(message, 15000)
            return
        QMessageBox.warning(self, "EdgeSlim", message)

    # ------------------------------------------------------------------ loading

    def load_demo(self) -> None:
        self.load_model("demo")
        self.load_data("demo")

    def load_model(self, spec: str, trust: bool = False) -> Job:
        job = Job(f"Loading model {spec}", lambda p, c: loading.load_model(spec, trust, p, c))
        job.signals.finished.connect(lambda out: self.session.set_model(*out))
        job.signals.failed.connect(lambda msg, exc: self._model_failed(spec, msg, exc))
        return self.jobs.start(job)

    def _model_failed(self, spec: str, message: str, exc: object) -> None:
        if isinstance(exc, UntrustedPickleError) and not self.property("headless_errors"):
            answer = QMessageBox.question(
                self,
                "Trust this file?",
                f"{Path(spec).name} is a full Python pickle. Loading it runs code stored in the file, "
                "which can do anything your user account can.\n\nLoad it only if you trust where it came from. "
                "Load it now?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer == QMessageBox.StandardButton.Yes:
                self.load_model(spec, trust=True)
            return
        self.show_error(message)

    def load_data(self, spec: str) -> Job:
        job = Job(f"Loading data {spec}", lambda p, c: loading.load_data(spec, p, c))
        job.signals.finished.connect(self._data_loaded)
        job.signals.failed.connect(self.show_error)
        return self.jobs.start(job)

    def _data_loaded(self, out) -> None:
        bundle, report, samples = out
        self.session.set_data(bundle, report)
        self.data_page.set_samples(samples)

    # ------------------------------------------------------------------ job bar and status

    def _job_started(self, job: Job) -> None:
        job.signals.progress.connect(self._job_progress)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.job_label.setText(job.title)

    def _job_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.job_label.setText(message)

    def _job_ended(self, job: Job) -> None:
        if not self.jobs.active:
            self.progress.setVisible(False)
            self.cancel_button.setVisible(False)
            self.job_label.setText("")
            self.idle.emit()

    def _update_status(self, name: str) -> None:
        m, d = self.session.model, self.session.data
        self.model_label.setText(f"Model: {m.name if m else '—'}")
        self.data_label.setText(f"Data: {d.name if d else '—'}")

    def show_page(self, name: str) -> None:
        self.sidebar.setCurrentRow([p.lower() for p in PAGES].index(name.lower()))

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.settings.setValue("geometry", self.saveGeometry())
        self.jobs.cancel_all()
        self.jobs.wait(10_000)
        super().closeEvent(event)
