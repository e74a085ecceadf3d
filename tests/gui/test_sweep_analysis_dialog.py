"""Item 15 (second part): "Analyse sweep…" on the Explore page opens parallel coordinates and parameter importance.

The page is built on its own over a workspace of stored trials (no window, no
worker process): the dialog only reads the workspace.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from core.app.sweep_analysis import analyse_sweep
from core.store.workspace import Workspace
from gui.pages.sweep_analysis_model import SweepAnalysisModel, availability
from gui.panels.explore_page import ExplorePage
from tests.core.app.test_sweep_analysis import GRID, QUANT, RATIO, store_sweep
from tests.gui.layout_check import SIZES, cut_widgets
from tests.store_runs import add_run, final_metrics


@pytest.fixture
def page(qtbot, tmp_path):
    ws = Workspace(tmp_path / "ws")
    page = ExplorePage()
    qtbot.addWidget(page)
    page.resize(1280, 800)
    page.show()
    yield page, ws
    page.stop()
    if getattr(page, "analysis_dialog", None) is not None:
        page.analysis_dialog.close()
    ws.close()


def test_dialog_draws_a_line_per_finished_trial_and_the_core_importances(page, qtbot):
    page, ws = page
    sweep, ids = store_sweep(ws, GRID * 2, failed=2)
    page.set_workspace(ws)
    assert page.analyse_button.isEnabled()
    qtbot.mouseClick(page.analyse_button, Qt.MouseButton.LeftButton)
    dialog = page.analysis_dialog
    assert dialog.isVisible()
    expected = analyse_sweep(ws, sweep)
    assert len(dialog.lines_view.curves) == len(ids) == 12  # the two failed trials are not drawn
    assert [t.toPlainText() for t in dialog.lines_view.titles] == ["ratio", QUANT, "Top-1 accuracy"]
    bars = dialog.bars_view
    assert [b.key for b in bars.bars] == list(expected.importances["accuracy"].values)
    assert bars.widths() == pytest.approx(list(expected.importances["accuracy"].values.values()))
    assert bars.bars[0].key == RATIO and "PED-ANOVA" in dialog.note.text()
    dialog.objective_combo.setCurrentIndex(dialog.objective_combo.findData("size"))
    assert bars.bars[0].key == QUANT  # int8 decides the file size
    assert bars.widths() == pytest.approx(list(expected.importances["size"].values.values()))
    assert dialog.lines_view.titles[-1].toPlainText() == "ONNX file size"
    best = max(dialog.model.lines(), key=lambda line: line.shade)
    assert "on" in best.tip and "0.6" in best.tip  # the smallest file: the most pruned int8 trial
    for size in SIZES:  # the dialog at the window's size: nothing cut
        dialog.resize(*size)
        assert cut_widgets(dialog) == [], size


def test_button_off_with_a_reason_until_a_sweep_has_two_finished_trials(page):
    page, ws = page
    add_run(ws, "plain", ["quantize.static"], final_metrics(0.98, 200_000, 9_000_000, 0.1))
    page.set_workspace(ws)
    assert not page.analyse_button.isEnabled() and "No sweep" in page.analyse_button.toolTip()
    store_sweep(ws, GRID[:1], failed=1)
    page.refresh()
    assert not page.analyse_button.isEnabled() and "2 finished trials" in page.analyse_button.toolTip()
    store_sweep(ws, GRID[:2])
    page.refresh()
    assert page.analyse_button.isEnabled()


def test_several_sweeps_are_offered_and_a_constant_objective_explains_itself(page, qtbot):
    page, ws = page
    first, _ = store_sweep(ws, GRID)
    second, _ = store_sweep(ws, [(0.2, "on"), (0.2, "off")], axes=(QUANT,))
    page.set_workspace(ws)
    page.analyse_sweep()
    dialog = page.analysis_dialog
    assert [dialog.sweep_combo.itemData(i) for i in range(dialog.sweep_combo.count())] == [second, first]
    assert "2 finished trials" in dialog.sweep_combo.itemText(0)
    dialog.objective_combo.setCurrentIndex(dialog.objective_combo.findData("latency"))
    assert dialog.bars_view.bars == [] and "same latency" in dialog.note.text()
    assert len(dialog.lines_view.curves) == 2
    dialog.sweep_combo.setCurrentIndex(1)
    assert len(dialog.lines_view.curves) == 6 and dialog.bars_view.bars[0].key == RATIO


def test_model_places_categories_and_numbers_on_the_axes(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        sweep, ids = store_sweep(ws, GRID)
        model = SweepAnalysisModel(ws, [sweep])
        axes, lines = model.axes(), model.lines()
        assert availability(ws.list_runs()).sweeps == (sweep,)
    ratio, quant, objective = axes
    assert [text for _, text in ratio.ticks] == ["0.2", "0.4", "0.6"]
    assert [y for y, _ in ratio.ticks] == pytest.approx([0.0, 0.5, 1.0])
    assert quant.ticks == ((0.0, "off"), (1.0, "on"))
    assert objective.objective and objective.ticks[0][1] == "86.90 %" and objective.ticks[-1][1] == "95.00 %"
    first = lines[0]  # ratio 0.2, int8 off: the best accuracy
    assert first.run_id == ids[0] and first.ys == pytest.approx((0.0, 0.0, 1.0)) and first.shade == pytest.approx(1.0)
    assert model.legend() == ("86.90 % (worst)", "95.00 % (best)")


def test_in_the_window_the_analysis_runs_off_the_gui_thread(make_window, tmp_path, qtbot):
    """The first analysis imports optuna: in the window it runs as a job of the controller, then draws."""
    import threading

    import core.app.sweep_analysis as analysis

    win = make_window()
    sweep, ids = store_sweep(win.workspace, GRID)
    threads: list[str] = []
    real = analysis.analyse_sweep

    def spy(ws, sweep_id, *args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(ws, sweep_id, *args, **kwargs)

    analysis.analyse_sweep = spy
    try:
        win.show_page("explore")
        win.explore_page.refresh()
        win.explore_page.analyse_sweep()
        dialog = win.explore_page.analysis_dialog
        qtbot.waitUntil(lambda: len(dialog.lines_view.curves) == len(ids), timeout=30_000)
    finally:
        analysis.analyse_sweep = real
        dialog.close()
    assert threads and threading.main_thread().name not in threads
    assert dialog.bars_view.bars and "PED-ANOVA" in dialog.note.text()
