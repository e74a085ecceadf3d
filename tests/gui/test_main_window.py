"""The main window: demo loads off the GUI thread, pages fill, errors become messages."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from gui.main_window import MainWindow
from gui.workers import Job


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    win.setProperty("headless_errors", True)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.jobs.cancel_all()
    assert win.jobs.wait(30_000), "a worker outlived the test"


def wait_idle(qtbot, win, timeout=120_000):
    qtbot.waitUntil(lambda: not win.jobs.active, timeout=timeout)


def test_demo_fills_model_and_data_pages(qtbot, window):
    window.load_demo()
    wait_idle(qtbot, window)
    assert window.errors == []
    assert window.session.model.name
    assert window.model_page.layers.row_count() >= 15
    assert window.model_page.summary.values["Parameters"].text().replace(",", "").isdigit()
    assert window.data_page.grid.count() > 0
    assert "validation 539" in window.data_page.summary.values["Splits"].text()
    assert "Model:" in window.model_label.text() and "—" not in window.model_label.text()


def test_layer_filter_narrows_rows(qtbot, window):
    window.load_model("demo")
    wait_idle(qtbot, window)
    table = window.model_page.layers
    all_rows = table.row_count()
    table.filter.setText("Linear")
    assert 0 < table.row_count() < all_rows


def test_bad_model_file_becomes_a_message(qtbot, window, tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"garbage")
    window.load_model(str(bad))
    wait_idle(qtbot, window)
    assert len(window.errors) == 1 and "broken.onnx" in window.errors[0]
    assert "Traceback" not in window.errors[0]
    assert window.session.model is None


def test_cancel_stops_a_running_job(qtbot, window):
    def slow(progress, cancel):
        for i in range(1000):
            cancel.raise_if_cancelled()
            progress(i / 1000, "working")
            time.sleep(0.01)
        return "finished"

    results: list[str] = []
    job = Job("slow work", slow)
    job.signals.cancelled.connect(lambda: results.append("cancelled"))
    job.signals.finished.connect(results.append)
    window.jobs.start(job)
    qtbot.waitUntil(lambda: window.progress.isVisible(), timeout=5000)
    window.cancel_button.click()
    wait_idle(qtbot, window, timeout=10_000)
    assert results == ["cancelled"]
    assert not window.progress.isVisible()


def test_unexpected_error_in_a_job_does_not_crash(qtbot, window):
    def broken(progress, cancel):
        raise ValueError("boom")

    messages: list[str] = []
    job = Job("broken work", broken)
    job.signals.failed.connect(lambda msg, exc: messages.append(msg))
    window.jobs.start(job)
    wait_idle(qtbot, window, timeout=10_000)
    assert messages and "boom" in messages[0] and "broken work" in messages[0]


def test_screenshot_flag_writes_a_png(tmp_path):
    out = tmp_path / "shot.png"
    exe = Path(sys.executable).parent / "edgeslim"
    proc = subprocess.run(
        [str(exe), "--demo", "--screenshot", str(out), "--page", "data"],
        capture_output=True, text=True, timeout=240, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert proc.returncode == 0, proc.stderr
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert image.width() >= 640 and image.height() >= 480
    colours = {image.pixel(x, y) for x in range(0, image.width(), 25) for y in range(0, image.height(), 25)}
    assert len(colours) > 20  # a rendered window, not a blank rectangle
