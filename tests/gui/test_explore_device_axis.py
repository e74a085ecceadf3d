"""Explore against latency measured on a board: an axis per measured board, only measured runs on it."""

from __future__ import annotations

import pytest

from core.devices.measurements import Measurement, store_measurements
from core.store.workspace import Workspace
from tests.gui.conftest import wait_idle
from tests.store_runs import fill


@pytest.fixture
def measured(tmp_path):
    """The shared filled workspace, with the int8 run and its baseline timed on a board called pi."""
    with Workspace(tmp_path / "workspace") as ws:
        ids = fill(ws)
        store_measurements(ws, [
            Measurement(ids["int8"], "run", "pi", "rpi5", 4.0, 4.4, 60.0, 1.0, {}, session="s1"),
            Measurement(ids["int8"], "baseline", "pi", "rpi5", 9.0, 9.9, 80.0, 2.0, {}, session="s1"),
        ])
    return ids


def test_a_measured_board_is_an_axis_that_plots_only_measured_runs(make_window, measured, qtbot):
    win = make_window()
    win.show_page("explore")
    page = win.explore_page
    page.refresh()
    wait_idle(qtbot, win)
    index = page.x_combo.findData("device:pi")
    assert index >= 0 and page.x_combo.itemText(index) == "Latency on pi (measured)"
    page.x_combo.setCurrentIndex(index)
    assert set(page.plot.positions) == {measured["int8"]}  # the others were never timed on the board
    assert page.plot.positions[measured["int8"]][0] == pytest.approx(4.0)
    assert "not measured on pi" in page.caption.text()
    assert "Latency on pi (measured)" in page.plot.view.getPlotItem().getAxis("bottom").labelText
    assert [b.device_latency_ms for b in page.model.baselines if b.device_latency_ms] == [9.0]
    col = page.table.headers.index("On pi")  # the runs table gets the board's column next to this machine's latency
    assert page.table.headers[col - 1] == "Latency"
    texts = {page.table.model.item(i, 0).text(): page.table.model.item(i, col).text() for i in range(page.table.model.rowCount())}
    assert texts[f"#{measured['int8']}"] == "4.000 ms" and set(texts.values()) == {"4.000 ms", "—"}
    page.x_combo.setCurrentIndex(page.x_combo.findData("size"))
    assert measured["int8"] in page.plot.positions and len(page.plot.positions) > 1
    assert "On pi" not in page.table.headers
