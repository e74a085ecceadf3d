"""Sweeps: grid and Optuna trials as stored runs, streamed, reused, and on a Dask LocalCluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.app.executors import DaskExecutor
from core.app.sources import DataSource, ModelSource
from core.app.sweep import run_sweep
from core.pipeline.runner import RunOptions
from core.pipeline.sweep import SweepError, apply_point, load_sweep, parse_sweep
from core.store.workspace import Workspace

DEMO_MODEL, DEMO_DATA = ModelSource("demo"), DataSource("demo")
FAST = RunOptions(threads=1, warmup=1, repeats=3)
BASE = '''name = "base"
[[step]]
technique = "prune.unstructured"
sparsity = 0.5
[[step]]
technique = "quantize.dynamic"
'''


def _write(tmp_path: Path, grid: str, mode: str = "grid", extra: str = "") -> Path:
    (tmp_path / "base.toml").write_text(BASE)
    path = tmp_path / "sweep.toml"
    table = "grid" if mode == "grid" else "search"
    path.write_text(f'name = "s"\nrecipe = "base.toml"\nmode = "{mode}"\n{extra}\n[{table}]\n{grid}')
    return path


def test_grid_runs_every_point_streams_them_and_reuses_identical_trials(tmp_path):
    sweep = load_sweep(_write(tmp_path, '"prune.unstructured.sparsity" = [0.2, 0.6]\n"quantize.dynamic" = ["off"]\n'))
    assert sweep.size() == 2
    seen = []
    out = run_sweep(sweep, tmp_path / "ws", DEMO_MODEL, DEMO_DATA, options=FAST, on_trial=seen.append)
    assert out.status == "done" and sorted(t.number for t in seen) == [0, 1]
    assert all(t.status == "done" and t.final and not t.reused for t in seen)
    low, high = sorted(seen, key=lambda t: t.point["prune.unstructured.sparsity"])
    assert low.final["nonzero_params"] > high.final["nonzero_params"]
    assert out.front and set(out.front) <= {t.run_id for t in seen}
    with Workspace(tmp_path / "ws") as ws:
        runs = ws.list_runs(sweep_id=out.sweep_id)
        assert len(runs) == 2 and all(r.techniques == ["prune.unstructured"] for r in runs)  # the dynamic step is off
        assert ws.get_sweep(out.sweep_id)["status"] == "done"
    again = run_sweep(sweep, tmp_path / "ws", DEMO_MODEL, DEMO_DATA, options=FAST)
    assert all(t.reused for t in again.trials)
    with Workspace(tmp_path / "ws") as ws:
        assert len(ws.list_runs()) == 2  # nothing re-run


def test_optuna_search_with_a_size_constraint(tmp_path):
    sweep = load_sweep(_write(
        tmp_path, '"prune.unstructured.sparsity" = { min = 0.1, max = 0.7 }\n', mode="optuna",
        extra='trials = 3\nsampler = "tpe"\nobjectives = ["accuracy", "zip"]\n[constraints]\nmin_accuracy = 0.5\n',
    ))
    out = run_sweep(sweep, tmp_path / "ws", DEMO_MODEL, DEMO_DATA, options=FAST)
    assert len(out.trials) == 3 and all(t.status == "done" for t in out.trials)
    values = [t.point["prune.unstructured.sparsity"] for t in out.trials]
    assert all(0.1 <= v <= 0.7 for v in values) and len(set(values)) == 3
    assert all(t.feasible == (t.final["accuracy"] >= 0.5) for t in out.trials)
    assert out.objectives == ["accuracy", "zip"] and out.hypervolume >= 0.0


def test_dask_local_cluster_runs_the_same_trials(tmp_path):
    sweep = load_sweep(_write(tmp_path, '"prune.unstructured.sparsity" = [0.3]\n"quantize.dynamic" = ["off"]\n'))
    executor = DaskExecutor("local:1")
    assert "Dask" in executor.describe()
    out = run_sweep(sweep, tmp_path / "ws", DEMO_MODEL, DEMO_DATA, options=FAST, executor=executor)
    assert [t.status for t in out.trials] == ["done"]
    with Workspace(tmp_path / "ws") as ws:
        assert ws.get_run(out.trials[0].run_id).status == "done"


@pytest.mark.parametrize(
    "grid, needle",
    [
        ('"prune.structurd.ratio" = [0.5]\n', "no prune.structurd step"),
        ('"prune.unstructured.sparsity" = [0.5, 1.5]\n', "1.5"),
        ('"prune.unstructured.spars" = [0.5]\n', "sparsity"),
        ('"quantize.dynamic" = ["maybe"]\n', "on"),
        ('"prune.unstructured.sparsity" = 0.5\n', "list of values"),
    ],
)
def test_bad_sweeps_are_refused_before_any_trial(tmp_path, grid, needle):
    with pytest.raises(SweepError) as err:
        load_sweep(_write(tmp_path, grid))
    assert needle in str(err.value)


def test_sweep_file_problems(tmp_path):
    with pytest.raises(SweepError, match="no such sweep file"):
        load_sweep(tmp_path / "none.toml")
    with pytest.raises(SweepError, match="unknown key"):
        parse_sweep('recipe = "x.toml"\ngird = 1\n', tmp_path)
    with pytest.raises(SweepError, match="nothing to vary"):
        parse_sweep('[[step]]\ntechnique = "finetune"\n', tmp_path)
    with pytest.raises(SweepError, match="min < max"):
        parse_sweep('mode = "optuna"\n[[step]]\ntechnique = "finetune"\n[search]\n"finetune.lr" = { min = 1, max = 0.1 }\n', tmp_path)


def test_apply_point_switches_steps_and_sets_parameters():
    from core.pipeline.recipe import parse_recipe

    r = apply_point(parse_recipe(BASE), {"prune.unstructured.sparsity": 0.7, "quantize.dynamic": "off"}, "v")
    assert r.steps[0].config.sparsity == 0.7 and not r.steps[1].enabled and r.name == "v"


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[3] / "resources" / "sweeps").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_sweeps_are_valid(path):
    sweep = load_sweep(path)
    assert sweep.size() >= 4 and sweep.name == path.stem
