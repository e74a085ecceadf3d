"""The Explore page's state and rules, without Qt: which runs are listed and plotted, which fit, the front.

The view (:mod:`gui.panels.explore_page`) only draws what this model says and
forwards the user's choices to it. The numbers come from core: each run's row
from :mod:`core.store.run_summary`, the front and the accuracy floor from
:mod:`core.pipeline.pareto`. Plot ranges are computed here too, from the runs
that are plotted, so one failed multi-MiB run cannot squeeze the others into a
sliver of the axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Mapping, Optional, Sequence

from core.app.sweep_analysis import swept_value
from core.pipeline.pareto import below_floor, default_floor, pareto_indices
from core.store.run_summary import AXES, BaselinePoint, Budgets, RunSummary, baselines, summarise_runs

STOPPED = ("failed", "cancelled", "interrupted")  # runs that did not finish: hidden unless asked for
ALL = ""  # the filter value that keeps every model / dataset
MARGIN = 0.08  # share of a range added on each side, so points never sit on the plot's edge


@dataclass
class ExploreState:
    """What the user chose on the page."""

    x_axis: str = "size"
    log_x: bool = False
    budgets: Budgets = field(default_factory=Budgets)
    floor_pct: Optional[float] = None  # accuracy floor in %, None = each run's baseline − 5 points
    model: str = ALL  # model spec filter
    data: str = ALL  # dataset spec filter
    show_stopped: bool = False  # list and plot failed / cancelled / interrupted runs
    device: str = ""  # the board whose measured latency the "device" axis plots


@dataclass(frozen=True)
class Range:
    low: float
    high: float


class ExploreModel:
    """The runs of a workspace as the Explore page shows them, for the current :class:`ExploreState`."""

    def __init__(self) -> None:
        self.state = ExploreState()
        self.families: dict[str, str] = {}
        self.all_rows: list = []  # RunRow, every run of the workspace
        self.rows: list = []  # the rows that pass the filters (what the table lists)
        self.summaries: list[RunSummary] = []
        self.baselines: list[BaselinePoint] = []
        self.hidden_stopped = 0
        self.sweep_axes: dict[int, list[str]] = {}  # sweep id -> the keys it varies ("prune.structured.ratio")
        self.measured: dict[str, tuple[dict[int, float], dict[int, float]]] = {}  # device -> (run, baseline) medians by run id
        self.not_measured = 0  # finished runs hidden on the device axis because nobody timed them there

    # ------------------------------------------------------------------ inputs

    def load(self, rows: Sequence, sweep_axes: Optional[Mapping[int, Sequence[str]]] = None) -> None:
        """Every run of the workspace, and what each sweep among them varies."""
        self.all_rows = list(rows)
        self.sweep_axes = {k: list(v) for k, v in (sweep_axes or {}).items()}
        self.recompute()

    def set_measurements(self, measured: Mapping[str, tuple[Mapping[int, float], Mapping[int, float]]]) -> None:
        """Board name -> (run id -> median ms of the run's model, run id -> median ms of its baseline)."""
        self.measured = {d: (dict(r), dict(b)) for d, (r, b) in measured.items()}
        self.recompute()

    def _with_device(self, row):
        """``row`` with the chosen board's measured medians merged into its metrics (the "device" axis reads them)."""
        runs, bases = self.measured.get(self.state.device, ({}, {}))
        if row.id not in runs and row.id not in bases:
            return row
        final = {**(row.final or {}), "device_latency_ms": runs.get(row.id)} if row.final else row.final
        base = {**(row.baseline or {}), "device_latency_ms": bases.get(row.id)} if row.baseline else row.baseline
        return replace(row, final=final, baseline=base)

    def swept_keys(self) -> list[str]:
        """The swept parameters of the listed sweep trials, in first-seen order: one table column each."""
        keys: dict[str, None] = {}
        for r in self.rows:
            for k in self.sweep_axes.get(r.sweep_id, []) if r.sweep_id is not None else []:
                keys[k] = None
        return list(keys)

    def swept_values(self, row) -> dict[str, str]:
        """The values a sweep trial ran with (read from its recipe); empty for a run outside a sweep."""
        keys = self.sweep_axes.get(row.sweep_id, []) if row.sweep_id is not None else []
        return {k: v for k in keys if (v := swept_value(row.recipe_toml, k)) is not None}

    def set_families(self, families: Mapping[str, str]) -> None:
        self.families = dict(families)
        self.recompute()

    def update(self, **changes) -> None:
        """Change some of the state (``x_axis=``, ``budgets=``, ``floor_pct=``, ``model=``, …) and recompute."""
        self.state = replace(self.state, **changes)
        self.recompute()

    # ------------------------------------------------------------------ choices offered

    def models(self) -> list[str]:
        return sorted({r.model_spec for r in self.all_rows})

    def datasets(self) -> list[str]:
        return sorted({r.data_spec for r in self.all_rows})

    def stopped_ids(self) -> list[int]:
        """Every failed, cancelled or interrupted run (for the bulk delete), shown or not."""
        return [r.id for r in self.all_rows if r.status in STOPPED]

    # ------------------------------------------------------------------ the rules

    def _passes(self, row) -> bool:
        st = self.state
        return (st.model in (ALL, row.model_spec)) and (st.data in (ALL, row.data_spec))

    def floor_for(self, row) -> Optional[float]:
        """The accuracy floor (a fraction) a run is held to: the user's, else its baseline's less 5 points."""
        if self.state.floor_pct is not None:
            return self.state.floor_pct / 100.0
        return default_floor((row.baseline or {}).get("accuracy"))

    def shown_floor(self) -> Optional[float]:
        """The floor the plot draws: the user's, or the one baseline's default (None when the runs start from several)."""
        if self.state.floor_pct is not None:
            return self.state.floor_pct / 100.0
        accs = {b.accuracy for b in self.baselines if b.accuracy is not None}
        return default_floor(accs.pop()) if len(accs) == 1 else None

    def recompute(self) -> None:
        st = self.state
        filtered = [r for r in self.all_rows if self._passes(r)]
        self.hidden_stopped = 0 if st.show_stopped else sum(1 for r in filtered if r.status in STOPPED)
        self.rows = [r for r in filtered if st.show_stopped or r.status not in STOPPED]
        if st.x_axis == "device":
            self.rows = [self._with_device(r) for r in self.rows]
        self.summaries = summarise_runs(self.rows, st.x_axis, self.families, st.budgets)
        self.baselines = baselines(self.rows)
        floors = {r.id: self.floor_for(r) for r in self.rows}
        for s in self.summaries:
            if below_floor(s.accuracy, floors[s.id]):
                s.fits = False
                s.misfit = [*s.misfit, f"accuracy {100 * s.accuracy:.2f} % is below the floor {100 * floors[s.id]:.2f} %"]  # type: ignore[operator]
            s.on_front = False
        done = [s for s in self.summaries if s.status == "done" and s.plottable and s.value(st.x_axis) is not None]
        self.not_measured = sum(1 for s in self.summaries if s.status == "done" and s.value(st.x_axis) is None)
        by_id = {r.id: r for r in self.rows}
        points = [by_id[s.id].final for s in done]
        if done:
            for i in pareto_indices(points, [AXES[st.x_axis][2], "accuracy"], [floors[s.id] for s in done]):
                done[i].on_front = True

    # ------------------------------------------------------------------ what is drawn

    @property
    def plotted(self) -> list[RunSummary]:
        """Runs drawn as points: measured, and on a log axis above zero."""
        axis = self.state.x_axis
        return [s for s in self.summaries if s.plottable and s.value(axis) is not None
                and (not self.state.log_x or (s.value(axis) or 0) > 0)]

    def x_range(self, scale: float) -> Optional[Range]:
        """The x range (in plot units: value / ``scale``, log10 on a log axis) of the plotted runs and baselines, with a margin.

        A budget joins the range when it lies near the runs (within 4× of them),
        so its line and region show; farther away it would squeeze them again.
        """
        axis = self.state.x_axis
        values = [s.value(axis) for s in self.plotted] + [b.value(axis) for b in self.baselines if b.accuracy is not None]
        values = [v for v in values if v is not None and (not self.state.log_x or v > 0)]
        if not values:
            return None
        limit = self.state.budgets.limit(axis)
        if limit and min(values) / 4 <= limit <= max(values) * 4:
            values.append(limit)
        xs = [self._x(v, scale) for v in values]
        return _padded(min(xs), max(xs), 0.05 if self.state.log_x else None)

    def y_range(self) -> Optional[Range]:
        """Accuracy (%) of the plotted runs and baselines, with a margin; the floor joins when it is near them."""
        ys = [100 * s.accuracy for s in self.plotted if s.accuracy is not None]
        ys += [100 * b.accuracy for b in self.baselines if b.accuracy is not None]
        if not ys:
            return None
        floor = self.shown_floor()
        if floor is not None and min(ys) - 10 <= 100 * floor:
            ys.append(100 * floor)
        return _padded(min(ys), max(ys), 0.5)

    def _x(self, value: float, scale: float) -> float:
        v = value / scale
        return math.log10(v) if self.state.log_x else v


def _padded(low: float, high: float, minimum_span: Optional[float]) -> Range:
    span = high - low
    if span <= 0:
        span = minimum_span if minimum_span is not None else (abs(high) * 0.2 or 1.0)
        low, high = low - span / 2, high + span / 2
    return Range(low - MARGIN * span, high + MARGIN * span)


def log_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """Labelled ticks for a log10 axis showing ``low``..``high`` (log10 units): 1-2-5 per decade, finer on a narrow range.

    At least two labels fall inside any range wider than a few percent, so a
    narrow log axis (0.2 to 0.5 ms, say) keeps its numbers.
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return []
    for mantissas in ((1,), (1, 2, 5), (1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9), tuple(1 + i / 10 for i in range(90))):
        ticks = []
        for k in range(math.floor(low) - 1, math.ceil(high) + 1):
            for m in mantissas:
                v = m * 10.0 ** k
                x = math.log10(v)
                if low <= x <= high:
                    ticks.append((x, f"{v:.3g}"))
        if len(ticks) >= 4 or (len(ticks) >= 2 and len(mantissas) > 10):
            return ticks[:: max(1, len(ticks) // 10)]
    return ticks
