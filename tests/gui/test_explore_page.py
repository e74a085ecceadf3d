"""The Explore page: stored runs as points and rows, the live update, selection both ways, the front, budgets, actions."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, Qt

from core.pipeline.pareto import default_floor, pareto_indices
from core.store.workspace import Workspace
from tests.gui.conftest import wait_idle
from tests.store_runs import add_run, fill, final_metrics


@pytest.fixture
def filled(tmp_path):
    """A workspace with eleven stored runs (nine done, one failed, one cancelled)."""
    with Workspace(tmp_path / "workspace") as ws:
        ids = fill(ws)
    return ids


@pytest.fixture
def page(make_window, filled, qtbot):
    win = make_window(start=False)
    win.show_page("explore")
    return win.explore_page


def test_stored_runs_appear_as_points_and_rows(page, filled):
    assert page.table.row_count() == 9  # failed and cancelled runs are hidden until asked for
    done = {i for name, i in filled.items() if name not in ("failed", "cancelled")}
    assert set(page.plot.positions) == done
    assert len(page.plot.scatter.points()) == 9 and len(page.plot.baseline.points()) == 1
    assert "9 runs (9 measured, 2 failed/cancelled hidden)" in page.caption.text() and page.empty.isHidden()
    x, y = page.plot.positions[filled["int8"]]
    assert y == pytest.approx(98.9) and x == pytest.approx(190_000 / 1024)  # KiB on the size axis
    page.stopped_check.setChecked(True)
    assert page.table.row_count() == 11
    assert set(page.plot.positions) == done | {filled["cancelled"]}  # a failed run has nothing to plot; it is in the table
    assert "11 runs (10 measured)" in page.caption.text()


def test_the_front_line_is_cores_pareto_front_on_every_axis(page):
    rows = [r for r in page.workspace.list_runs() if r.status == "done"]
    for i, (key, objective) in enumerate((("size", "size"), ("latency", "latency"), ("macs", "macs"))):
        page.x_combo.setCurrentIndex(i)
        floors = [default_floor(r.baseline["accuracy"]) for r in rows]
        front = {rows[j].id for j in pareto_indices([r.final for r in rows], [objective, "accuracy"], floors)}
        assert {s.id for s in page.summaries if s.on_front} == front
        assert sorted(page.plot.front_xy) == sorted(page.plot.positions[run_id] for run_id in front)
        xs, ys = page.plot.front.getData()
        assert len(xs) == 2 * len(front) - 1  # a staircase: one corner between each pair of front points


def test_a_run_stored_by_another_process_appears_without_a_refresh(page, qtbot, tmp_path):
    before = page.table.row_count()
    with Workspace(tmp_path / "workspace") as other:
        new = add_run(other, "from-the-cli", ["quantize.static"], final_metrics(0.95, 100_000, 26_000_000, 0.05))
    qtbot.waitUntil(lambda: new in page.plot.positions, timeout=5000)
    assert page.table.row_count() == before + 1


def test_clicking_a_point_selects_its_row_and_selecting_a_row_rings_its_point(page, qtbot, filled):
    run_id = filled["prune50"]
    vb = page.plot.view.getPlotItem().getViewBox()
    scene_pos = vb.mapViewToScene(QPointF(*page.plot.positions[run_id]))
    pos = page.plot.view.mapFromScene(scene_pos)
    qtbot.mouseClick(page.plot.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: page.selected_ids() == [run_id], timeout=2000)
    assert page.plot.highlighted() == pytest.approx(page.plot.positions[run_id])
    other = filled["tucker"]
    page.select_run(other)
    assert page.selected_ids() == [other]
    assert page.plot.highlighted() == pytest.approx(page.plot.positions[other])


def test_a_target_draws_its_budget_and_the_table_says_what_fits(page, filled):
    page.set_target("stm32h7")
    page.latency_budget.setValue(0.1)
    budget = page.budgets
    assert budget.label and budget.size_bytes and budget.latency_ms == 0.1
    assert page.plot.region.isVisible() and page.plot.budget_line.isVisible()
    fits_col = page.table.headers.index("Fits target")
    texts = {page.table.model.item(i, 0).text(): page.table.model.item(i, fits_col).text() for i in range(page.table.model.rowCount())}
    assert texts[f"#{filled['int8']}"] == "yes"  # 0.10 ms and 186 KiB
    assert texts[f"#{filled['fp16']}"].startswith("no: latency 2.8× the budget")
    assert budget.label in page.window().target_label.text()
    page.set_target(None)
    page.latency_budget.setValue(0)
    assert not page.plot.region.isVisible()


def test_log_scale_keeps_points_and_orders(page, filled):
    linear = dict(page.plot.positions)
    page.log_check.setChecked(True)
    logged = page.plot.positions
    assert set(logged) == set(linear)
    order = lambda pos: sorted(pos, key=lambda k: pos[k][0])  # noqa: E731
    assert order(logged) == order(linear)


def test_delete_asks_first_and_removes_the_run(page, filled):
    page.confirm = lambda text: False
    assert not page.delete_runs([filled["prune70"]])
    assert filled["prune70"] in page.rows
    asked = []
    page.confirm = lambda text: asked.append(text) or True
    assert page.delete_runs([filled["prune70"]])
    assert "#%d" % filled["prune70"] in asked[0] and filled["prune70"] not in page.rows
    assert page.table.row_count() == 8


def test_context_menu_offers_compare_details_export_and_opens_them(page, filled, qtbot):
    win = page.window()
    a, b = page.rows[filled["prune30"]], page.rows[filled["int8"]]
    menu = page.build_menu([a, b])
    labels = [act.text() for act in menu.actions() if act.text()]
    assert labels[0] == "Show details…" and f"Compare #{a.id} and #{b.id}…" in labels and "Export…" in labels
    next(act for act in menu.actions() if act.text().startswith("Compare")).trigger()
    dialog = win.dialogs[-1]
    conv1 = next(d for d in dialog.comparison.layers if d.name == "conv1")
    assert (conv1.a.channels, conv1.b.channels) == (11, 16)
    assert dialog.layers.row_count() == 2
    menu.actions()[0].trigger()
    assert win.dialogs[-1].card.values["Top-1 accuracy"][1] == "98.90 %"
    for d in list(win.dialogs):
        d.reject()
    assert not win.dialogs
    page.stopped_check.setChecked(True)
    failed = page.rows[filled["failed"]]
    export = next(act for act in page.build_menu([failed]).actions() if act.text() == "Export…")
    assert not export.isEnabled()  # a failed run has no model to export


def test_hundreds_of_runs_all_plot(make_window, tmp_path):
    import time

    with Workspace(tmp_path / "big") as ws:
        for i in range(300):
            add_run(ws, f"r{i}", ["prune.structured"], final_metrics(0.5 + i / 1000, 10_000 + 100 * i, 10_000 + i, 0.01 + i / 1e4))
    win = make_window(start=False, workspace=tmp_path / "big")
    win.show_page("explore")
    page = win.explore_page
    t0 = time.perf_counter()
    page.refresh()
    took = time.perf_counter() - t0
    assert len(page.plot.scatter.points()) == 300 and page.table.row_count() == 300
    print(f"refresh of 300 runs: {1000 * took:.0f} ms")


def test_the_target_and_latency_budget_are_remembered(make_window, filled):
    win = make_window(start=False)
    win.explore_page.set_target("rpi4")
    win.explore_page.latency_budget.setValue(2.5)
    win.close()
    again = make_window(start=False)
    assert again.explore_page.target_combo.currentData() == "rpi4"
    assert again.explore_page.latency_budget.value() == 2.5
    assert "Raspberry Pi 4" in again.target_label.text()


FOUR_TRIALS = '''name = "grid4"
[[step]]
technique = "prune.structured"
ratio = 0.5
[[step]]
technique = "quantize.static"
[grid]
"prune.structured.ratio" = [0.3, 0.5]
"quantize.static" = ["on", "off"]
'''


def test_a_four_trial_sweep_from_the_window_streams_points_onto_the_plot(make_window, qtbot, tiny_demo, tmp_path):
    from core.app.events import Done, PartialResult, Progress
    from core.app.sources import DataSource, ModelSource
    from gui.pages.compress_model import RunInputs

    win = make_window(start=False)
    page = win.explore_page
    win.compress_page.repeats.setValue(3)  # trials measured cheaply: the test is about streaming, not timing
    win.compress_page.threads.setValue(1)
    inputs = RunInputs(win.workspace, ModelSource("demo", **tiny_demo), DataSource("demo"))
    points_at_each_trial, trials, progress, results = [], [], [], []

    def on_event(event):
        if isinstance(event, PartialResult) and event.kind == "trial":
            trials.append(event.payload)
            points_at_each_trial.append(len(page.plot.positions))  # the window refreshes before this handler runs
        elif isinstance(event, Progress):
            progress.append(event.fraction)
        elif isinstance(event, Done):
            results.append(event.result)

    job = win.start_sweep(FOUR_TRIALS, {"kind": "inprocess"}, inputs)
    assert job.title == "Sweep grid4: 0/4 trials" and win.current_page() == "explore"
    job.signals.event.connect(on_event)
    qtbot.waitUntil(lambda: bool(results), timeout=180_000)
    outcome = results[0]
    assert outcome["status"] == "done" and len(trials) == 4
    assert points_at_each_trial == [1, 2, 3, 4]  # each finished trial is on the plot as it arrives, not at the end
    assert {(t["point"]["prune.structured.ratio"], t["point"]["quantize.static"]) for t in trials} == {
        (0.3, "on"), (0.3, "off"), (0.5, "on"), (0.5, "off")}
    assert job.title == "Sweep grid4: 4/4 trials"
    assert progress == sorted(progress) and progress  # the bar only moves forward
    runs = win.workspace.list_runs(sweep_id=outcome["sweep_id"])
    assert sorted(r.id for r in runs) == sorted(t["run_id"] for t in trials) == sorted(page.plot.positions)
    assert sorted("quantize.static" in r.techniques for r in runs) == [False, False, True, True]
    assert win.workspace.get_sweep(outcome["sweep_id"])["status"] == "done"
    page.floor.setValue(0.0)  # the sweep's front knows no floor (an untrained model is near chance): compare without one
    assert {s.id for s in page.summaries if s.on_front} == set(outcome["front"])  # the page's front is the sweep's
    assert page.selected_ids() == [trials[-1]["run_id"]]  # the newest trial is selected and ringed


def test_app_flags_set_up_the_explore_and_export_pages(make_window):
    from gui.app import apply_view_options, parse_args

    win = make_window(start=False)
    apply_view_options(win, parse_args(["--target", "stm32h7", "--latency-budget", "0.5", "--x-axis", "macs"]))
    page = win.explore_page
    assert page.x_axis == "macs" and page.latency_budget.value() == 0.5
    assert page.target_combo.currentData() == "stm32h7" and win.export_page.target_combo.currentData() == "stm32h7"
    assert "MACs" in page.plot.view.getPlotItem().getAxis("bottom").labelText
