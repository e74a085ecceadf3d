"""``edgeslim-cli sweep-analysis ID``: a stored sweep's trials and its settings' importances, as core computes them."""

from __future__ import annotations

import json

import pytest

from core.app.sweep_analysis import analyse_sweep
from core.store.workspace import Workspace
from tests.core.app.test_sweep_analysis import GRID, QUANT, RATIO, store_sweep
from tests.core.cli.helpers import assert_clear_error, run_cli


@pytest.fixture
def sweep_ws(tmp_path):
    path = tmp_path / "ws"
    with Workspace(path) as ws:
        sweep, ids = store_sweep(ws, GRID * 2, failed=1)
        expected = analyse_sweep(ws, sweep)
    return path, sweep, ids, expected


def test_table_lists_finished_trials_and_core_importances(capsys, sweep_ws):
    path, sweep, ids, expected = sweep_ws
    code, out, err = run_cli(capsys, "sweep-analysis", str(sweep), "--workspace", str(path))
    assert code == 0, err
    lines = out.splitlines()
    trial_rows = [line for line in lines if line.lstrip().startswith("#")]
    assert [int(line.split()[0][1:]) for line in trial_rows] == ids  # the failed trial is not listed
    assert "12 finished trials, 1 not finished" in out
    ratio_row = next(line for line in lines if line.startswith(RATIO))
    shown = [float(x) for x in ratio_row.split()[1:]]
    assert shown == [round(expected.importances[o].values[RATIO], 3) for o in ("accuracy", "size", "latency")]
    assert "accuracy: by PED-ANOVA" in out


def test_json_for_one_objective_matches_core(capsys, sweep_ws):
    path, sweep, _, expected = sweep_ws
    code, out, err = run_cli(capsys, "sweep-analysis", str(sweep), "--workspace", str(path), "--objective", "size", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert list(doc["importances"]) == ["size"]
    assert doc["importances"]["size"]["values"] == pytest.approx(expected.importances["size"].values)
    assert doc["importances"]["size"]["values"][QUANT] > doc["importances"]["size"]["values"][RATIO]
    assert len(doc["trials"]) == 12 and doc["not_finished"] == 1


def test_reason_shown_when_importance_cannot_be_computed(capsys, tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        sweep, _ = store_sweep(ws, GRID[:1], failed=1)
    code, out, err = run_cli(capsys, "sweep-analysis", str(sweep), "--workspace", str(tmp_path / "ws"), "--objective", "accuracy")
    assert code == 0, err
    assert "accuracy: not computed: needs at least 2 finished trials" in out


def test_unknown_sweep_is_one_clear_line(capsys, sweep_ws):
    path = sweep_ws[0]
    code, _, err = run_cli(capsys, "sweep-analysis", "99", "--workspace", str(path))
    assert_clear_error(code, err, "no sweep 99")
