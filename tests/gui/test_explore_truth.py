"""The Explore page tells the truth (issue 17): budgets shaded on the right side, an accuracy floor, honest
ranges, filters, hidden and bulk-deleted failed runs, columns on screen — each driven through the window."""

from __future__ import annotations

from typing import Optional

import pytest

from core.store.workspace import Workspace
from tests.store_runs import BASELINE, add_run, fill, final_metrics


def add(ws: Workspace, name: str, final: Optional[dict], status: str = "done", model: str = "demo", data: str = "demo") -> int:
    """A stored run of ``model`` on ``data`` (tests.store_runs.add_run always uses the demo data)."""
    run_id = ws.create_run(name=name, recipe_name=name, recipe_toml="", techniques=["prune.structured"], model_spec=model,
                           data_spec=data, load_options={}, options={}, trial_key=f"key-{name}")
    ws.start_run(run_id)
    ws.finish_run(run_id, status, {"baseline": BASELINE, "final": final, "steps": [], "seconds": 1.0},
                  error=None if status == "done" else "stopped")
    return run_id


def explore(make_window, ws_path, size=(1280, 800)):
    win = make_window(start=False, workspace=ws_path)
    win.setMinimumSize(800, 500)  # as the app's --size does
    win.resize(*size)
    win.show_page("explore")
    return win, win.explore_page


def test_latency_budget_shades_the_slower_runs_whatever_the_range_and_log_keeps_labels(make_window, tmp_path, qtbot):
    """Item 1: budget 0.3 ms on a ~0.1 ms range. The region once ran to x + 1e6 and was drawn over the faster runs."""
    with Workspace(tmp_path / "ws") as ws:
        ids = {lat: add(ws, f"r{lat}", final_metrics(0.985, 200_000, 9_000_000, lat)) for lat in (0.22, 0.25, 0.31, 0.34)}
    win, page = explore(make_window, tmp_path / "ws")
    page.x_combo.setCurrentIndex(page.x_combo.findData("latency"))
    page.latency_budget.setValue(0.3)
    plot = page.plot
    vb = plot.view.getPlotItem().getViewBox()
    (x0, x1), _ = vb.viewRange()
    lo, hi = plot.region.getRegion()
    assert lo == pytest.approx(0.3) and hi == pytest.approx(x1)  # from the budget to the visible edge, not to 1e6
    for lat, run_id in ids.items():
        x = plot.positions[run_id][0]
        assert (lo <= x <= hi) == (lat > 0.3)  # the slower runs, and only they, are in the shaded region
    vb.setXRange(0.2, 0.5, padding=0)  # zoom out: the region follows the view
    assert plot.region.getRegion()[1] == pytest.approx(vb.viewRange()[0][1])
    page.log_check.setChecked(True)  # a narrow range on a log axis keeps numbers on it
    labels = plot.visible_ticks()
    assert len(labels) >= 2 and all(float(t) > 0 for t in labels)
    lo, hi = plot.region.getRegion()
    assert lo == pytest.approx(plot._x(0.3)) and all((lo <= plot.positions[i][0]) == (lat > 0.3) for lat, i in ids.items())


def test_a_chance_level_run_is_below_the_floor_not_fitting_and_off_the_front(make_window, tmp_path):
    """Item 4: the floor (baseline − 5 points by default, editable) keeps a tiny chance-level model off the front."""
    with Workspace(tmp_path / "ws") as ws:
        good = add(ws, "good", final_metrics(0.98, 300_000, 9_000_000, 0.15))
        chance = add(ws, "chance", final_metrics(0.11, 20_000, 1_000_000, 0.02))
    win, page = explore(make_window, tmp_path / "ws")
    by_id = {s.id: s for s in page.summaries}
    assert by_id[good].on_front and not by_id[chance].on_front
    assert by_id[chance].fits is False and "below the floor 94.00 %" in by_id[chance].misfit[0]
    fits_col = page.table.headers.index("Fits target")
    cells = {page.table.model.item(i, 0).text(): page.table.model.item(i, fits_col).text() for i in range(page.table.model.rowCount())}
    assert cells[f"#{chance}"].startswith("no: accuracy 11.00 % is below the floor") and cells[f"#{good}"] == "—"
    assert page.plot.floor_line.isVisible() and page.plot.floor_line.value() == pytest.approx(94.0)
    assert page.plot.floor_region.getRegion()[1] == pytest.approx(94.0)  # shaded below the floor
    page.floor.setValue(10.0)  # the user lowers the floor: the tiny model is now a trade-off
    by_id = {s.id: s for s in page.summaries}
    assert by_id[chance].on_front and by_id[chance].fits is None
    assert page.plot.floor_line.value() == pytest.approx(10.0)
    page.floor.setValue(-1.0)  # back to the default
    assert not {s.id: s for s in page.summaries}[chance].on_front


