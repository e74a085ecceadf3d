"""The Export page shows what a board measured next to the estimate, and the estimate calibrated on the profile's boards."""

from __future__ import annotations

import pytest

from core.devices.measurements import Measurement, store_measurements
from tests.core.tiny_onnx import write_tiny_classifier
from tests.gui.test_export_page import open_page, wait_check


@pytest.fixture
def measured_run(make_window, tmp_path):
    """A window, and a finished run (a tiny ONNX file: a fast check) timed on a board "pi" registered as rpi5."""
    win = make_window(start=True)
    onnx = write_tiny_classifier(tmp_path / "tiny.onnx")
    ws = win.workspace
    metrics = {"accuracy": 0.97, "size_bytes": onnx.stat().st_size, "macs": 26_000_000, "params": 175_000}
    run_id = ws.create_run(name="tiny", recipe_name="tiny", recipe_toml="", techniques=["quantize.static"],
                           model_spec=str(onnx), data_spec="demo", load_options={}, options={}, trial_key="k-measured")
    ws.start_run(run_id)
    ws.finish_run(run_id, "done", {"baseline": metrics, "final": metrics, "seconds": 1.0, "artifacts": {"onnx": str(onnx)},
                                   "steps": []})
    info = {"runs": 40, "bundle": {"format": "onnx", "precision": "fp32"}}
    store_measurements(ws, [Measurement(run_id, "run", "pi", "rpi5", 4.0, 4.4, 60.0, 0.5, info, session="s1"),
                            Measurement(run_id, "baseline", "pi", "rpi5", 9.0, 9.9, 80.0, 1.0, info, session="s1")])
    return win, run_id


def checked_on(qtbot, win, run_id: int, target: str):
    """The Export page on stored run ``run_id`` against ``target``, once its check has finished."""
    page = win.export_page
    page.set_workspace(win.workspace)
    page.show_run(win.workspace.get_run(run_id))
    page = open_page(qtbot, win)
    page.set_target(target)
    wait_check(qtbot, page)
    return page


def test_a_measured_run_shows_the_board_and_the_calibrated_estimate(qtbot, measured_run):
    win, run_id = measured_run
    page = checked_on(qtbot, win, run_id, "rpi5")
    fit = page.fit_view.values
    assert fit["verdict"] == "fits", fit
    # the run's own model on pi (not its baseline's 9 ms), with the figures as stored
    assert fit["Measured"].startswith("measured on pi: 4 ms (median of 40, p90 4.4 ms) · onnx, fp32 file · peak RSS 60 MB · ")
    assert "9 ms" not in fit["Measured"]
    assert page.fit_view.rows["Measured"].isVisible()
    roofline, calibrated = fit["Latency"].split("\n")
    assert roofline.startswith("≥ ") and "lower bound" in roofline
    # both rows of the session calibrate rpi5: ratios 8 and 9, so the factor is their geometric mean, √72
    estimate = page.preview["estimate"]["latency_ms"]
    assert calibrated == f"estimated, calibrated on 2 measurements: {estimate * 72 ** 0.5:.3g} ms (the roofline × {72 ** 0.5:.3g})"
    assert "calibrated on 2 measurements" in page.fit_view.rows["Latency"].text()

    page.set_target("x86-64")  # another profile: pi's figure is not about it, and nothing calibrates it
    wait_check(qtbot, page)
    fit = page.fit_view.values
    assert fit["verdict"] == "fits" and fit["Measured"] == "" and "pi" not in fit["Latency"]
    assert "calibrated" not in fit["Latency"] and not page.fit_view.rows["Measured"].isVisible()
    assert win.errors == []


def test_a_new_measurement_shows_when_the_page_is_shown_again(qtbot, measured_run):
    win, run_id = measured_run
    page = checked_on(qtbot, win, run_id, "jetson-orin-nano")
    assert page.fit_view.values["Measured"] == ""
    win.show_page("explore")
    store_measurements(win.workspace, [Measurement(run_id, "run", "orin", "jetson-orin-nano", 1.5, 1.7, None, None, {})])
    win.show_page("export")
    assert page.fit_view.values["Measured"].startswith("measured on orin: 1.5 ms (median, p90 1.7 ms) · ")
    assert "calibrated" not in page.fit_view.values["Latency"]  # timed without an estimate: nothing to learn from
