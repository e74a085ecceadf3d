"""The sweep-analysis dialog's state and rules, without Qt: which sweep and objective, the lines, axes and bars to draw.

The numbers come from :func:`core.app.sweep_analysis.analyse_sweep` (what
``edgeslim-cli sweep-analysis`` prints); this model only places them: each
parallel-coordinates axis maps its values onto 0..1 (numbers by value,
categories evenly by their order), each trial becomes a polyline shaded by the
chosen objective, and the importances become bars, largest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence

from core import fmt
from core.app.sweep_analysis import OBJECTIVE_LABELS, OBJECTIVES, Importance, Param, SweepAnalysis, analyse_sweep, finished_trials
from core.pipeline.pareto import DIRECTIONS

MIN_TRIALS = 2  # finished trials a sweep needs before there is anything to compare
MAX_LISTED_TICKS = 8  # a numeric axis labels each value its trials took, up to this many; else low, middle, high
OBJECTIVE_TICKS = 5


@dataclass(frozen=True)
class Availability:
    """Whether the Explore page's "Analyse sweep…" button is on, the tooltip saying why, and the sweeps it offers."""

    enabled: bool
    reason: str
    sweeps: tuple[int, ...] = ()


def availability(rows: Iterable) -> Availability:
    """From the runs the Explore page lists: the sweeps with at least :data:`MIN_TRIALS` finished trials."""
    counts = finished_trials(rows)
    ready = tuple(s for s, n in sorted(counts.items()) if n >= MIN_TRIALS)
    if ready:
        which = f"sweep #{ready[0]}" if len(ready) == 1 else f"{len(ready)} sweeps"
        return Availability(True, f"Parallel coordinates and parameter importance of the listed {which}", ready)
    if not counts:
        return Availability(False, "No sweep among the listed runs: start one with New sweep…")
    return Availability(False, f"No listed sweep has {MIN_TRIALS} finished trials yet: there is nothing to compare")


@dataclass(frozen=True)
class Axis:
    """One vertical axis: its title (short), its full name (tooltip) and labelled ticks at 0..1."""

    key: str
    title: str
    full: str
    ticks: tuple[tuple[float, str], ...]
    objective: bool = False


@dataclass(frozen=True)
class Line:
    """One finished trial across the axes; ``shade`` is 0 for the sweep's worst objective value, 1 for its best."""

    run_id: int
    ys: tuple[float, ...]
    shade: float
    tip: str


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    share: float


def objective_text(objective: str, value: Optional[float]) -> str:
    """An objective's value as the Explore page shows it."""
    if value is None:
        return "—"
    return {"accuracy": f"{100 * value:.2f} %", "size": fmt.size(value), "latency": f"{value:.3f} ms"}[objective]  # type: ignore[arg-type]


def _unit(lo: float, hi: float, v: float) -> float:
    return 0.5 if hi <= lo else (v - lo) / (hi - lo)


def _number(v: float, kind: str) -> str:
    return str(int(v)) if kind == "int" else f"{v:.3g}"


def _shown(p: Param, value: Any) -> str:
    return str(value) if p.kind == "category" else _number(float(value), p.kind)