def test_failed_runs_are_hidden_do_not_stretch_the_axis_and_can_be_deleted_at_once(make_window, tmp_path):
    """Items 11 and 16: a failed 5.8 MiB run no longer squeezes the others; points keep off the plot's edge."""
    with Workspace(tmp_path / "ws") as ws:
        ids = fill(ws)
        big = add(ws, "failed-big", final_metrics(0.2, int(5.8 * 2**20), 26_000_000, 0.9), status="failed")
    win, page = explore(make_window, tmp_path / "ws")
    plot = page.plot
    assert big not in plot.positions and ids["failed"] not in plot.positions and ids["cancelled"] not in plot.positions
    (x0, x1), (y0, y1) = plot.view.getPlotItem().getViewBox().viewRange()
    xs = [x for x, _ in plot.positions.values()] + [p.pos().x() for p in plot.baseline.points()]
    ys = [y for _, y in plot.positions.values()]
    assert x1 < 1000  # KiB: the range is the plotted runs', not the 5.8 MiB failure's
    margin_x, margin_y = 0.05 * (max(xs) - min(xs)), 0.05 * (max(ys) - min(ys))
    assert x0 < min(xs) - margin_x and x1 > max(xs) + margin_x and y0 < min(ys) - margin_y and y1 > max(ys) + margin_y
    assert page.delete_stopped_button.isEnabled()
    asked = []
    page.confirm = lambda text: asked.append(text) or True
    assert page.delete_stopped()
    assert all(f"#{i}" in asked[0] for i in (ids["failed"], ids["cancelled"], big))
    remaining = {r.id for r in page.workspace.list_runs()}
    assert not remaining & {ids["failed"], ids["cancelled"], big} and len(remaining) == 9
    assert not page.delete_stopped_button.isEnabled()


def test_runs_filter_by_model_and_dataset(make_window, tmp_path):
    """Item 16: a messy-folder run no longer mixes into the demo's plot."""
    with Workspace(tmp_path / "ws") as ws:
        demo = add(ws, "demo-run", final_metrics(0.98, 300_000, 9_000_000, 0.15))
        messy = add(ws, "messy-run", final_metrics(0.71, 9_000_000, 900_000_000, 4.0), model="/data/messy/resnet.pt",
                    data="/data/messy/images")
    win, page = explore(make_window, tmp_path / "ws")
    assert set(page.plot.positions) == {demo, messy}
    page.model_filter.setCurrentIndex(page.model_filter.findData("demo"))
    assert set(page.plot.positions) == {demo} and page.table.row_count() == 1
    page.model_filter.setCurrentIndex(0)
    page.data_filter.setCurrentIndex(page.data_filter.findData("/data/messy/images"))
    assert set(page.plot.positions) == {messy} and page.table.row_count() == 1
    page.refresh()  # a workspace change keeps the filter
    assert set(page.plot.positions) == {messy}


@pytest.mark.parametrize("size", [(1280, 800), (1024, 640)])
def test_fits_target_and_front_are_on_screen(make_window, tmp_path, size):
    """Item 11: at 1280 px "Fits target" was clipped and "Front" off-screen."""
    with Workspace(tmp_path / "ws") as ws:
        fill(ws)
    win, page = explore(make_window, tmp_path / "ws", size)
    page.set_target("stm32h7")
    page.latency_budget.setValue(0.1)
    view = page.table.view
    width = view.viewport().width()
    for name in ("Top-1", "Fits target", "Front"):
        col = page.table.headers.index(name)
        left = view.columnViewportPosition(col)
        assert left >= 0 and left + view.columnWidth(col) <= width, name
    assert win.width() == size[0]
    assert page.floor.geometry().right() <= page.floor.parentWidget().width()  # the controls fit the page
    assert page.refresh_button.geometry().right() <= page.refresh_button.parentWidget().width()


def test_sweep_trials_show_their_swept_values_as_columns(make_window, tmp_path):
    """Item 15 (first part): the swept parameters are table columns, not only squeezed into elided names."""
    with Workspace(tmp_path / "ws") as ws:
        sweep = ws.create_sweep("grid4", "", {"mode": "grid", "axes": ["prune.structured.ratio", "quantize.static"]})
        trials = {}
        for ratio, quant in ((0.3, True), (0.5, False)):
            toml = (f'[[step]]\ntechnique = "prune.structured"\nratio = {ratio}\n\n'
                    f'[[step]]\ntechnique = "quantize.static"\nenabled = {"true" if quant else "false"}\n')
            run_id = ws.create_run(name=f"grid4[ratio={ratio}]", recipe_name="grid4", recipe_toml=toml,
                                   techniques=["prune.structured"], model_spec="demo", data_spec="demo", load_options={},
                                   options={}, trial_key=f"k{ratio}", sweep_id=sweep)
            ws.start_run(run_id)
            ws.finish_run(run_id, "done", {"baseline": BASELINE, "final": final_metrics(0.97, 200_000, 9_000_000, 0.1), "steps": []})
            trials[run_id] = (f"{ratio:g}", "on" if quant else "off")
        plain = add(ws, "plain", final_metrics(0.98, 300_000, 9_000_000, 0.15))
    win, page = explore(make_window, tmp_path / "ws")
    headers = page.table.headers
    assert headers[2:4] == ["prune.structured.ratio", "quantize.static"]
    model = page.table.model
    assert [model.horizontalHeaderItem(i).text() for i in (2, 3)] == ["ratio", "quantize.static"]
    cells = {model.item(i, 0).text(): (model.item(i, 2).text(), model.item(i, 3).text()) for i in range(model.rowCount())}
    for run_id, values in trials.items():
        assert cells[f"#{run_id}"] == values
    assert cells[f"#{plain}"] == ("—", "—")
    page.model_filter.setCurrentIndex(page.model_filter.findData("demo"))
    assert "Fits target" in page.table.headers  # the fixed columns stay after the swept ones
