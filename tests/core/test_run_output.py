"""``run --out``: never over an input, an earlier result replaced only with --force and then whole (issue 15, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import EdgeSlimError
from core.run_output import RunOutput, input_paths
from tests.core.cli.helpers import run_cli


def _earlier(folder: Path) -> None:
    (folder / "steps" / "02-finetune").mkdir(parents=True)
    (folder / "model.pt2").write_bytes(b"old program")
    (folder / "result.json").write_text(json.dumps({"status": "done", "recipe": {}, "artifact": str(folder / "model.pt2")}))


def _work(files: dict[str, str], fail: bool = False):
    def work(folder: Path) -> str:
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
        (folder / "result.json").write_text(json.dumps({"status": "failed" if fail else "done", "recipe": {},
                                                        "artifacts": {"onnx": str(folder / "model.onnx")}}))
        if fail:
            raise EdgeSlimError("step 1 failed", "fix it")
        return "value"

    return work


def test_an_out_that_holds_or_is_inside_an_input_is_refused(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "model.onnx").write_bytes(b"m")
    with pytest.raises(EdgeSlimError, match="holds the run's input"):
        RunOutput.check(tmp_path / "d", input_paths([str(tmp_path / "d" / "model.onnx")]), force=True)
    with pytest.raises(EdgeSlimError, match="holds the run's input"):
        RunOutput.check(tmp_path, input_paths([f"cifar10:{tmp_path / 'd'}"]), force=True)
    with pytest.raises(EdgeSlimError, match="inside the input folder"):
        RunOutput.check(tmp_path / "d" / "out", input_paths([str(tmp_path / "d")]), force=False)
    assert input_paths(["demo", "torchvision:resnet18", None]) == []


def test_force_replaces_an_earlier_result_completely_and_paths_name_the_final_folder(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    _earlier(out)
    with pytest.raises(EdgeSlimError, match="(?i)pass --force"):
        RunOutput.check(out, [], force=False)
    value, record = RunOutput.check(out, [], force=True).run(_work({"model.onnx": "new", "steps/01-prune/x": "new"}))
    assert value == "value"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["model.onnx", "result.json", "steps", "steps/01-prune",
                                                                        "steps/01-prune/x"]
    assert record["artifacts"]["onnx"] == str(out / "model.onnx")
    assert json.loads((out / "result.json").read_text())["artifacts"]["onnx"] == str(out / "model.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]  # no hidden folder left


def test_a_failed_run_keeps_the_earlier_result_and_records_a_first_failure(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    _earlier(out)
    with pytest.raises(EdgeSlimError, match="step 1 failed"):
        RunOutput.check(out, [], force=True).run(_work({"model.onnx": "new"}, fail=True))
    assert (out / "model.pt2").read_bytes() == b"old program" and not (out / "model.onnx").exists()

    def interrupted(folder: Path) -> None:
        _work({"model.onnx": "half"})(folder)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # Ctrl-C: the same
        RunOutput.check(out, [], force=True).run(interrupted)
    assert (out / "model.pt2").read_bytes() == b"old program" and not (out / "model.onnx").exists()
    fresh = tmp_path / "fresh"
    with pytest.raises(EdgeSlimError):
        RunOutput.check(fresh, [], force=False).run(_work({}, fail=True))
    assert json.loads((fresh / "result.json").read_text())["status"] == "failed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "o"]


@pytest.mark.slow
def test_cli_run_force_leaves_no_stale_files(capsys, tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.3\n')
    out = tmp_path / "o"
    out.mkdir()
    _earlier(out)
    argv = ["run", str(recipe), "--model", "demo", "--data", "demo", "--out", str(out), "--repeats", "2", "--threads", "1", "--quiet", "--json"]
    code, report, err = run_cli(capsys, *argv, "--force")
    assert code == 0, err
    assert not (out / "steps" / "02-finetune").exists() and (out / "model.pt2").read_bytes() != b"old program"
    assert json.loads(report)["artifact"] == str(out / "model.onnx") and Path(json.loads(report)["artifact"]).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o", "r.toml"]
