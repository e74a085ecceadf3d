"""The devices dialog against a real SSH server on 127.0.0.1: add, check (host-key question first), measure, cancel."""

from __future__ import annotations

import getpass
import os
import socket
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QThreadPool

from core.devices.measure import MeasureOptions
from core.devices.measurements import measurements_for_run
from core.devices.scratch import pending_scratch
from core.devices.ssh import known_hosts_file
from core.store.workspace import Workspace
from gui.dialogs.devices_dialog import DevicesDialog
from tests.core.devices.conftest import board, config, sshd  # noqa: F401  (fixtures: config folder, SSH server, device)
from tests.core.devices.sshd import make_key, start_server
from tests.core.devices.test_check import _without_onnxruntime
from tests.core.devices.test_measure import stored_run, tiny_onnx  # noqa: F401  (fixtures: a finished run on a tiny ONNX)

WAIT_MS = 120_000
FAST = MeasureOptions(rounds=2, warmup=1, parity_images=3, parity_samples=16)


@pytest.fixture
def open_dialog(qtbot):
    """``open_dialog(workspace, run_id)`` -> a shown dialog; after the test its work is waited for and the pool is idle."""
    made: list[DevicesDialog] = []

    def make(workspace, run_id=None) -> DevicesDialog:
        dialog = DevicesDialog(workspace, run_id)
        qtbot.addWidget(dialog)
        dialog.show()
        made.append(dialog)
        return dialog

    yield make
    for dialog in made:
        dialog.close()
        qtbot.waitUntil(lambda d=dialog: d.model.busy is None, timeout=WAIT_MS)
    assert QThreadPool.globalInstance().waitForDone(30_000), "a check or measure outlived the test"


def _fill(dialog: DevicesDialog, name: str, port: int, identity: str, python: str) -> None:
    dialog.new_button.click()
    dialog.name_edit.setText(name)
    dialog.ssh_edit.setText(f"{getpass.getuser()}@127.0.0.1")
    dialog.port_spin.setValue(port)
    dialog.identity_edit.setText(identity)
    dialog.target_combo.setCurrentIndex(dialog.target_combo.findData("rpi5"))
    dialog.python_edit.setText(python)


def _fits(dialog: DevicesDialog, name: str, tmp_path: Path) -> None:
    """At 1024×640 and 1280×800 no button or one-line label is narrower than its text; a PNG of each is saved.

    The PNGs go to ``$EDGESLIM_SHOTS_DIR`` when it is set (the README's screenshots), else to ``tmp_path``.
    """
    from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QTableWidget

    folder = Path(os.environ.get("EDGESLIM_SHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    for w, h in ((1024, 640), (1280, 800)):
        dialog.resize(w, h)
        QApplication.processEvents()
        assert (dialog.width(), dialog.height()) == (w, h), "the dialog asks for more room than the window gives"
        shown = [x for x in dialog.findChildren(QAbstractButton) + dialog.findChildren(QLabel)
                 if x.isVisibleTo(dialog) and not (isinstance(x, QLabel) and x.wordWrap())]
        clipped = [x.text() for x in shown if x.width() < x.sizeHint().width()]
        assert clipped == [], f"clipped at {w}x{h}: {clipped}"
        wide = [t.objectName() or t.horizontalHeaderItem(0).text() for t in dialog.findChildren(QTableWidget)
                if t.isVisibleTo(dialog) and t.horizontalHeader().length() > t.viewport().width()]
        assert wide == [], f"columns out of sight at {w}x{h}: {wide}"
        assert dialog.grab().save(str(folder / f"devices-{name}-{w}x{h}.png"))


def _table_rows(table) -> dict[str, str]:
    """The check table's "looked for" -> "found" pairs (it shows two pairs of columns)."""
    return {table.item(r, c).text(): table.item(r, c + 1).text() for r in range(table.rowCount()) for c in (0, 2)
            if table.item(r, c) is not None}


def _check_and_trust(qtbot, dialog: DevicesDialog) -> None:
    """Check the selected device; answer the first connection's host-key question with Trust."""
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.model.busy is None, timeout=WAIT_MS)
    if dialog.host_key.isVisibleTo(dialog):
        qtbot.mouseClick(dialog.trust_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.model.busy is None, timeout=WAIT_MS)
    assert dialog.model.report is not None, dialog.messages


def test_add_a_device_and_check_it_after_trusting_its_key(config, sshd, tmp_path, open_dialog, qtbot):
    import onnxruntime

    dialog = open_dialog(tmp_path / "ws")
    assert dialog.device_list.count() == 0 and not dialog.check_button.isEnabled()
    _fill(dialog, "pi", sshd.port, str(sshd.client_key_path), sys.executable)
    assert dialog.save_button.text() == "Add"
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.device_list.count() == 1 and dialog.model.selected == "pi" and dialog.save_button.text() == "Update"
    assert dialog.check_button.isEnabled() and "has not been checked" in dialog.check_hint.text()
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.host_key.isVisibleTo(dialog), timeout=WAIT_MS)
    text = dialog.host_key_text.text()
    assert "first connection to pi" in text and "SHA256:" in text and "Trust this board's key?" in text
    _fits(dialog, "host-key", tmp_path)
    assert dialog.trust_button.isVisibleTo(dialog) and not dialog.check_table.isVisibleTo(dialog)
    assert not known_hosts_file().exists()  # nothing recorded before the user says yes
    qtbot.mouseClick(dialog.trust_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.model.report is not None, timeout=WAIT_MS)
    assert not dialog.host_key.isVisibleTo(dialog) and f"[127.0.0.1]:{sshd.port}" in known_hosts_file().read_text()
    rows = _table_rows(dialog.check_table)
    assert rows["onnxruntime"] == onnxruntime.__version__ and rows["Cores"].isdigit() and rows["CPU"]
    assert rows["Python"].startswith(".".join(map(str, sys.version_info[:3])))
    assert not dialog.install_row.isVisibleTo(dialog) and dialog.messages == []
    _fits(dialog, "checked", tmp_path)
    assert not dialog.measure_button.isEnabled() and "choose a finished run" in dialog.blocker_label.text()
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert dialog.device_list.count() == 0 and dialog.model.devices == {}