class SweepAnalysisModel:
    """The analysis of one of ``sweeps`` (ids), for one objective; ``analyse`` is core's (tests may count its calls)."""

    def __init__(self, workspace: Any, sweeps: Sequence[int], analyse: Callable[..., SweepAnalysis] = analyse_sweep) -> None:
        self.workspace = workspace
        self.sweeps = list(sweeps)
        self._analyse = analyse
        self._cache: dict[int, SweepAnalysis] = {}
        self.sweep_id: Optional[int] = self.sweeps[-1] if self.sweeps else None  # the newest first
        self.objective = OBJECTIVES[0]

    # ------------------------------------------------------------------ choices

    def sweep_label(self, sweep_id: int) -> str:
        """"#3 grid — 12 finished trials": counted in the workspace, whatever the Explore page's filters hide."""
        try:
            name = self.workspace.get_sweep(sweep_id).get("name") or ""
            n = finished_trials(self.workspace.list_runs(sweep_id=sweep_id)).get(sweep_id, 0)
        except Exception:  # a sweep deleted under us still gets a label; analysing it says what is wrong
            return f"#{sweep_id}"
        return f"#{sweep_id} {name} — {n} finished trial{'s' if n != 1 else ''}"

    def objectives(self) -> list[tuple[str, str]]:
        """(key, label) of each objective, with the direction that is better."""
        return [(o, f"{OBJECTIVE_LABELS[o]} ({'higher' if DIRECTIONS[o] == 'max' else 'lower'} is better)") for o in OBJECTIVES]

    def choose(self, sweep_id: Optional[int] = None, objective: Optional[str] = None) -> None:
        if sweep_id is not None:
            self.sweep_id = sweep_id
        if objective is not None:
            self.objective = objective

    def pending(self) -> Optional[int]:
        """The chosen sweep when its analysis is still to be computed (the view may compute it off the GUI thread)."""
        return self.sweep_id if self.sweep_id is not None and self.sweep_id not in self._cache else None

    def store(self, sweep_id: int, analysis: SweepAnalysis) -> None:
        """An analysis computed elsewhere (a job of the window's controller)."""
        self._cache[sweep_id] = analysis

    @property
    def analysis(self) -> Optional[SweepAnalysis]:
        """The chosen sweep's analysis, computed once (every objective's importances at once)."""
        if self.sweep_id is None:
            return None
        if self.sweep_id not in self._cache:
            self._cache[self.sweep_id] = self._analyse(self.workspace, self.sweep_id)
        return self._cache[self.sweep_id]

    # ------------------------------------------------------------------ what is drawn

    def axes(self) -> list[Axis]:
        """One axis per swept setting, then the objective."""
        a = self.analysis
        if a is None:
            return []
        out = [Axis(p.key, p.label, p.key, self._param_ticks(p, a)) for p in a.params]
        values = self._objective_values()
        lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
        n = OBJECTIVE_TICKS if hi > lo else 1
        ticks = tuple((_unit(lo, hi, v), objective_text(self.objective, v))
                      for v in ([lo + (hi - lo) * i / (n - 1) for i in range(n)] if n > 1 else [lo]) if values)
        out.append(Axis(self.objective, OBJECTIVE_LABELS[self.objective], OBJECTIVE_LABELS[self.objective], ticks, True))
        return out

    def _param_ticks(self, p: Param, a: SweepAnalysis) -> tuple[tuple[float, str], ...]:
        if p.kind == "category":
            return tuple((self._y(p, c), c) for c in p.choices)
        lo, hi = p.low or 0.0, p.high or 0.0
        taken = sorted({float(t.values[p.key]) for t in a.trials})  # type: ignore[arg-type]
        shown = taken if len(taken) <= MAX_LISTED_TICKS else [lo, (lo + hi) / 2, hi]
        return tuple((_unit(lo, hi, v), _number(v, p.kind)) for v in shown)

    @staticmethod
    def _y(p: Param, value: Any) -> float:
        if p.kind == "category":
            i, n = p.choices.index(str(value)), len(p.choices)
            return 0.5 if n == 1 else i / (n - 1)
        return _unit(p.low or 0.0, p.high or 0.0, float(value))

    def _objective_values(self) -> list[float]:
        a = self.analysis
        return [v for t in (a.trials if a else []) if (v := t.objectives.get(self.objective)) is not None]

    def lines(self) -> list[Line]:
        """A polyline per finished trial with the objective measured (higher on the objective axis = larger value)."""
        a = self.analysis
        values = self._objective_values()
        if a is None or not values:
            return []
        lo, hi = min(values), max(values)
        best_high = DIRECTIONS[self.objective] == "max"
        out = []
        for t in a.trials:
            v = t.objectives.get(self.objective)
            if v is None:
                continue
            y = _unit(lo, hi, v)
            settings = ", ".join(f"{p.label} = {_shown(p, t.values[p.key])}" for p in a.params)
            out.append(Line(t.run_id, (*(self._y(p, t.values[p.key]) for p in a.params), y), y if best_high else 1 - y,
                            f"#{t.run_id} {t.name}\n{settings}\n{OBJECTIVE_LABELS[self.objective]}: {objective_text(self.objective, v)}"))
        return out

    def legend(self) -> tuple[str, str]:
        """The worst and the best objective value among the lines ("worst" / "best" when nothing is measured)."""
        values = self._objective_values()
        if not values:
            return "worst", "best"
        worst, best = (min(values), max(values)) if DIRECTIONS[self.objective] == "max" else (max(values), min(values))
        return f"{objective_text(self.objective, worst)} (worst)", f"{objective_text(self.objective, best)} (best)"

    @property
    def importance(self) -> Optional[Importance]:
        a = self.analysis
        return a.importances.get(self.objective) if a else None

    def bars(self) -> list[Bar]:
        """The importances of the chosen objective, largest first (none when they could not be computed)."""
        imp, a = self.importance, self.analysis
        if imp is None or a is None:
            return []
        labels = {p.key: p.label for p in a.params}
        return [Bar(k, labels.get(k, k), v) for k, v in imp.values.items()]

    def importance_note(self) -> str:
        """Under the bars: the evaluator and its setting, or why there are no bars; the settings left out."""
        imp = self.importance
        if imp is None:
            return ""
        text = (f"Share of each setting in reaching the best {self.objective}, by {imp.evaluator}." if imp.computed
                else f"Importance not computed: {imp.reason}.")
        if imp.computed and imp.constant:
            text += f" Not ranked (one value in every trial): {', '.join(imp.constant)}."
        return text

    def caption(self) -> str:
        a = self.analysis
        if a is None:
            return "No sweep to analyse."
        shown = len(self.lines())
        text = f"Sweep #{a.sweep_id} {a.name} ({a.mode or 'grid'}): {len(a.trials)} finished trials"
        if shown < len(a.trials):
            text += f", {len(a.trials) - shown} without {self.objective} measured"
        if a.not_finished:
            text += f"; {a.not_finished} failed, cancelled or unfinished (not counted)"
        return text + f". Each line is a trial; the brighter, the better its {self.objective}."
