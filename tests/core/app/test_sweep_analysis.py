"""Sweep analysis (issue 17 item 15): each finished trial's settings and objectives, and optuna's parameter importances.

The trials are stored runs with hand-set metrics (tests/store_runs.py's shape):
running six real trials would take minutes and test the runner, not the analysis.
"""

from __future__ import annotations

import sys

import pytest

from core.app.sweep_analysis import analyse_sweep, finished_trials, swept_raw, swept_value
from core.errors import EdgeSlimError
from core.store.workspace import Workspace
from tests.store_runs import BASELINE, final_metrics

RATIO, QUANT = "prune.structured.ratio", "quantize.static"


def recipe(ratio: float, quant: str) -> str:
    return (f'[[step]]\ntechnique = "prune.structured"\nratio = {ratio}\n\n'
            f'[[step]]\ntechnique = "quantize.static"\nenabled = {"true" if quant == "on" else "false"}\n')


def store_sweep(ws: Workspace, points: list[tuple[float, str]], failed: int = 0, axes=(RATIO, QUANT)) -> tuple[int, list[int]]:
    """A grid sweep over pruning ratio × int8 on/off, as the sweep service stores it, plus ``failed`` failed trials.

    Accuracy falls with the ratio (int8 costs 0.1 pt); the file shrinks 4× with int8 and a little with the ratio.
    """
    sweep = ws.create_sweep("grid", "", {"mode": "grid", "axes": list(axes)})
    ids = []
    for i, (ratio, quant) in enumerate(points + [(0.9, "on")] * failed):
        run_id = ws.create_run(name=f"grid[ratio={ratio:g}, {quant}]", recipe_name="grid", recipe_toml=recipe(ratio, quant),
                               techniques=["prune.structured"], model_spec="demo", data_spec="demo", load_options={},
                               options={}, trial_key=f"k{i}", sweep_id=sweep)
        ws.start_run(run_id)
        if i >= len(points):
            ws.finish_run(run_id, "failed", {"baseline": BASELINE, "final": None, "steps": []}, error="stopped")
            continue
        size = int(700_000 * (1 - ratio / 4) / (4 if quant == "on" else 1))
        accuracy = 0.99 - 0.2 * ratio - (0.001 if quant == "on" else 0.0)
        ws.finish_run(run_id, "done", {"baseline": BASELINE, "final": final_metrics(accuracy, size, 9_000_000, 0.1 + ratio / 10),
                                       "steps": []})
        ids.append(run_id)
    return sweep, ids


GRID = [(r, q) for r in (0.2, 0.4, 0.6) for q in ("off", "on")]