def test_a_device_without_onnxruntime_shows_the_pip_line(config, sshd, tmp_path, open_dialog, qtbot):
    dialog = open_dialog(tmp_path / "ws")
    _fill(dialog, "bare", sshd.port, str(sshd.client_key_path), _without_onnxruntime(tmp_path))
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    _check_and_trust(qtbot, dialog)
    assert _table_rows(dialog.check_table)["onnxruntime"] == "missing"
    assert dialog.install_row.isVisibleTo(dialog) and dialog.install_edit.text().endswith("-m pip install onnxruntime")
    _fits(dialog, "missing-package", tmp_path)
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == dialog.install_edit.text()


def test_a_changed_host_key_is_refused_with_the_message(board, sshd, tmp_path, open_dialog, qtbot):
    dialog = open_dialog(tmp_path / "ws", 1)
    _check_and_trust(qtbot, dialog)
    sshd.stop()
    make_key(tmp_path / "other_host_key")
    impostor = start_server(tmp_path / "sshd", host_key=tmp_path / "other_host_key", port=sshd.port)
    try:
        qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.host_key.isVisibleTo(dialog), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: dialog.model.busy is None, timeout=WAIT_MS)
    finally:
        impostor.stop()
    assert dialog.host_key_text.text().startswith("Refused: ") and "CHANGED" in dialog.host_key_text.text()
    assert not dialog.trust_button.isVisibleTo(dialog) and dialog.distrust_button.text() == "Dismiss"
    assert dialog.model.report is None and not dialog.measure_button.isEnabled()  # no stale check to measure on
    assert known_hosts_file().read_text().count("ssh-ed25519") == 1  # the impostor's key was not recorded
    qtbot.mouseClick(dialog.distrust_button, Qt.MouseButton.LeftButton)
    assert not dialog.host_key.isVisibleTo(dialog)


def test_a_refused_connection_is_a_message_not_a_traceback(config, tmp_path, open_dialog, qtbot):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dialog = open_dialog(tmp_path / "ws")
    _fill(dialog, "gone", port, "", "")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(dialog.messages), timeout=WAIT_MS)
    assert "refused the connection" in dialog.error_label.text() and "Traceback" not in dialog.error_label.text()
    assert dialog.error_label.isVisibleTo(dialog) and dialog.model.report is None
    dialog.name_edit.setText("bad name")  # a bad field: the form's message, nothing saved
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert "not a usable device name" in dialog.messages[-1] and list(dialog.model.devices) == ["gone"]


