"""Pareto fronts and hypervolume on hand-made metrics whose answers are known."""

from __future__ import annotations

import pytest

from core.errors import EdgeSlimError
from core.pipeline.pareto import hypervolume, pareto_indices, summarise

BASE = {"accuracy": 0.9, "size_bytes": 1000, "latency_ms": {"onnxruntime": 2.0}, "macs": 100}


def m(acc, size, lat=1.0, macs=50):
    return {"accuracy": acc, "size_bytes": size, "latency_ms": {"onnxruntime": lat}, "macs": macs}


def test_front_keeps_only_non_dominated_points_in_size_order():
    pts = [m(0.90, 1000), m(0.89, 500), m(0.85, 600), m(0.80, 250), m(0.89, 500), m(None, 100)]
    assert pareto_indices(pts, ["size", "accuracy"]) == [3, 1, 0]  # 2 is dominated by 1; 4 duplicates 1; 5 has no accuracy


def test_three_objectives_keep_a_point_that_wins_only_on_latency():
    pts = [m(0.9, 500, lat=2.0), m(0.9, 600, lat=1.0), m(0.8, 700, lat=3.0)]
    assert set(pareto_indices(pts, ["accuracy", "size", "latency"])) == {0, 1}


def test_hypervolume_is_the_dominated_area_in_baseline_units():
    # costs: (1 - acc, size / 1000): (0.2, 0.5) and (0.5, 0.2) up to (1, 1)
    pts = [m(0.8, 500), m(0.5, 200)]
    assert hypervolume(pts, BASE, ["accuracy", "size"]) == pytest.approx(0.8 * 0.5 + 0.5 * 0.3)
    assert hypervolume([m(0.8, 1200)], BASE, ["accuracy", "size"]) == 0.0  # bigger than the baseline: saves nothing
    assert summarise(pts, BASE, ["size", "accuracy"]).indices == (1, 0)


def test_objectives_are_checked():
    with pytest.raises(EdgeSlimError, match="unknown objective"):
        pareto_indices([m(0.9, 1)], ["accuracy", "speed"])
    with pytest.raises(EdgeSlimError, match="two or three"):
        pareto_indices([m(0.9, 1)], ["accuracy"])
