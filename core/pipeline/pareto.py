"""Pareto fronts and hypervolume over run metrics (accuracy, size, latency, MACs).

A run is on the front when no other run is at least as good on every chosen
objective and better on one. The hypervolume of a front — the volume it
dominates up to a reference point — is the single number by which two searches
(a grid and an Optuna study, say) are compared. Costs are divided by the
baseline's so that bytes, milliseconds and MACs share one scale, and accuracy
enters as 1 − accuracy; the reference point is the baseline's cost (1.0) and
zero accuracy, so only runs that save something count.

A target may set an accuracy floor (by default the baseline's accuracy less
:data:`DEFAULT_FLOOR_PT` points): a run below it does not fit the target and is
not on the front, however small or fast — a chance-level model is no trade-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np

from core.errors import EdgeSlimError

# objective name -> (how to read it from a metrics dict, direction)
OBJECTIVES: dict[str, str] = {"accuracy": "max", "size": "min", "latency": "min", "macs": "min", "zip": "min"}
DIRECTIONS = {**OBJECTIVES, "device_latency": "min"}  # also what a plot of runs measured on a board ranks by
DEFAULT_FLOOR_PT = 5.0  # a target's default accuracy floor: this many points below the baseline
Floors = Union[None, float, Sequence[Optional[float]]]  # one floor for every point, or one per point


def default_floor(baseline_accuracy: Optional[float], drop_pt: float = DEFAULT_FLOOR_PT) -> Optional[float]:
    """The accuracy floor (a fraction) ``drop_pt`` points below the baseline's; None without a baseline."""
    return None if baseline_accuracy is None else max(0.0, baseline_accuracy - drop_pt / 100.0)


def floors_from_baselines(baselines: Sequence[Optional[dict]], drop_pt: Optional[float] = DEFAULT_FLOOR_PT) -> list[Optional[float]]:
    """Each point's floor from its own baseline (``drop_pt`` points below it); no floors when ``drop_pt`` is None."""
    if drop_pt is None:
        return [None] * len(baselines)
    return [default_floor(metric(b or {}, "accuracy"), drop_pt) for b in baselines]


def below_floor(accuracy: Optional[float], floor: Optional[float]) -> bool:
    """True when a measured accuracy is under ``floor`` (no floor, or nothing measured, is never below)."""
    return floor is not None and accuracy is not None and accuracy < floor - 1e-12


def _floor_of(floors: Floors, i: int) -> Optional[float]:
    if floors is None or isinstance(floors, (int, float)):
        return floors  # type: ignore[return-value]
    return floors[i]


def metric(metrics: dict, name: str) -> Optional[float]:
    """One objective's value from a runner metrics dict (``baseline`` / ``final`` in result.json)."""
    if not metrics:
        return None
    if name == "accuracy":
        v = metrics.get("accuracy")
    elif name == "size":
        v = metrics.get("size_bytes")
    elif name == "zip":
        v = metrics.get("zip_bytes")
    elif name == "macs":
        v = metrics.get("macs")
    elif name == "latency":
        v = (metrics.get("latency_ms") or {}).get("onnxruntime")
    elif name == "device_latency":  # measured on a board (core.devices), merged in by the page that plots it
        v = metrics.get("device_latency_ms")
    else:
        raise EdgeSlimError(f"unknown objective {name!r}", f"use some of: {', '.join(OBJECTIVES)}")
    return None if v is None else float(v)


def check_objectives(names: Sequence[str]) -> list[str]:
    names = list(names)
    bad = [n for n in names if n not in DIRECTIONS]
    if bad:
        raise EdgeSlimError(f"unknown objective(s) {', '.join(bad)}", f"use two or three of: {', '.join(OBJECTIVES)}")
    if not 2 <= len(names) <= 3 or len(set(names)) != len(names):
        raise EdgeSlimError(f"a Pareto front needs two or three different objectives, got {names}", "e.g. --x size --y accuracy")
    return names


def _costs(points: Sequence[dict], names: Sequence[str]) -> np.ndarray:
    """Rows of minimisation costs (accuracy negated); NaN where a metric is missing."""
    out = np.full((len(points), len(names)), np.nan)
    for i, p in enumerate(points):
        for j, n in enumerate(names):
            v = metric(p, n)
            if v is not None:
                out[i, j] = -v if DIRECTIONS[n] == "max" else v
    return out


def pareto_indices(points: Sequence[dict], objectives: Sequence[str], floors: Floors = None) -> list[int]:
    """Indices of the non-dominated points (metrics dicts) at or above their accuracy floor, ordered by the first objective."""
    names = check_objectives(objectives)
    costs = _costs(points, names)
    eligible = [i for i, p in enumerate(points) if not below_floor(metric(p, "accuracy"), _floor_of(floors, i))]
    valid = np.asarray([i for i in eligible if not np.isnan(costs[i]).any()], dtype=int)
    c = costs[valid]
    # dominated[i]: some j is no worse on every objective and better on one (one vectorised pass: the
    # Explore page recomputes this for hundreds of runs on the GUI thread)
    no_worse = (c[None, :, :] <= c[:, None, :]).all(axis=2)
    better = (c[None, :, :] < c[:, None, :]).any(axis=2)
    dominated = (no_worse & better).any(axis=1)
    front = [int(i) for i in valid[~dominated]]
    # one point per distinct cost vector (duplicates are the same trade-off)
    seen, unique = set(), []
    for i in sorted(front, key=lambda k: tuple(costs[k])):
        key = tuple(costs[i])
        if key not in seen:
            seen.add(key)
            unique.append(i)
    return unique


@dataclass(frozen=True)
class FrontSummary:
    objectives: tuple[str, ...]
    indices: tuple[int, ...]
    hypervolume: float

    def to_dict(self) -> dict:
        return {"objectives": list(self.objectives), "indices": list(self.indices), "hypervolume": self.hypervolume}


def normalised_costs(points: Sequence[dict], baseline: dict, objectives: Sequence[str]) -> np.ndarray:
    """Costs relative to the baseline: x / x_baseline for costs, 1 − accuracy for accuracy."""
    names = check_objectives(objectives)
    out = np.full((len(points), len(names)), np.nan)
    for j, n in enumerate(names):
        base = metric(baseline, n)
        for i, p in enumerate(points):
            v = metric(p, n)
            if v is None:
                continue
            if n == "accuracy":
                out[i, j] = 1.0 - v
            elif base:
                out[i, j] = v / base
    return out


def hypervolume(points: Sequence[dict], baseline: dict, objectives: Sequence[str]) -> float:
    """Volume dominated by ``points`` in baseline-normalised cost space, up to (1 − 0, 1, 1)."""
    costs = normalised_costs(points, baseline, objectives)
    ref = np.array([1.0] * costs.shape[1])
    keep = ~np.isnan(costs).any(axis=1) & np.all(costs < ref, axis=1)
    if not keep.any():
        return 0.0
    # optuna's exact WFG implementation (the library optuna's own multi-objective tools use)
    from optuna._hypervolume import compute_hypervolume

    return float(compute_hypervolume(costs[keep], ref))


def summarise(points: Sequence[dict], baseline: dict, objectives: Sequence[str], floors: Floors = None) -> FrontSummary:
    """The front (points at or above their accuracy floor only) and its hypervolume."""
    idx = pareto_indices(points, objectives, floors)
    return FrontSummary(tuple(objectives), tuple(idx), hypervolume([points[i] for i in idx], baseline, objectives))
