"""The accuracy floor (issue 17, item 4): a chance-level run is never on the front, whatever it saves."""

from __future__ import annotations

import pytest

from core.pipeline.pareto import DEFAULT_FLOOR_PT, below_floor, default_floor, pareto_indices


def m(acc, size):
    return {"accuracy": acc, "size_bytes": size}


def test_a_run_below_the_floor_is_not_on_the_front():
    pts = [m(0.99, 1000), m(0.97, 400), m(0.10, 50)]  # the last is chance level and tiny
    assert pareto_indices(pts, ["size", "accuracy"]) == [2, 1, 0]
    floor = default_floor(0.99)
    assert floor == pytest.approx(0.99 - DEFAULT_FLOOR_PT / 100)
    assert pareto_indices(pts, ["size", "accuracy"], floor) == [1, 0]


def test_floors_per_run_follow_each_runs_own_baseline():
    pts = [m(0.70, 100), m(0.70, 100.5)]  # two models: 0.70 is fine for the first, far below the second's baseline
    assert pareto_indices(pts, ["size", "accuracy"], [default_floor(0.72), default_floor(0.95)]) == [0]
    assert pareto_indices(pts, ["size", "accuracy"], [default_floor(0.95), default_floor(0.72)]) == [1]


def test_below_floor_needs_a_floor_and_a_measurement():
    assert below_floor(0.5, 0.9) and not below_floor(0.9, 0.9)
    assert not below_floor(None, 0.9) and not below_floor(0.1, None)
    assert default_floor(None) is None and default_floor(0.03) == 0.0