def test_measure_a_stored_run_and_see_it_in_the_dialog(board, stored_run, open_dialog, qtbot):
    ws_path, run_id = stored_run
    dialog = open_dialog(ws_path, run_id)
    assert dialog.model.selected == "pi" and dialog.run_combo.currentData() == run_id
    assert dialog.measure_button.text() == f"Measure run {run_id}" and not dialog.measure_button.isEnabled()
    assert dialog.measurement_table.rowCount() == 0
    _check_and_trust(qtbot, dialog)
    assert dialog.measure_button.isEnabled() and not dialog.blocker_label.isVisibleTo(dialog)
    dialog.model.options = FAST
    dialog.runs_spin.setValue(4)
    fractions: list[float] = []
    dialog.jobs.started.connect(lambda job: job.event.connect(
        lambda e: fractions.append(e.fraction) if hasattr(e, "fraction") else None))
    qtbot.mouseClick(dialog.measure_button, Qt.MouseButton.LeftButton)
    assert dialog.model.busy == "measure" and dialog.cancel_button.isEnabled() and not dialog.check_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.model.busy is None, timeout=WAIT_MS)
    assert dialog.messages == [] and dialog.status_label.text().startswith(f"Run {run_id} on pi: median ")
    assert len(fractions) > 3 and max(fractions) == pytest.approx(1.0)
    table = dialog.measurement_table
    assert table.rowCount() == 1 and table.item(0, 0).text() == "pi" and table.item(0, 1).text() == "run"
    with Workspace(ws_path) as ws:
        (stored,) = measurements_for_run(ws, run_id)
    assert stored["runs"] == 4 and table.item(0, 2).text() == f"{stored['latency_ms']['median']:.3f}"
    assert not dialog.cancel_button.isEnabled()
    _fits(dialog, "measured", ws_path.parent)


def test_cancel_mid_measure_stores_nothing(board, stored_run, open_dialog, qtbot):
    ws_path, run_id = stored_run
    dialog = open_dialog(ws_path, run_id)
    _check_and_trust(qtbot, dialog)
    dialog.model.options = FAST
    dialog.runs_spin.setValue(4)
    dialog.baseline_check.setChecked(True)
    qtbot.mouseClick(dialog.measure_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.model.progress[1].startswith("timing the"), timeout=WAIT_MS)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert not dialog.cancel_button.isEnabled() and "cancelling" in dialog.progress_text.text()
    qtbot.waitUntil(lambda: dialog.model.busy is None, timeout=WAIT_MS)
    assert "nothing was stored" in dialog.status_label.text() and dialog.messages == []
    assert dialog.measurement_table.rowCount() == 0 and pending_scratch("pi") == []
    with Workspace(ws_path) as ws:
        assert measurements_for_run(ws, run_id) == []


def test_the_window_s_job_controller_is_used_when_there_is_one(config, tmp_path, qtbot):
    from PySide6.QtWidgets import QWidget

    from gui.jobs.controller import JobController

    window = QWidget()
    qtbot.addWidget(window)
    window.jobs = JobController(parent=window)  # what MainWindow has: its job bar shows the dialog's work
    dialog = DevicesDialog(tmp_path / "ws", 7, window)
    assert dialog.jobs is window.jobs and dialog.model.run_id == 7 and dialog.run_combo.currentText() == "Run #7"
    alone = DevicesDialog(tmp_path / "ws")
    qtbot.addWidget(alone)
    assert isinstance(alone.jobs, JobController) and alone.jobs is not window.jobs
    assert alone.run_combo.currentText() == "No finished runs in this workspace" and alone.model.run_id is None


def test_the_tools_menu_opens_the_devices_dialog(config, make_window):
    from gui.dialogs.devices_dialog import DevicesDialog

    window = make_window(start=False)
    tools = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Tools")
    next(a for a in tools.actions() if a.text().startswith("&Devices")).trigger()
    opened = window.dialogs[-1]  # the window keeps the dialogs it opened (other tests' closed ones may linger as widgets)
    assert isinstance(opened, DevicesDialog) and opened.isVisible()
    opened.close()
