"""edgeslim-cli sweep / runs / run --workspace: stored runs listed, shown, on the front, resumable."""

from __future__ import annotations

import json
from pathlib import Path

from tests.core.cli.helpers import assert_clear_error, run_cli

RECIPE = '[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.4\n'
FAST = ("--repeats", "3", "--threads", "1", "--quiet")


def test_run_in_a_workspace_then_list_show_and_pareto(capsys, tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(RECIPE)
    ws = str(tmp_path / "ws")
    code, out, err = run_cli(capsys, "run", str(recipe), "--model", "demo", "--data", "demo", "--workspace", ws, "--json", *FAST)
    assert code == 0, err
    first = json.loads(out)
    assert first["run_id"] == 1 and first["status"] == "done" and not first["reused"]
    assert Path(first["artifact"]).is_relative_to(Path(ws))

    code, out, err = run_cli(capsys, "run", str(recipe), "--model", "demo", "--data", "demo", "--workspace", ws, "--json", *FAST)
    assert code == 0 and json.loads(out)["reused"] and json.loads(out)["run_id"] == 1  # identical: not run again

    code, out, err = run_cli(capsys, "runs", "list", "--workspace", ws, "--json")
    (row,) = json.loads(out)["runs"]
    assert row["id"] == 1 and row["status"] == "done" and row["pareto"] is True
    assert row["final"]["accuracy"] > 0.9 and row["techniques"] == ["prune.unstructured"]

    code, out, err = run_cli(capsys, "runs", "show", "1", "--workspace", ws)
    assert code == 0 and "1. prune.unstructured" in out and "onnx:" in out

    code, out, err = run_cli(capsys, "runs", "pareto", "--workspace", ws, "--x", "zip", "--y", "accuracy", "--json")
    front = json.loads(out)
    assert [r["id"] for r in front["front"]] == [1] and front["hypervolume"] > 0

    code, _, err = run_cli(capsys, "runs", "resume", "1", "--workspace", ws)
    assert_clear_error(code, err, "run 1 is done")
    code, _, err = run_cli(capsys, "runs", "show", "7", "--workspace", ws)
    assert_clear_error(code, err, "no run 7")


def test_sweep_grid_json(capsys, tmp_path):
    (tmp_path / "base.toml").write_text(RECIPE)
    sweep = tmp_path / "s.toml"
    sweep.write_text('name = "g"\nrecipe = "base.toml"\n[grid]\n"prune.unstructured.sparsity" = [0.2, 0.5]\n')
    code, out, err = run_cli(capsys, "sweep", str(sweep), "--model", "demo", "--data", "demo",
                             "--workspace", str(tmp_path / "ws"), "--json", *FAST)
    assert code == 0, err
    report = json.loads(out)
    assert report["status"] == "done" and [t["status"] for t in report["trials"]] == ["done", "done"]
    assert set(report["front"]) <= {t["run_id"] for t in report["trials"]}


def test_sweep_errors_are_one_line(capsys, tmp_path):
    sweep = tmp_path / "s.toml"
    sweep.write_text('[[step]]\ntechnique = "finetune"\n[grid]\n"finetune.epochs" = [0]\n')
    code, _, err = run_cli(capsys, "sweep", str(sweep), "--model", "demo", "--data", "demo", "--workspace", str(tmp_path))
    assert_clear_error(code, err, "finetune.epochs", "from 1 to 200")
    sweep.write_text('[[step]]\ntechnique = "finetune"\n[grid]\n"finetune.epochs" = [1]\n')
    code, _, err = run_cli(capsys, "sweep", str(sweep), "--model", "demo", "--data", "demo", "--workers", "2", "--cluster", "local:2")
    assert_clear_error(code, err, "--workers and --cluster")
