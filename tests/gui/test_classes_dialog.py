"""The per-class dialog: a table by change, a confusion heat map, the changed images — run off the GUI thread."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtWidgets import QWidget

from core.metrics.per_class import ChangedImage, PerClassComparison
from gui.dialogs.classes_dialog import ClassesDialog
from gui.jobs.controller import JobController

LOAD_MS = 180_000


def comparison() -> PerClassComparison:
    before = np.array([[9, 1, 0], [0, 10, 0], [0, 0, 10]])
    after = np.array([[5, 5, 0], [0, 10, 0], [0, 1, 9]])
    changed = [ChangedImage(i, 0, 0, 1) for i in range(4)] + [ChangedImage(20, 2, 2, 1)]
    pictures = {c.index: np.full((8, 8, 3), 40 * k, dtype=np.uint8) for k, c in enumerate(changed[:3])}
    return PerClassComparison(["cat", "dog", "fox"], before, after, changed, 29 / 30, 24 / 30, pictures)


class FakeWindow(QWidget):
    """What the dialog needs of the main window: its job controller and its workspace."""

    def __init__(self, workspace) -> None:
        super().__init__()
        self.jobs = JobController()
        self.workspace = SimpleNamespace(path=workspace)


def test_dialog_draws_a_comparison(qtbot):
    dialog = ClassesDialog(None, 3, start=False)
    qtbot.addWidget(dialog)
    dialog.show_result(comparison())
    table = dialog.table.proxy
    assert table.rowCount() == 3
    assert [table.index(r, 0).data() for r in range(3)] == ["cat", "fox", "dog"]  # most lost first
    assert table.index(0, 4).data() == "-40.00" and table.index(0, 2).data() == "90.00 %"
    assert dialog.confusion.image.image.shape == (3, 3)
    assert np.array_equal(dialog.confusion.matrix(), comparison().confusion_after)
    dialog.confusion.which.setCurrentIndex(2)  # after − before
    assert dialog.confusion.matrix()[0].tolist() == [-4, 4, 0]
    assert dialog.strip.count() == 3 and "cat" in dialog.strip.item(0).text() and "→ dog" in dialog.strip.item(0).text()
    assert "5 changed prediction" in dialog.summary.text() and "3 of 5 shown" in dialog.strip_label.text()


def test_an_unknown_run_is_a_message_not_a_traceback(qtbot, tmp_path):
    window = FakeWindow(tmp_path)
    qtbot.addWidget(window)
    dialog = ClassesDialog(window, 7)
    qtbot.waitUntil(lambda: dialog.job.ended, timeout=LOAD_MS)
    assert "not an EdgeSlim workspace" in dialog.summary.text() and dialog.result is None
    window.jobs.wait()


def test_dialog_compares_a_stored_run_through_the_job_controller(qtbot, tmp_path):
    cli_main = importlib.import_module("core.cli.main")
    (tmp_path / "r.toml").write_text('[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.6\n')
    ws = tmp_path / "ws"
    assert cli_main.main(["run", str(tmp_path / "r.toml"), "--model", "demo", "--data", "demo", "--workspace", str(ws),
                          "--repeats", "3", "--threads", "1", "--quiet"]) == 0
    window = FakeWindow(ws)
    qtbot.addWidget(window)
    dialog = ClassesDialog(window, 1)
    qtbot.waitUntil(lambda: dialog.job.ended, timeout=LOAD_MS)
    assert dialog.result is not None, dialog.summary.text()
    assert dialog.table.proxy.rowCount() == 10 and dialog.result.n == 539
    assert dialog.strip.count() == min(48, len(dialog.result.changed)) > 0
    assert "Top-1 98.89 %" in dialog.summary.text()
    window.jobs.wait()


def test_explore_s_context_menu_opens_the_dialog_for_a_finished_run(make_window, tmp_path, qtbot):
    from core.store.workspace import Workspace
    from gui.dialogs.classes_dialog import ClassesDialog
    from tests.store_runs import fill

    with Workspace(tmp_path / "workspace") as ws:
        ids = fill(ws)
    win = make_window(start=False)
    win.show_page("explore")
    page = win.explore_page
    page.refresh()
    rows = {r.id: r for r in win.workspace.list_runs()}
    menu = page.build_menu([rows[ids["int8"]]])
    action = next(a for a in menu.actions() if a.text() == "Per-class accuracy…")
    assert action.isEnabled()
    assert not next(a for a in page.build_menu([rows[ids["failed"]]]).actions() if a.text() == "Per-class accuracy…").isEnabled()
    action.trigger()
    dialog = win.dialogs[-1]  # the window keeps the dialogs it opened
    assert isinstance(dialog, ClassesDialog) and dialog.isVisible()
    dialog.close()
    qtbot.waitUntil(lambda: dialog.job is None or dialog.job.ended, timeout=60_000)
