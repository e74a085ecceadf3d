"""Measuring a stored run on a device over a real SSH server: stored with the run, cancel and drops leave nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.devices.measure import MeasureOptions, choose_provider, measure_run, prepare_bundles, profile_threads
from core.devices.measurements import (device_latencies, estimate_correction, measured_devices, measurements_for_run,
                                       measurements_for_target)
from core.devices.registry import add_device
from core.devices.scratch import pending_scratch
from core.errors import EdgeSlimError
from core.export.targets import get_target
from core.jobs import Cancelled, CancelToken, null_progress
from core.store.workspace import Workspace
from tests.core.devices.cli_helper import devices_cli
from tests.core.devices.test_check import _without_onnxruntime
from tests.core.tiny_onnx import write_tiny_classifier

FAST = dict(runs=4, rounds=2, warmup=1, parity_images=3, parity_samples=16)


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    """A 3×32×32 → 10-class classifier built by hand (no export needed)."""
    return write_tiny_classifier(tmp_path_factory.mktemp("tiny") / "tiny.onnx")


@pytest.fixture
def stored_run(tmp_path, tiny_onnx) -> tuple[Path, int]:
    """A finished run on the demo data whose final model, and baseline, is the tiny ONNX file (no torch export to wait for)."""
    metrics = {"accuracy": 0.97, "size_bytes": 700_000, "zip_bytes": 650_000, "macs": 26_000_000, "params": 175_000, "latency_ms": {"onnxruntime": 0.5}}
    with Workspace(tmp_path / "ws") as ws:
        run_id = ws.create_run(name="tiny run", recipe_name="tiny", recipe_toml="", techniques=["quantize.static"],
                               model_spec=str(tiny_onnx), data_spec="demo", load_options={}, options={}, trial_key="k1")
        ws.start_run(run_id)
        ws.finish_run(run_id, "done", {"baseline": metrics, "final": metrics, "seconds": 1.0,
                                       "artifacts": {"onnx": str(tiny_onnx)}, "steps": []})
    return tmp_path / "ws", run_id


def test_profile_threads():
    assert profile_threads(get_target("rpi5"), 4) == 4
    assert profile_threads(get_target("rpi5"), 2) == 2  # never more than the board has
    assert profile_threads(get_target("jetson-orin-nano"), 6) == 6  # the CPU's 6 cores, not the GPU's 1024
    assert profile_threads(get_target("x86-64"), 16) == 4


def test_choose_provider():
    cpu, cuda = ["CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_provider(get_target("rpi5"), cuda) == ("cpu", [])
    assert choose_provider(get_target("jetson-orin-nano"), cuda) == ("cuda", [])
    provider, notes = choose_provider(get_target("jetson-orin-nano"), cpu)
    assert provider == "cpu" and "onnxruntime-gpu" in notes[0]
    with pytest.raises(EdgeSlimError, match="no CUDAExecutionProvider"):
        choose_provider(get_target("rpi5"), cpu, "cuda")


def test_measure_with_baseline_is_stored_with_the_run(board, stored_run, capsys):
    ws_path, run_id = stored_run
    code, out, err = devices_cli(capsys, "measure", "--run", str(run_id), "--device", "pi", "--workspace", str(ws_path),
                                 "--baseline", "--runs", "6", "--rounds", "2", "--warmup", "1", "--accept-host-key", "--parity-samples", "16",
                                 "--json", "--quiet")
    assert code == 0, err
    result = json.loads(out)
    run, base = result["run"], result["baseline"]
    for m in (run, base):
        assert 0 < m["latency_ms"]["median"] <= m["latency_ms"]["p90"] and m["peak_rss_mb"] > 10
        assert m["device"] == "pi" and m["target"] == "rpi5" and m["runs"] == 6 and m["threads"] >= 1
        assert m["runtime"]["provider"] == "CPUExecutionProvider" and m["parity"]["ok"] and m["parity"]["images"] == 8
        assert "cores" in m["device_description"] and m["estimated_ms"] > 0
    assert run["session"] == base["session"] and run["bundle"]["file"] == "model.onnx"
    assert result["speedup"] == pytest.approx(base["latency_ms"]["median"] / run["latency_ms"]["median"])
    assert pending_scratch("pi") == []  # the scratch folder on the device was removed
    with Workspace(ws_path) as ws:
        stored = measurements_for_run(ws, run_id)
        assert [m["role"] for m in stored] == ["run", "baseline"]
        assert stored[0]["latency_ms"] == run["latency_ms"] and stored[0]["device_description"] == run["device_description"]
        assert list(device_latencies(ws, "pi")) == [run_id] and measured_devices(ws) == ["pi"]
        calibration = estimate_correction(get_target("rpi5"), measurements_for_target(ws, "rpi5"))
    assert calibration.count == 2 and calibration.label == "estimated, calibrated on 2 measurements"
    ratios = [m["latency_ms"]["median"] / m["estimated_ms"] for m in (run, base)]
    assert calibration.factor == pytest.approx(float(np.sqrt(ratios[0] * ratios[1])))
    assert estimate_correction("rpi4", stored).count == 0
    # again, in words: the bundle is reused, a second measurement is added
    card = Path(run["bundle"]["folder"]) / "model.json"
    made = card.stat().st_mtime_ns
    code, out, err = devices_cli(capsys, "measure", "--run", str(run_id), "--device", "pi", "--workspace", str(ws_path),
                                 "--runs", "2", "--rounds", "1", "--quiet", "--parity-samples", "16")
    assert code == 0, err
    assert out.startswith(f"run {run_id} on pi: median ") and "parity on the device: top-1 agrees on 8/8" in out
    with Workspace(ws_path) as ws:
        assert len(measurements_for_run(ws, run_id)) == 3
    assert card.stat().st_mtime_ns == made  # reused, not exported again


def test_infer_benchmark_mode_in_a_bundle(board, stored_run, tiny_onnx):
    ws_path, run_id = stored_run
    with Workspace(ws_path) as ws:
        result = measure_run(ws, run_id, board, MeasureOptions(accept_host_key=True, **FAST))
    bundle = Path(result.run.info["bundle"]["folder"])
    proc = subprocess.run([sys.executable, "infer.py", "--benchmark", "5", "--warmup", "1", "--threads", "1"], cwd=bundle,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("5 runs at batch 1: median ") and "CPUExecutionProvider" in proc.stdout
    proc = subprocess.run([sys.executable, "infer.py"], cwd=bundle, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "give at least one IMAGE" in proc.stderr
    # a run whose model file changed since (a resume rewrote it) gets a fresh bundle
    card = bundle / "model.json"
    before = card.stat().st_mtime
    os.utime(tiny_onnx, (before + 60, before + 60))
    with Workspace(ws_path) as ws:
        prepare_bundles(ws, run_id, get_target("rpi5"), MeasureOptions(**FAST), null_progress, None)
    assert card.stat().st_mtime > before


def _scratch_from(messages: list[str]) -> Path:
    line = next(m for m in messages if m.startswith("copying the bundle to"))
    return Path(line.split(":", 1)[1])


def test_cancel_mid_measure_stores_nothing_and_cleans_the_device(board, stored_run, sshd):
    ws_path, run_id = stored_run
    token, messages = CancelToken(), []

    def progress(fraction: float, message: str) -> None:
        messages.append(message)
        if message.startswith("timing the run model"):
            token.cancel()

    with Workspace(ws_path) as ws:
        with pytest.raises(Cancelled):
            measure_run(ws, run_id, board, MeasureOptions(accept_host_key=True, baseline=True, **FAST), progress, token)
        assert measurements_for_run(ws, run_id) == []
    scratch = _scratch_from(messages)
    assert scratch.name.startswith("edgeslim-measure-") and not scratch.exists()
    assert pending_scratch("pi") == []


def test_a_dropped_connection_stores_nothing_and_the_next_one_cleans_up(board, stored_run, sshd):
    ws_path, run_id = stored_run
    messages = []

    def progress(fraction: float, message: str) -> None:
        messages.append(message)
        if message.startswith("timing the run model"):
            sshd.drop()

    with Workspace(ws_path) as ws:
        with pytest.raises(EdgeSlimError, match="was lost"):
            measure_run(ws, run_id, board, MeasureOptions(accept_host_key=True, **FAST), progress)
        assert measurements_for_run(ws, run_id) == []
        scratch = _scratch_from(messages)
        assert pending_scratch("pi") == [str(scratch)]  # could not be removed over a dead connection: remembered
        measure_run(ws, run_id, board, MeasureOptions(**FAST))  # the next connection removes it first
        assert len(measurements_for_run(ws, run_id)) == 1
    assert not scratch.exists() and pending_scratch("pi") == []


def test_measure_on_a_device_without_onnxruntime(config, sshd, stored_run, tmp_path, capsys):
    ws_path, run_id = stored_run
    add_device("bare", "me@127.0.0.1", "rpi5", port=sshd.port, identity=str(sshd.client_key_path),
               python=_without_onnxruntime(tmp_path))
    code, _, err = devices_cli(capsys, "measure", "--run", str(run_id), "--device", "bare", "--workspace", str(ws_path),
                               "--accept-host-key", "--quiet")
    assert code == 2 and "lacks onnxruntime" in err and "-m pip install onnxruntime" in err and "Traceback" not in err
    with Workspace(ws_path) as ws:
        assert measurements_for_run(ws, run_id) == []


def test_an_unknown_or_unfinished_run_fails_before_connecting(config, stored_run, capsys):
    ws_path, run_id = stored_run
    add_device("far", "pi@192.0.2.1", "rpi5")  # TEST-NET: a connection would hang, so none may be tried
    code, _, err = devices_cli(capsys, "measure", "--run", "999", "--device", "far", "--workspace", str(ws_path))
    assert code == 2 and "there is no run 999" in err and len(err.strip().splitlines()) == 1
    with Workspace(ws_path) as ws:
        pending = ws.create_run(name="p", recipe_name="p", recipe_toml="", techniques=[], model_spec="demo",
                                data_spec="demo", load_options={}, options={}, trial_key="k2")
    code, _, err = devices_cli(capsys, "measure", "--run", str(pending), "--device", "far", "--workspace", str(ws_path))
    assert code == 2 and "not done" in err and "runs resume" in err


def test_runs_show_carries_the_measurement_and_delete_removes_it(board, stored_run, capsys):
    from core.cli import main

    ws_path, run_id = stored_run
    code, out, err = devices_cli(capsys, "measure", "--run", str(run_id), "--device", "pi", "--workspace", str(ws_path),
                                 "--runs", "4", "--rounds", "1", "--warmup", "1", "--accept-host-key", "--parity-samples", "16",
                                 "--json", "--quiet")
    assert code == 0, err
    assert main(["runs", "show", str(run_id), "--workspace", str(ws_path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(m["device"], m["role"]) for m in shown["measurements"]] == [("pi", "run")]
    assert main(["runs", "show", str(run_id), "--workspace", str(ws_path)]) == 0
    assert "measured on pi (run): median" in capsys.readouterr().out
    code = main(["export", "--run", str(run_id), "--workspace", str(ws_path), "--target", "rpi5", "--check", "--quiet"])
    assert code in (0, 3) and "estimated, calibrated on 1 measurement" in capsys.readouterr().out
    with Workspace(ws_path) as ws:
        ws.delete_run(run_id)
        assert measurements_for_run(ws, run_id) == []
