"""edgeslim-cli: the commands' output, and one clear line with exit 2 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from core.cli import main
from tests.core.cli.helpers import assert_clear_error, run_cli


def test_every_command_has_help():
    for cmd in ([], ["inspect"], ["evaluate"], ["train-demo"], ["run"], ["techniques"]):
        proc = subprocess.run(
            [sys.executable, "-m", "core.cli", *cmd, "--help"], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        assert "usage: edgeslim-cli" in proc.stdout


def test_evaluate_demo_json_reports_every_field(capsys):
    code, out, err = run_cli(capsys, "evaluate", "demo", "--data", "demo", "--json", "--quiet")
    assert code == 0, err
    report = json.loads(out)
    assert report["accuracy"] >= 0.97
    assert report["params"] > 100_000 and report["macs"] > 1_000_000
    assert report["size_bytes"] > report["params"] * 4 * 0.9  # fp32 weights
    lat = report["latency_ms"]
    assert lat["torch"] > 0 and lat["onnxruntime"] > 0
    assert lat["batch"] == 1 and lat["threads"] == 2


def test_inspect_human_table(capsys):
    code, out, err = run_cli(capsys, "inspect", "demo")
    assert code == 0, err
    assert "layer1.0.conv1" in out and "Conv2d" in out
    assert "total:" in out


def test_inspect_mobilenet_totals_match_torchvision(capsys):
    import torchvision

    code, out, err = run_cli(capsys, "inspect", "torchvision:mobilenet_v3_small", "--json")
    assert code == 0, err
    report = json.loads(out)
    expected = sum(p.numel() for p in torchvision.models.mobilenet_v3_small().parameters())
    assert report["total_params"] == expected
    assert sum(layer["params"] for layer in report["layers"]) == expected
    convs = [layer for layer in report["layers"] if layer["type"] == "Conv2d"]
    assert len(convs) >= 50 and all(layer["macs"] > 0 for layer in convs)


def test_missing_model_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, "inspect", str(tmp_path / "nothere.pt"))
    assert_clear_error(code, err, "nothere.pt")


@pytest.mark.parametrize("suffix", [".pt", ".onnx", ".pt2"])
def test_corrupt_model_file(capsys, tmp_path, suffix):
    bad = tmp_path / f"broken{suffix}"
    bad.write_bytes(b"this is not a model\x00\x01" * 10)
    code, _, err = run_cli(capsys, "inspect", str(bad))
    assert_clear_error(code, err, "broken")


def test_unknown_architecture_suggests_the_close_name(capsys):
    code, _, err = run_cli(capsys, "inspect", "torchvision:resnet19")
    assert_clear_error(code, err, "resnet19", "resnet18")


def test_model_input_size_must_match_data(capsys, tmp_path):
    from core.models.demo_net import DemoResNet
    from core.models.onnx_export import export_onnx

    model = export_onnx(DemoResNet(), (3, 32, 32), tmp_path / "small.onnx")
    folder = tmp_path / "photos"
    for cls in ("cat", "dog"):
        (folder / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (300, 260), (40 * i, 90, 200)).save(folder / cls / f"{i}.png")
    code, _, err = run_cli(capsys, "evaluate", str(model), "--data", str(folder), "--quiet")
    assert_clear_error(code, err, "32", "224")


def test_empty_data_folder(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "evaluate", "demo", "--data", str(tmp_path / "empty"), "--quiet")
    assert_clear_error(code, err, "empty")


def test_folder_without_images(capsys, tmp_path):
    folder = tmp_path / "notes"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    (folder / "a" / "readme.txt").write_text("not an image")
    (folder / "b" / "list.csv").write_text("1,2,3")
    code, _, err = run_cli(capsys, "evaluate", "demo", "--data", str(folder), "--quiet")
    assert_clear_error(code, err, "image")


def test_bad_argument_value_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "demo", "--data", "demo", "--batch", "zero"])
    assert info.value.code == 2


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "edgeslim-cli"
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "edgeslim" in proc.stdout


# --------------------------------------------------------------------------- run / techniques


def _recipe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return path


def test_run_demo_json_reports_baseline_final_steps_and_artifact(capsys, tmp_path):
    recipe = _recipe(tmp_path, 'name = "half-sparse"\n[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.5\n')
    code, out, err = run_cli(
        capsys, "run", str(recipe), "--model", "demo", "--data", "demo", "--out", str(tmp_path / "out"),
        "--repeats", "5", "--json", "--quiet",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["status"] == "done"
    evaluate_keys = {"accuracy", "top5", "params", "nonzero_params", "macs", "size_bytes", "zip_bytes", "latency_ms"}
    assert evaluate_keys <= set(report["baseline"]) and evaluate_keys <= set(report["final"])
    assert report["baseline"]["accuracy"] >= 0.97
    assert report["final"]["nonzero_params"] < 0.6 * report["baseline"]["nonzero_params"]
    assert [s["technique"] for s in report["steps"]] == ["prune.unstructured"]
    assert Path(report["artifact"]).is_file() and report["artifact"].endswith(".onnx")
    assert Path(report["artifacts"]["pt2"]).is_file()


def test_run_prints_a_table_without_json(capsys, tmp_path):
    recipe = _recipe(tmp_path, '[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.3\n')
    code, out, err = run_cli(capsys, "run", str(recipe), "--model", "demo", "--data", "demo",
                             "--out", str(tmp_path / "o"), "--repeats", "3", "--quiet")
    assert code == 0, err
    assert "baseline" in out and "1. prune.unstructured" in out and "speed-up" in out
    assert "zipped" in out  # the honest note about unstructured sparsity


@pytest.mark.parametrize(
    "text, needles",
    [
        ('[[step]]\ntechnique = "prune.unstructurd"\n', ["line 2", "prune.unstructured"]),
        ('[[step]]\ntechnique = "finetune"\nepoch = 3\n', ["line 3", "epochs"]),
        ('[[step]]\ntechnique = "prune.unstructured"\nsparsity = 2\n', ["line 3", "from 0 to 0.99"]),
        ('[[step]]\ntechnique = "quantize.static"\n[[step]]\ntechnique = "finetune"\n', ["line 3", "last"]),
        ("[[step]\n", ["TOML", "line 1"]),
    ],
    ids=["technique", "parameter", "range", "order", "syntax"],
)
def test_run_rejects_bad_recipes_before_loading_anything(capsys, tmp_path, text, needles):
    recipe = _recipe(tmp_path, text)
    code, _, err = run_cli(capsys, "run", str(recipe), "--model", "demo", "--data", "demo", "--out", str(tmp_path / "o"))
    assert_clear_error(code, err, "recipe.toml", *needles)
    assert not (tmp_path / "o").exists()


def test_run_missing_recipe_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", str(tmp_path / "none.toml"), "--model", "demo", "--data", "demo", "--out", str(tmp_path))
    assert_clear_error(code, err, "no such recipe file")


def test_techniques_lists_every_technique_with_parameters(capsys):
    code, out, err = run_cli(capsys, "techniques", "--json")
    assert code == 0, err
    listed = {t["name"]: t for t in json.loads(out)["techniques"]}
    assert {"prune.structured", "prune.unstructured", "quantize.static", "finetune"} <= set(listed)
    ratio = next(p for p in listed["prune.structured"]["params"] if p["name"] == "ratio")
    assert ratio["kind"] == "float" and ratio["help"]
