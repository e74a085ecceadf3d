"""The status bar while a task runs: its line shortened (never cut), one bar per task, the page labels intact."""

from __future__ import annotations

import time

from core.app.events import Progress
from gui.jobs.controller import InThread
from tests.gui.conftest import wait_idle
from tests.gui.layout_check import cut_widgets, show_at

LONG = "Fine-tune (2 of 3): epoch 3/8, batch 112/188, loss 0.4213 — on the CPU with 2 threads, the latency next"


def _start_busy(window, kind: str, seen: list):
    def work(emit, cancel):
        while not cancel.cancelled:
            emit(Progress(0.4, LONG))
            time.sleep(0.02)
        cancel.raise_if_cancelled()

    window.jobs.start(InThread(work), lambda event: None, title="A task with a long title", kind=kind)


def test_a_running_task_s_line_is_elided_and_the_status_labels_stay_whole(qtbot, window):
    show_at(window, 1024, 640)
    _start_busy(window, "sweep", [])
    qtbot.waitUntil(lambda: window.job_label.text() == LONG, timeout=5000)
    qtbot.wait(50)
    bar = window.statusBar()
    assert window.progress.isVisible()
    assert cut_widgets(bar) == []
    assert window.job_label.toolTip() == LONG
    shown = super(type(window.job_label), window.job_label).text()
    assert shown.endswith("…") and len(shown) < len(LONG)
    window.jobs.cancel_all()
    wait_idle(qtbot, window, timeout=10_000)


def test_a_run_shows_one_bar_on_the_compress_page_and_the_status_bar_s_elsewhere(qtbot, window):
    show_at(window, 1024, 640)
    window.show_page("compress")
    _start_busy(window, "run", [])
    qtbot.waitUntil(lambda: window.job_label.text() == LONG, timeout=5000)
    assert not window.progress.isVisible()  # the page's own bar shows it
    assert window.cancel_button.isVisible()
    window.show_page("model")
    assert window.progress.isVisible()
    window.show_page("compress")
    assert not window.progress.isVisible()
    window.jobs.cancel_all()
    wait_idle(qtbot, window, timeout=10_000)
    assert not window.progress.isVisible() and not window.cancel_button.isVisible()
