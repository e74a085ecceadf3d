"""The Explore page model without Qt: what is listed and plotted, the floor, the ranges, the log ticks."""

from __future__ import annotations

import math

import pytest

from core.store.workspace import Workspace
from gui.pages.explore_model import ExploreModel, log_ticks, swept_value
from tests.gui.test_explore_truth import add
from tests.store_runs import final_metrics


def test_the_page_model_imports_no_qt():
    import gui.pages.explore_model as module

    assert not any(name.startswith(("PySide6", "pyqtgraph")) for name in module.__dict__)
    source = open(module.__file__, encoding="utf-8").read()
    assert "PySide6" not in source and "pyqtgraph" not in source


@pytest.fixture
def model(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        add(ws, "a", final_metrics(0.98, 100_000, 9_000_000, 0.1))
        add(ws, "b", final_metrics(0.95, 200_000, 9_000_000, 0.2))
        add(ws, "failed", final_metrics(0.2, 6_000_000, 9_000_000, 3.0), status="failed")
        rows = ws.list_runs()
    m = ExploreModel()
    m.load(rows)
    return m


def test_failed_runs_are_neither_listed_nor_in_the_range_until_asked_for(model):
    assert [s.name for s in model.plotted] == ["a", "b"] and model.hidden_stopped == 1
    r = model.x_range(1024)
    assert r.high < 6_000_000 / 1024 and r.low < 100_000 / 1024 < 200_000 / 1024 < r.high
    model.update(show_stopped=True)
    assert {s.name for s in model.plotted} == {"a", "b", "failed"} and model.x_range(1024).high > 6_000_000 / 1024


def test_the_floor_defaults_to_the_baseline_less_five_points_and_can_be_set(model):
    assert model.shown_floor() == pytest.approx(0.94)  # tests.store_runs' baseline is 99 %
    assert {s.name for s in model.summaries if s.on_front} == {"a"}
    model.update(floor_pct=96.0)
    b = next(s for s in model.summaries if s.name == "b")
    assert b.fits is False and not b.on_front
    assert model.y_range().low < 96.0  # the floor is in view when near the runs


def test_log_ticks_label_a_narrow_range():
    ticks = log_ticks(math.log10(0.21), math.log10(0.29))
    assert len(ticks) >= 2 and all(math.log10(0.21) <= x <= math.log10(0.29) for x, _ in ticks)
    wide = [t for _, t in log_ticks(-3, 1)]
    assert wide == ["0.001", "0.01", "0.1", "1", "10"]
    assert log_ticks(1.0, 1.0) == []


def test_swept_values_come_from_the_trials_recipe():
    toml = '[[step]]\ntechnique = "prune.structured"\nratio = 0.3\n[[step]]\ntechnique = "quantize.static"\nenabled = false\n'
    assert swept_value(toml, "prune.structured.ratio") == "0.3"
    assert swept_value(toml, "quantize.static") == "off"
    assert swept_value(toml, "lowrank.tucker.rank") is None and swept_value("not toml [", "x.y") is None
