"""GUI test fixtures: a window on a temporary workspace and temporary settings, closed and checked after each test.

Nothing here touches the user's settings or workspace: QSettings is an INI file
under ``tmp_path``, the workspace is a temporary folder, and the environment
points EdgeSlim's defaults (``EDGESLIM_WORKSPACE``, XDG folders) at ``tmp_path``
for code that falls back to them. After each test every window is closed, its
jobs cancelled, and the test fails if a worker thread is still running.
"""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QSettings, QThreadPool, QTimer

from gui.main_window import MainWindow

LOAD_TIMEOUT_MS = 180_000


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESLIM_WORKSPACE", str(tmp_path / "default-workspace"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    yield
    # Qt wrappers a test leaves behind (dialogs, job runners, jobs' signal objects) are collected here, on the GUI
    # thread: a collection that a worker thread happens to trigger later would delete them from that thread and crash.
    import gc

    gc.collect()


@pytest.fixture(scope="session")
def shared_worker():
    """One worker process for the whole GUI suite (each window would otherwise start its own and import torch)."""
    from gui.jobs.process import WorkerProcess

    worker = WorkerProcess()
    yield worker
    worker.stop()
    assert not worker.alive()


@pytest.fixture
def make_window(qtbot, tmp_path, shared_worker):
    """``make_window(start=True)`` -> a shown MainWindow on ``tmp_path/workspace``; closed and checked after the test."""
    windows: list[MainWindow] = []
    before = {t.ident for t in threading.enumerate()}

    def make(start: bool = True, settings_file: str = "settings.ini", workspace=None) -> MainWindow:
        settings = QSettings(str(tmp_path / settings_file), QSettings.Format.IniFormat)
        win = MainWindow(settings=settings, workspace=workspace or tmp_path / "workspace", worker=shared_worker)
        win.setProperty("headless_errors", True)  # messages go to win.errors and the status bar, not a modal box
        qtbot.addWidget(win)
        win.show()
        windows.append(win)
        if start:
            win.start()
            wait_idle(qtbot, win)
        return win

    yield make
    for win in windows:
        win.close()  # cancels and waits for its jobs, closes its workspace
    pool = QThreadPool.globalInstance()
    assert pool.waitForDone(30_000), "a worker outlived the test"
    assert pool.activeThreadCount() == 0
    import multiprocessing

    others = [p for p in multiprocessing.active_children() if p.pid != shared_worker.pid]
    assert not others, f"a worker process outlived the test: {others}"
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.is_alive() and not t.daemon
                and not isinstance(t, threading._DummyThread)]
    assert not leftover, f"threads left running: {leftover}"


@pytest.fixture
def window(make_window):
    """A window that has not loaded anything yet (tests drive the loading themselves)."""
    return make_window(start=False)


@pytest.fixture
def demo_window(make_window):
    """A window started like the app on first start: demo model, demo data, the techniques loaded."""
    win = make_window(start=True)
    assert win.errors == []
    assert win.compress_page.ready
    return win


def wait_idle(qtbot, win, timeout: int = LOAD_TIMEOUT_MS) -> None:
    """Until no job runs and no estimate is about to start."""
    qtbot.waitUntil(lambda: not win.is_busy(), timeout=timeout)


def start_finetune(qtbot, win, epochs: int, batch_size: int):
    """Run a one-step finetune recipe from the Compress page (3 timing repeats) once loading is done; returns its job."""
    page = win.compress_page
    page.draft.clear()
    page.add_step("finetune", {"epochs": epochs, "batch_size": batch_size})
    page.repeats.setValue(3)
    wait_idle(qtbot, win)
    return page.run()


class Heartbeat:
    """A QTimer ticking every ``interval_ms`` on the GUI thread; ``worst_gap_ms`` is the longest time between ticks."""

    def __init__(self, interval_ms: int = 20) -> None:
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.gaps: list[float] = []

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last:
            self.gaps.append(1000 * (now - self.last))
        self.last = now

    def start(self) -> "Heartbeat":
        self.last = 0.0
        self.timer.start()
        return self

    def stop(self) -> None:
        self.timer.stop()

    @property
    def worst_gap_ms(self) -> float:
        return max(self.gaps, default=0.0)


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory) -> dict:
    """Model options for a narrow, shallow DemoResNet (untrained): trials export and measure it in a second or two.

    ``ModelSource("demo", **tiny_demo)`` opens it.
    """
    import torch

    from core.models.demo_net import DemoNetConfig, DemoResNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny") / "tiny-demo.pt"
    torch.save(DemoResNet(DemoNetConfig(width=8, blocks=(1, 1, 1))).state_dict(), path)
    return {"weights": str(path)}
