"""The estimate next to what boards measured: the profile's learned factor and the run's latest figure per board."""

from __future__ import annotations

import math

import pytest

from core.app.device_figures import device_figures
from core.devices.measurements import Measurement, store_measurements
from core.export.targets import get_target
from core.store.workspace import Workspace
from tests.store_runs import add_run, final_metrics


@pytest.fixture
def ws(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        yield ws


def _m(run_id, device, target, median, estimated, role="run", runs=40, rss=60.0):
    info = {"runs": runs, "bundle": {"format": "onnx", "precision": "fp32"}}
    return Measurement(run_id, role, device, target, median, median * 1.1, rss, estimated, info, session="s")


def test_nothing_measured_leaves_the_roofline_alone(ws):
    run_id = add_run(ws, "int8", ["quantize.static"], final_metrics(0.98, 190_000, 26_000_000, 0.1))
    figures = device_figures(ws, run_id, get_target("rpi5"), 2.0)
    assert figures.calibrated_ms is None and figures.count == 0 and figures.measured == []
    assert figures.label == "estimated (roofline lower bound)" and figures.calibrated_text == ""
    assert device_figures(None, run_id, "rpi5", 2.0).measured == []  # no workspace open


def test_the_factor_and_the_runs_own_figures(ws):
    a = add_run(ws, "int8", ["quantize.static"], final_metrics(0.98, 190_000, 26_000_000, 0.1))
    b = add_run(ws, "fp16", ["quantize.fp16"], final_metrics(0.99, 350_000, 26_000_000, 0.2))
    store_measurements(ws, [_m(a, "pi", "rpi5", 4.0, 1.0), _m(a, "pi", "rpi5", 9.0, 2.0, role="baseline")])
    store_measurements(ws, [_m(a, "pi", "rpi5", 5.0, 1.0, runs=60, rss=61.5)])  # a later session on the same board
    store_measurements(ws, [_m(b, "pi2", "rpi5", 2.0, 1.0), _m(b, "orin", "jetson-orin-nano", 1.0, 0.1)])
    store_measurements(ws, [_m(b, "pi3", "rpi5", 3.0, None)])  # no estimate (timed off-profile): not calibrating

    figures = device_figures(ws, a, get_target("rpi5"), 3.0)
    # four rpi5 measurements with an estimate, ratios 4, 4.5, 5, 2: the geometric mean
    factor = math.exp((math.log(4) + math.log(4.5) + math.log(5) + math.log(2)) / 4)
    assert figures.count == 4 and figures.factor == pytest.approx(factor)
    assert figures.calibrated_ms == pytest.approx(3.0 * factor)
    assert figures.label == "estimated, calibrated on 4 measurements"
    assert figures.calibrated_text.startswith("estimated, calibrated on 4 measurements: ")
    (pi,) = figures.measured  # the latest of the run's own model, not the baseline, not other runs' boards
    assert (pi.device, pi.median_ms, pi.p90_ms, pi.runs, pi.peak_rss_mb) == ("pi", 5.0, pytest.approx(5.5), 60, 61.5)
    assert pi.text == "measured on pi: 5 ms (median of 60, p90 5.5 ms)"
    assert pi.when.endswith(" UTC") and pi.when[:4].isdigit()
    assert pi.details == ["onnx, fp32 file", "peak RSS 62 MB", pi.when]

    other = device_figures(ws, b, "jetson-orin-nano", 0.2)  # another profile: its own factor, its own boards
    assert other.count == 1 and other.factor == pytest.approx(10.0) and [m.device for m in other.measured] == ["orin"]
    assert [m.device for m in device_figures(ws, b, "rpi5", 1.0).measured] == ["pi2", "pi3"]
    baseline = device_figures(ws, None, "rpi5", 1.0)  # not a stored run: the profile's factor, no board figures
    assert baseline.count == 4 and baseline.measured == []
    assert baseline.to_dict()["measured"] == [] and figures.to_dict()["measured"][0]["device"] == "pi"


def test_the_cli_check_prints_the_calibration_and_the_board(ws, capsys):
    from core.cli import main
    from tests.core.tiny_onnx import write_tiny_classifier

    onnx = write_tiny_classifier(ws.path / "tiny.onnx")
    metrics = {"accuracy": 0.97, "size_bytes": 700_000, "macs": 26_000_000, "params": 175_000}
    run_id = ws.create_run(name="tiny", recipe_name="tiny", recipe_toml="", techniques=["quantize.static"],
                           model_spec=str(onnx), data_spec="demo", load_options={}, options={}, trial_key="k1")
    ws.start_run(run_id)
    ws.finish_run(run_id, "done", {"baseline": metrics, "final": metrics, "seconds": 1.0, "artifacts": {"onnx": str(onnx)},
                                   "steps": []})
    store_measurements(ws, [_m(run_id, "pi", "rpi5", 4.0, 1.0), _m(run_id, "orin", "jetson-orin-nano", 1.0, 0.5)])
    code = main(["export", "--run", str(run_id), "--workspace", str(ws.path), "--target", "rpi5", "--check", "--quiet"])
    out = capsys.readouterr().out
    assert code in (0, 3)
    assert "estimated, calibrated on 1 measurement: " in out and "(the roofline × 4)" in out
    assert "measured on pi: 4 ms (median of 40, p90 4.4 ms), onnx, fp32 file, peak RSS 60 MB, " in out and "orin" not in out