def test_trials_settings_and_objectives_come_from_the_stored_runs(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        sweep, ids = store_sweep(ws, GRID, failed=1)
        a = analyse_sweep(ws, sweep, importance=False)
    assert [p.key for p in a.params] == [RATIO, QUANT]
    ratio, quant = a.params
    assert (ratio.kind, ratio.low, ratio.high, ratio.label) == ("float", 0.2, 0.6, "ratio")
    assert (quant.kind, quant.choices, quant.label) == ("category", ("off", "on"), QUANT)
    assert [t.run_id for t in a.trials] == ids and a.not_finished == 1  # the failed trial does not count
    first = a.trials[0]
    assert first.values == {RATIO: 0.2, QUANT: "off"}
    assert first.objectives["accuracy"] == pytest.approx(0.95)
    assert first.objectives["size"] == int(700_000 * 0.95) and first.objectives["latency"] == pytest.approx(0.12)
    assert a.importances == {}


def test_importances_rank_the_setting_that_decided_each_objective(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # scikit-learn is not needed: importing it would fail here
    with Workspace(tmp_path / "ws") as ws:
        sweep, _ = store_sweep(ws, GRID * 2)
        a = analyse_sweep(ws, sweep)
    acc, size = a.importances["accuracy"], a.importances["size"]
    assert acc.computed and size.computed and acc.trials == 12
    assert sum(acc.values.values()) == pytest.approx(1.0) and sum(size.values.values()) == pytest.approx(1.0)
    assert acc.values[RATIO] > acc.values[QUANT]  # the ratio costs 20 pt per unit, int8 0.1 pt
    assert size.values[QUANT] > size.values[RATIO]  # int8 makes the file 4× smaller, the ratio at most 15 %
    assert list(acc.values) == sorted(acc.values, key=lambda k: -acc.values[k])  # largest first
    assert "PED-ANOVA" in acc.evaluator and "12 trials" in acc.evaluator


def test_too_few_trials_or_one_value_give_a_reason_not_an_exception(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        one, _ = store_sweep(ws, [(0.2, "on")], failed=2)
        constant, _ = store_sweep(ws, [(0.2, "on"), (0.4, "on"), (0.6, "on")])
        flat, _ = store_sweep(ws, [(0.2, "on"), (0.2, "off")], axes=(QUANT,))
        alone = analyse_sweep(ws, one)
        mixed = analyse_sweep(ws, constant)
        same = analyse_sweep(ws, flat)
        with pytest.raises(EdgeSlimError, match="no sweep 99"):
            analyse_sweep(ws, 99)
    imp = alone.importances["accuracy"]
    assert not imp.computed and "at least 2 finished trials" in imp.reason and "has 1" in imp.reason and not imp.values
    imp = mixed.importances["accuracy"]
    assert imp.computed and imp.constant == [QUANT] and list(imp.values) == [RATIO]  # int8 stayed on: not ranked
    assert imp.values[RATIO] == pytest.approx(1.0)
    latency = same.importances["latency"]  # int8 on/off left the (hand-set) latency unchanged
    assert not latency.computed and "same latency" in latency.reason
    assert same.importances["size"].computed


def test_swept_values_read_raw_and_as_cells():
    toml = recipe(0.3, "off")
    assert swept_raw(toml, RATIO) == 0.3 and swept_value(toml, RATIO) == "0.3"
    assert swept_raw(toml, QUANT) == "off" and swept_value(toml, QUANT) == "off"
    assert swept_raw(toml, "lowrank.tucker.rank") is None and swept_raw("not toml [", "x.y") is None


def test_finished_trials_counts_per_sweep(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        a, _ = store_sweep(ws, GRID[:3], failed=2)
        b, _ = store_sweep(ws, GRID[:1])
        rows = ws.list_runs()
    assert finished_trials(rows) == {a: 3, b: 1}


def test_whole_numbers_stay_integers_and_a_missing_value_makes_a_category(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        sweep = ws.create_sweep("mixed", "", {"mode": "optuna", "axes": ["finetune.epochs", "prune.structured.ratio"]})
        for i, (epochs, ratio) in enumerate(((1, "ratio = 0.5"), (3, ""), (2, "ratio = 0.25"))):
            toml = f'[[step]]\ntechnique = "prune.structured"\n{ratio}\n\n[[step]]\ntechnique = "finetune"\nepochs = {epochs}\n'
            run_id = ws.create_run(name=f"t{i}", recipe_name="mixed", recipe_toml=toml, techniques=["prune.structured"],
                                   model_spec="demo", data_spec="demo", load_options={}, options={}, trial_key=f"m{i}", sweep_id=sweep)
            ws.start_run(run_id)
            ws.finish_run(run_id, "done", {"baseline": BASELINE, "final": final_metrics(0.9 + i / 100, 100_000, 9_000_000, 0.1)})
        a = analyse_sweep(ws, sweep)
    epochs, ratio = a.params
    assert (epochs.kind, epochs.low, epochs.high) == ("int", 1.0, 3.0)
    assert [t.values["finetune.epochs"] for t in a.trials] == [1, 3, 2] and isinstance(a.trials[0].values["finetune.epochs"], int)
    assert (ratio.kind, ratio.choices) == ("category", ("0.25", "0.5", "—"))  # trial 2 ran with the technique's default
    assert a.importances["accuracy"].computed and set(a.importances["accuracy"].values) == {"finetune.epochs", RATIO}
