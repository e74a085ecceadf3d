"""edgeslim-cli export and targets: bundles from a model or a stored run, and one clear line for every mistake."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.paths import RESOURCES_DIR
from tests.core.cli.helpers import assert_clear_error, run_cli
from tests.core.tiny_onnx import write_tiny_classifier


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    """A 3×32×32 → 10-class classifier small enough to build by hand (no export needed)."""
    return write_tiny_classifier(tmp_path_factory.mktemp("tiny") / "tiny.onnx")


@pytest.fixture
def workspace_run(tmp_path, tiny_onnx):
    """A finished run stored in a workspace, whose final model is the tiny ONNX file."""
    from core.store.workspace import Workspace

    ws_path = tmp_path / "ws"
    recipe = (RESOURCES_DIR / "recipes" / "int8-static.toml").read_text()
    metrics = {"accuracy": 0.97, "size_bytes": 700_000, "macs": 26_000_000, "params": 175_000, "latency_ms": {"onnxruntime": 0.5}}
    final = {**metrics, "accuracy": 0.96, "size_bytes": tiny_onnx.stat().st_size}
    with Workspace(ws_path) as ws:
        run_id = ws.create_run(name="tiny run", recipe_name="int8-static", recipe_toml=recipe, techniques=["quantize.static"],
                               model_spec="demo", data_spec="demo", load_options={}, options={}, trial_key="k1")
        ws.start_run(run_id)
        ws.finish_run(run_id, "done", {"baseline": metrics, "final": final, "seconds": 1.0, "artifacts": {"onnx": str(tiny_onnx)},
                                       "steps": [{"index": 1, "technique": "quantize.static", "metrics": final}]})
        pending = ws.create_run(name="pending", recipe_name="int8-static", recipe_toml=recipe, techniques=["quantize.static"],
                                model_spec="demo", data_spec="demo", load_options={}, options={}, trial_key="k2")
    return ws_path, run_id, pending


def test_help():
    for cmd in (["export"], ["targets"]):
        proc = subprocess.run([sys.executable, "-m", "core.cli", *cmd, "--help"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "usage: edgeslim-cli" in proc.stdout, proc.stderr


def test_targets_table_and_json(capsys):
    code, out, err = run_cli(capsys, "targets")
    assert code == 0, err
    for name in ("rpi4", "rpi5", "jetson-orin-nano", "stm32h7", "esp32s3", "x86-64"):
        assert name in out
    code, out, err = run_cli(capsys, "targets", "--json")
    report = json.loads(out)
    stm = next(t for t in report["targets"] if t["name"] == "stm32h7")
    assert stm["memory"]["ram_bytes"] == 2**20 and stm["formats"] == ["onnx-int8"] and stm["shipped"]
    assert "approximate" in stm["source"]


def test_broken_user_profile_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESLIM_TARGETS", str(tmp_path))
    (tmp_path / "mine.toml").write_text('label = "Mine"\n')
    code, _, err = run_cli(capsys, "targets")
    assert_clear_error(code, err, "mine.toml", "`kind`", "is missing")


def test_export_run_from_a_workspace(capsys, workspace_run, tmp_path):
    ws, run_id, _ = workspace_run
    out = tmp_path / "bundle"
    code, stdout, err = run_cli(capsys, "export", "--run", str(run_id), "--workspace", str(ws), "--target", "x86-64",
                                "--out", str(out), "--json", "--quiet", "--parity-samples", "16")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["format"] == "onnx" and result["fit"]["fits"] and result["parity"][0]["max_abs_diff"] == 0.0
    card = json.loads((out / "model.json").read_text())
    assert card["source"]["run_id"] == run_id and card["recipe"]["name"] == "int8-static"
    assert card["metrics"]["run"]["baseline"]["accuracy"] == 0.97
    html = (out / "report.html").read_text()
    assert "baseline" in html and "1. quantize.static" in html and "exported (onnx)" in html
    # the same run converted at export, with the human output
    code, stdout, err = run_cli(capsys, "export", "--run", str(run_id), "--workspace", str(ws), "--target", "rpi5",
                                "--out", str(tmp_path / "fp16"), "--format", "onnx-fp16", "--quiet", "--parity-samples", "16")
    assert code == 0, err
    assert stdout.startswith(f"bundle: {tmp_path / 'fp16'}  (Raspberry Pi 5, onnx-fp16)")
    assert "fit: fits" in stdout and "estimate on Raspberry Pi 5:" in stdout and "parity: model-fp16.onnx vs" in stdout


def test_export_demo_model(capsys, tmp_path):
    out = tmp_path / "demo-rpi4"
    code, stdout, err = run_cli(capsys, "export", "--model", "demo", "--target", "rpi4", "--out", str(out), "--json",
                                "--quiet", "--parity-samples", "32")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["format"] == "onnx" and result["model"]["file"] == "model.onnx"
    assert result["parity"][0]["agreement"] == 1.0 and result["parity"][0]["samples"] == 32
    assert result["estimate"]["latency_ms"] > 0 and result["latency_ms"]["measured"]["median_ms"] > 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "infer.py", "model.json", "model.onnx", "report.html"]


def test_mistakes_are_one_line(capsys, tmp_path, tiny_onnx, workspace_run):
    ws, _, pending = workspace_run
    base = ["export", "--model", str(tiny_onnx), "--data", "demo", "--quiet"]
    code, _, err = run_cli(capsys, *base, "--target", "rpi-4", "--out", str(tmp_path / "a"))
    assert_clear_error(code, err, "unknown target 'rpi-4'", "did you mean rpi4")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x.txt").write_text("x")
    code, _, err = run_cli(capsys, *base, "--target", "rpi4", "--out", str(busy))
    assert_clear_error(code, err, "already exists and is not empty", "--force")
    code, _, err = run_cli(capsys, *base, "--target", "rpi4", "--out", str(busy), "--force")
    assert_clear_error(code, err, "holds no EdgeSlim bundle")
    code, _, err = run_cli(capsys, *base, "--target", "stm32h7", "--format", "onnx", "--out", str(tmp_path / "b"))
    assert_clear_error(code, err, "does not fit STM32H7", "runs int8 only", "--format onnx-int8")
    code, _, err = run_cli(capsys, "export", "--model", str(tiny_onnx), "--target", "rpi4", "--out", str(tmp_path / "c"), "--quiet")
    assert_clear_error(code, err, "export needs the model's data", "--data")
    code, _, err = run_cli(capsys, *base, "--workspace", str(ws), "--target", "rpi4", "--out", str(tmp_path / "d"))
    assert_clear_error(code, err, "--workspace goes with --run")
    code, _, err = run_cli(capsys, *base, "--target", "rpi4", "--format", "pt2", "--out", str(tmp_path / "e"))
    assert_clear_error(code, err, "needs a PyTorch model")
    code, _, err = run_cli(capsys, "export", "--run", "99", "--workspace", str(ws), "--target", "rpi4", "--out", str(tmp_path / "f"), "--quiet")
    assert_clear_error(code, err, "no run 99")
    code, _, err = run_cli(capsys, "export", "--run", str(pending), "--workspace", str(ws), "--target", "rpi4", "--out", str(tmp_path / "g"), "--quiet")
    assert_clear_error(code, err, "not done")
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
    with pytest.raises(SystemExit):
        run_cli(capsys, "export", "--run", "1", "--model", "demo", "--target", "rpi4", "--out", str(tmp_path / "h"))


def test_export_check_prints_the_fit_and_writes_nothing(capsys, tmp_path, monkeypatch):
    from tests.core.export.test_preview import SMALL_BOARD

    monkeypatch.chdir(tmp_path)
    code, stdout, err = run_cli(capsys, "export", "--model", "demo", "--target", "rpi4", "--check", "--json", "--quiet")
    assert code == 0, err
    preview = json.loads(stdout)
    assert preview["fit"]["fits"] and preview["format"] == "onnx" and preview["precision"] == "fp32"
    assert preview["estimate"]["latency_ms"] > 0 and preview["estimate"]["target"] == "rpi4" and preview["op_types"]["Conv"] >= 15
    # a board too small for the demo: exit status 1, the reasons with what to do, and the estimate
    folder = tmp_path / "targets"
    folder.mkdir()
    (folder / "small-board.toml").write_text(SMALL_BOARD)
    monkeypatch.setenv("EDGESLIM_TARGETS", str(folder))
    code, stdout, err = run_cli(capsys, "export", "--model", "demo", "--target", "small-board", "--check", "--quiet")
    assert code == 3, err
    assert stdout.startswith("check: Small board, onnx (fp32, model file ") and "nothing written" in stdout
    assert "fit: does not fit: flash: needs " in stdout and "prune more channels" in stdout and "RAM: needs " in stdout
    assert "estimate on Small board: " in stdout and "flash " in stdout
    assert [p.name for p in tmp_path.iterdir()] == ["targets"]  # nothing written
    # without --check the bundle needs a folder, and says so before loading anything
    code, _, err = run_cli(capsys, "export", "--model", "demo", "--target", "rpi4", "--quiet")
    assert_clear_error(code, err, "needs --out", "--check")
