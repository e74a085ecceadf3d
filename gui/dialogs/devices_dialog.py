"""The devices dialog: the user's boards, what each has (Check), and a stored run measured on one (Measure).

A thin view over :class:`gui.pages.devices_model.DevicesModel`: every button
asks the model for the work, hands it to the job controller (a pool thread,
so the window never waits on SSH), and redraws from the model when the
work's events come back. The first connection to a board shows its host key
fingerprint and asks before anything is recorded; a changed key is refused.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, Union

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.app.events import Done, Failed
from core.errors import EdgeSlimError
from gui.jobs.controller import InThread, Job, JobController
from gui.pages.devices_model import MEASUREMENT_HEADERS, DeviceForm, DevicesModel, measurement_row, target_choices
from gui.style import ERROR_COLOUR, STYLE_SHEET
from gui.widgets.scroll import scrolled


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(22)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: list[list[str]], bad: Optional[list[list[bool]]] = None) -> None:
    """Put ``rows`` of text in ``table``; a cell marked in ``bad`` (a missing package) is drawn in the error colour."""
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            if bad is not None and c < len(bad[r]) and bad[r][c]:
                item.setForeground(QColor(ERROR_COLOUR))
            table.setItem(r, c, item)


class DevicesDialog(QDialog):
    """Devices: list, add, remove, check; measure run ``run_id`` of the workspace at ``workspace_path`` on one."""

    def __init__(self, workspace_path: Union[str, Path], run_id: Optional[int] = None, parent: Optional[QWidget] = None,
                 *, jobs: Optional[JobController] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Devices")
        self.setStyleSheet(STYLE_SHEET)
        self.resize(1000, 620)
        self.model = DevicesModel(Path(workspace_path), run_id)
        found = getattr(parent, "jobs", None)
        self.jobs = jobs or (found if isinstance(found, JobController) else JobController(parent=self))
        self.job: Optional[Job] = None
        self.messages: list[str] = []  # every error shown, for tests and the status line
        layout = QHBoxLayout()
        layout.addWidget(self._devices_column(), 0)
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 4, 0)
        column.addWidget(self._check_box())
        column.addWidget(self._measure_box(), 1)
        layout.addWidget(scrolled(right, horizontal=False), 1)
        self.error_label = QLabel(wordWrap=True, objectName="error")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label = QLabel(wordWrap=True, objectName="muted")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        outer = QVBoxLayout(self)
        outer.addLayout(layout, 1)
        outer.addWidget(self.error_label)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status_label, 1)
        bottom.addWidget(buttons)
        outer.addLayout(bottom)
        self._fill_runs()
        self._fill_form()
        self.refresh()

    # ------------------------------------------------------------------ building

    def _devices_column(self) -> QWidget:
        box = QGroupBox("Devices")
        box.setMinimumWidth(320)
        box.setMaximumWidth(400)
        self.device_list = QListWidget()
        self.device_list.setMinimumHeight(90)
        self.device_list.currentItemChanged.connect(self._picked)
        self.name_edit = QLineEdit(placeholderText="pi5")
        self.ssh_edit = QLineEdit(placeholderText="pi@raspberrypi.local")
        self.port_spin = QSpinBox(minimum=1, maximum=65535, value=22)
        self.identity_edit = QLineEdit(placeholderText="ssh-agent and ~/.ssh keys")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse_identity)
        key_row = QHBoxLayout()
        key_row.addWidget(self.identity_edit, 1)
        key_row.addWidget(self.browse_button)
        self.target_combo = QComboBox()
        for name, text in target_choices():
            self.target_combo.addItem(text, name)
        self.target_combo.setMinimumContentsLength(12)
        self.target_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.python_edit = QLineEdit(placeholderText="python3")
        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("SSH login", self.ssh_edit)
        form.addRow("Port", self.port_spin)
        form.addRow("Key file", key_row)
        form.addRow("Target", self.target_combo)
        form.addRow("Python", self.python_edit)
        self.save_button = QPushButton("Add", objectName="primary")
        self.save_button.clicked.connect(self._save)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove)
        self.new_button = QPushButton("New")
        self.new_button.setToolTip("Clear the form to add another device")
        self.new_button.clicked.connect(lambda: self._fill_form(None))
        self.name_edit.textChanged.connect(lambda _: self.refresh())
        row = QHBoxLayout()
        row.addWidget(self.new_button)
        row.addStretch(1)
        row.addWidget(self.remove_button)
        row.addWidget(self.save_button)
        note = QLabel("No passwords are stored: the key file or your ssh-agent is used.", wordWrap=True, objectName="muted")
        layout = QVBoxLayout(box)
        layout.addWidget(self.device_list, 1)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(note)
        return box

    def _check_box(self) -> QWidget:
        box = QGroupBox("What the device has")
        self.check_button = QPushButton("Check")
        self.check_button.setToolTip("Connect over SSH and look for Python, numpy, Pillow and onnxruntime, the CPU and memory")
        self.check_button.clicked.connect(lambda: self._start_check(False))
        self.check_hint = QLabel(wordWrap=True, objectName="muted")
        top = QHBoxLayout()
        top.addWidget(self.check_button)
        top.addWidget(self.check_hint, 1)
        self.host_key = QFrame(objectName="hostKey")
        self.host_key.setStyleSheet("QFrame#hostKey { background: #fff8e1; border: 1px solid #f0d58c; border-radius: 4px; }")
        self.host_key_text = QLabel(wordWrap=True)
        self.host_key_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.trust_button = QPushButton("Trust this board's key")
        self.trust_button.clicked.connect(self._trust)
        self.distrust_button = QPushButton("Don't trust")
        self.distrust_button.clicked.connect(self._distrust)
        keys = QHBoxLayout()
        keys.addStretch(1)
        keys.addWidget(self.distrust_button)
        keys.addWidget(self.trust_button)
        frame = QVBoxLayout(self.host_key)
        frame.addWidget(self.host_key_text)
        frame.addLayout(keys)
        self.check_table = _table(["Looked for", "Found", "Looked for", "Found"])
        header = self.check_table.horizontalHeader()
        for column, mode in enumerate((QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.Stretch) * 2):
            header.setSectionResizeMode(column, mode)  # long values are elided, never pushed out of sight
        self.check_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.check_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.install_edit = QLineEdit(readOnly=True)
        self.install_edit.setToolTip("Run this on the device, then check it again")
        self.copy_button = QPushButton("Copy")
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.install_edit.text()))
        self.install_row = QWidget()
        install = QHBoxLayout(self.install_row)
        install.setContentsMargins(0, 0, 0, 0)
        install.addWidget(QLabel("Missing; run on the device:"))
        install.addWidget(self.install_edit, 1)
        install.addWidget(self.copy_button)
        layout = QVBoxLayout(box)
        layout.addLayout(top)
        layout.addWidget(self.host_key)
        layout.addWidget(self.check_table)
        layout.addWidget(self.install_row)
        return box

    def _measure_box(self) -> QWidget:
        box = QGroupBox("Measure on the device")
        self.run_combo = QComboBox()
        self.run_combo.setMinimumContentsLength(16)
        self.run_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.run_combo.currentIndexChanged.connect(self._run_picked)
        self.runs_spin = QSpinBox(minimum=1, maximum=10_000, value=self.model.options.runs)
        self.runs_spin.setToolTip("Timed runs at batch 1, split into interleaved rounds")
        self.baseline_check = QCheckBox("Baseline too")
        self.baseline_check.setToolTip("Time the run's starting model as well, interleaved, for a fair speed-up")
        self.measure_button = QPushButton("Measure a run", objectName="primary")
        self.measure_button.clicked.connect(self._start_measure)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        controls = QHBoxLayout()
        controls.addWidget(self.run_combo, 1)
        controls.addWidget(QLabel("Timed runs"))
        controls.addWidget(self.runs_spin)
        controls.addWidget(self.baseline_check)
        controls.addWidget(self.measure_button)
        self.progress_bar = QProgressBar(minimum=0, maximum=1000, textVisible=False)
        self.progress_bar.setMaximumHeight(12)
        self.progress_text = QLabel(objectName="muted")
        progress = QHBoxLayout()
        progress.addWidget(self.progress_bar, 1)
        progress.addWidget(self.cancel_button)
        self.blocker_label = QLabel(wordWrap=True, objectName="muted")
        self.measurement_table = _table(MEASUREMENT_HEADERS)
        self.measurement_table.setMinimumHeight(110)
        layout = QVBoxLayout(box)
        layout.addLayout(controls)
        layout.addWidget(self.blocker_label)
        layout.addLayout(progress)
        layout.addWidget(self.progress_text)
        layout.addWidget(QLabel("This run's measurements (run: its final model; baseline: where it started)", objectName="muted"))
        layout.addWidget(self.measurement_table, 1)
        return box

    # ------------------------------------------------------------------ the form

    def form(self) -> DeviceForm:
        return DeviceForm(self.name_edit.text(), self.ssh_edit.text(), str(self.target_combo.currentData() or ""),
                          self.port_spin.value(), self.identity_edit.text(), self.python_edit.text())

    def set_form(self, form: DeviceForm) -> None:
        self.name_edit.setText(form.name)
        self.ssh_edit.setText(form.ssh)
        self.port_spin.setValue(form.port)
        self.identity_edit.setText(form.identity)
        index = self.target_combo.findData(form.target)
        if index < 0 and form.target:
            self.target_combo.addItem(form.target, form.target)  # a profile file given by path
            index = self.target_combo.count() - 1
        self.target_combo.setCurrentIndex(max(index, 0))
        self.python_edit.setText(form.python if form.python != "python3" else "")

    def _fill_form(self, device: Any = "selected") -> None:
        device = self.model.device if device == "selected" else device
        if device is not None:
            self.set_form(DeviceForm.of(device))
        else:
            self.set_form(DeviceForm("", "", str(self.target_combo.itemData(0) or "")))

    def _browse_identity(self) -> None:
        start = self.identity_edit.text() or str(Path.home() / ".ssh")
        path, _ = QFileDialog.getOpenFileName(self, "Private key file", start)
        if path:
            self.identity_edit.setText(path)

    def _save(self) -> None:
        self._clear_error()
        try:
            self.model.save(self.form())
        except EdgeSlimError as exc:
            self.show_error(exc.for_app())
        self.refresh()

    def _remove(self) -> None:
        if self.model.selected is None:
            return
        self._clear_error()
        try:
            self.model.remove(self.model.selected)
        except EdgeSlimError as exc:
            self.show_error(exc.for_app())
        self._fill_form()
        self.refresh()

    def _picked(self, item: Optional[QListWidgetItem], _previous: Any = None) -> None:
        name = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if name != self.model.selected:
            self.model.select(name)
            self._fill_form()
            self._clear_error()
            self.refresh()

    # ------------------------------------------------------------------ runs

    def _fill_runs(self) -> None:
        runs = self.model.finished_runs()
        wanted = self.model.run_id
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for run_id, text in runs:
            self.run_combo.addItem(text, run_id)
        if wanted is not None and self.run_combo.findData(wanted) < 0:
            self.run_combo.addItem(f"Run #{wanted}", wanted)
        if not self.run_combo.count():
            self.run_combo.addItem("No finished runs in this workspace", None)
        index = self.run_combo.findData(wanted) if wanted is not None else self.run_combo.count() - 1
        self.run_combo.setCurrentIndex(max(index, 0))
        self.run_combo.blockSignals(False)
        self.model.run_id = self.run_combo.currentData()
        self._show_measurements()

    def _run_picked(self, _index: int) -> None:
        self.model.run_id = self.run_combo.currentData()
        self._show_measurements()
        self.refresh()

    def _show_measurements(self) -> None:
        try:
            rows = [measurement_row(m) for m in reversed(self.model.measurements())]  # newest first
        except EdgeSlimError as exc:
            self.show_error(exc.for_app())
            rows = []
        _fill(self.measurement_table, rows)
        self.measurement_table.resizeColumnsToContents()

    # ------------------------------------------------------------------ work

    def _start(self, work: Any, title: str) -> None:
        self.job = self.jobs.start(InThread(work), self._on_event, title=title, kind="device")
        self.refresh()

    def _start_check(self, accept: bool) -> None:
        self._clear_error()
        try:
            work = self.model.check_work(accept)
        except EdgeSlimError as exc:
            self.show_error(exc.for_app())
            return
        self._start(work, f"Checking {self.model.selected}")

    def _trust(self) -> None:
        self._clear_error()
        try:
            work = self.model.trust()
        except EdgeSlimError as exc:
            self.show_error(exc.for_app())
            return
        self._fill_form()
        self._start(work, f"Checking {self.model.selected}")

    def _distrust(self) -> None:
        self.model.distrust()
        self.refresh()

    def _start_measure(self) -> None:
        self._clear_error()
        self.model.options = replace(self.model.options, runs=self.runs_spin.value(), baseline=self.baseline_check.isChecked())
        try:
            work = self.model.measure_work()
        except EdgeSlimError as exc:
            self.show_error(exc.for_app())
            return
        self._start(work, f"Measuring run {self.model.run_id} on {self.model.selected}")

    def _cancel(self) -> None:
        if self.job is not None and not self.job.ended:
            self.jobs.cancel(self.job)
            self.progress_text.setText("cancelling: the device's scratch folder is removed, nothing is stored")
            self.cancel_button.setEnabled(False)

    def _on_event(self, event: Any) -> None:
        kind = self.model.busy
        self.model.on_event(event)
        if isinstance(event, (Done, Failed)):
            self.job = None
            if self.model.error:
                self.show_error(self.model.error)
            if kind == "measure":
                self._show_measurements()
        self.refresh()

    # ------------------------------------------------------------------ drawing

    def refresh(self) -> None:
        """Redraw everything from the model."""
        m = self.model
        self.device_list.blockSignals(True)
        self.device_list.clear()
        for name, device in sorted(m.devices.items()):
            item = QListWidgetItem(f"{name}  ·  {device.address}  ·  {device.target}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.device_list.addItem(item)
            if name == m.selected:
                self.device_list.setCurrentItem(item)
        self.device_list.blockSignals(False)
        busy = m.busy is not None
        self.save_button.setText(m.form_action(self.name_edit.text()))
        self.remove_button.setEnabled(m.selected is not None and not busy)
        self.check_button.setEnabled(m.selected is not None and not busy)
        self.check_hint.setText(self._check_hint())
        q = m.question
        self.host_key.setVisible(q is not None)
        if q is not None:
            self.host_key_text.setText(q.text)
            self.host_key_text.setStyleSheet("" if q.can_trust else f"color: {ERROR_COLOUR};")
            self.trust_button.setVisible(q.can_trust)
            self.distrust_button.setText("Don't trust" if q.can_trust else "Dismiss")
        rows = m.rows()
        half = (len(rows) + 1) // 2  # two pairs of columns: the software on the left, the machine on the right
        pairs = [rows[i:i + 1] + rows[i + half:i + half + 1] for i in range(half)]
        _fill(self.check_table, [[x for r in pair for x in (r.item, r.found)] for pair in pairs],
              [[not r.ok for r in pair for _ in (0, 1)] for pair in pairs])
        self.check_table.setVisible(bool(rows))
        self.check_table.setFixedHeight(self.check_table.horizontalHeader().height() + 22 * half + 4 if rows else 0)
        line = m.install_line()
        self.install_row.setVisible(bool(line))
        self.install_edit.setText(line or "")
        self.measure_button.setText(m.measure_label)
        self.measure_button.setEnabled(m.can_measure)
        blocker = m.measure_blocker()
        self.blocker_label.setText("" if blocker is None or busy else f"To measure: {blocker}.")
        self.blocker_label.setVisible(bool(blocker) and not busy)
        measuring = m.busy == "measure"
        self.cancel_button.setEnabled(measuring and not (self.job is not None and self.job.cancelled))
        self.progress_bar.setValue(int(1000 * m.progress[0]) if busy else 0)
        if busy:
            if not (self.job is not None and self.job.cancelled):
                self.progress_text.setText(m.progress[1] or f"{m.busy} of {m.busy_device} …")
        else:
            self.progress_text.setText("")
        self.status_label.setText(m.status)

    def _check_hint(self) -> str:
        m = self.model
        if m.selected is None:
            return "Add a device on the left to check it."
        if m.busy == "check":
            return f"Connecting to {m.selected} …"
        if m.report is None:
            return f"{m.selected} has not been checked yet."
        return f"{m.report.describe()}"

    def show_error(self, message: str) -> None:
        """Show a message the user can act on (never a traceback)."""
        self.messages.append(message)
        self.error_label.setText(message)
        self.error_label.setVisible(True)

    def _clear_error(self) -> None:
        self.error_label.setText("")
        self.error_label.setVisible(False)

    def done(self, result: int) -> None:  # close, Escape, the Close button
        """Closing cancels a running check or measure (a measure stores nothing then)."""
        if self.job is not None and not self.job.ended:
            self.jobs.cancel(self.job)
        super().done(result)
