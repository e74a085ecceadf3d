"""What a finished sweep says: each trial's swept settings and measured objectives, and which setting mattered.

The analysis optuna-dashboard offers (a parallel-coordinates view, parameter
importance), computed here once so ``edgeslim-cli sweep-analysis`` and the
window's sweep-analysis dialog show the same numbers. The settings are read
from each trial's stored recipe, the objectives from its stored ``final``
metrics (:func:`core.pipeline.pareto.metric`, as the Explore page reads them).
Importances come from optuna's PED-ANOVA evaluator on an in-memory study
rebuilt from the stored trials: it needs no scikit-learn (fANOVA and
mean-decrease-impurity do) and works for grid sweeps as well as Optuna ones.
Optuna is imported only when importances are asked for (it costs a second).
"""

from __future__ import annotations

import math
import tomllib
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from core.pipeline.pareto import DIRECTIONS, metric

OBJECTIVES = ("accuracy", "size", "latency")  # what a trial is judged by, as the runs table shows it
OBJECTIVE_LABELS = {"accuracy": "Top-1 accuracy", "size": "ONNX file size", "latency": "Latency (ONNX Runtime, this machine)"}
EVALUATOR = "PED-ANOVA"
Value = Union[float, int, str]


# --------------------------------------------------------------------------- a trial's swept values


def swept_raw(recipe_toml: str, key: str) -> Optional[Any]:
    """A sweep key's value in a trial's recipe, as stored: ``technique.param`` -> the parameter, ``technique`` -> on / off."""
    try:
        steps = tomllib.loads(recipe_toml or "").get("step", [])
    except tomllib.TOMLDecodeError:
        return None
    for step in steps:
        if step.get("technique") == key:
            return "on" if step.get("enabled", True) else "off"
    technique, _, param = key.rpartition(".")
    for step in steps:
        if step.get("technique") == technique:
            return step.get(param)
    return None


def swept_value(recipe_toml: str, key: str) -> Optional[str]:
    """:func:`swept_raw` as a table cell: floats to three significant digits."""
    value = swept_raw(recipe_toml, key)
    return None if value is None else _category(value)


def finished(row) -> bool:
    """A trial that counts: it ran to the end and stored its measurements."""
    return row.status == "done" and bool(row.final)


def finished_trials(rows: Iterable) -> dict[int, int]:
    """Sweep id -> how many of ``rows`` are its finished trials (what decides whether a sweep can be analysed)."""
    counts: dict[int, int] = {}
    for r in rows:
        if r.sweep_id is not None and finished(r):
            counts[r.sweep_id] = counts.get(r.sweep_id, 0) + 1
    return counts


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class Param:
    """A swept setting: numeric (``float`` / ``int`` with its range over the trials) or ``category`` with its choices."""

    key: str
    kind: str  # float | int | category
    low: Optional[float] = None
    high: Optional[float] = None
    choices: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The parameter of ``technique.param``, the whole key of a step toggle (as the runs table titles it)."""
        return self.key.rpartition(".")[2] if self.key.count(".") >= 2 else self.key


@dataclass
class Trial:
    """One finished trial: its settings (numbers stay numbers) and its measured objectives."""

    run_id: int
    name: str
    values: dict[str, Value]
    objectives: dict[str, Optional[float]]


@dataclass
class Importance:
    """How much each setting decided one objective; ``reason`` says why nothing was computed (then ``values`` is empty)."""

    objective: str
    values: dict[str, float] = field(default_factory=dict)  # parameter -> share (sums to 1), largest first
    constant: list[str] = field(default_factory=list)  # parameters that took one value: nothing to rank
    trials: int = 0  # trials the numbers come from
    evaluator: str = ""  # in words, with its setting
    reason: str = ""

    @property
    def computed(self) -> bool:
        return not self.reason


@dataclass
class SweepAnalysis:
    sweep_id: int
    name: str
    mode: str
    params: list[Param]
    trials: list[Trial]  # finished trials only, oldest first
    not_finished: int  # trials that failed, were cancelled or are still running
    importances: dict[str, Importance]

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- the analysis


def _param(key: str, values: list[Any]) -> Param:
    """The kind of a setting from the values its trials ran with (a missing value makes it a category: "—")."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) == len(values) and all(math.isfinite(v) for v in numbers):
        kind = "int" if all(isinstance(v, int) for v in numbers) else "float"
        return Param(key, kind, float(min(numbers)), float(max(numbers)))
    choices: dict[str, None] = {}
    for v in values:
        choices[_category(v)] = None
    return Param(key, "category", choices=tuple(sorted(choices, key=_category_order)))


def _category(v: Any) -> str:
    """A value as the runs table's swept column shows it (``swept_value``); "—" where the recipe left it out."""
    return "—" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)


def _category_order(text: str) -> tuple:
    """Numbers by value, then words (``off`` before ``on``) — the order an axis lists them in."""
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def _value(p: Param, raw: Any) -> Value:
    if p.kind == "category":
        return _category(raw)
    return int(raw) if p.kind == "int" else float(raw)


def analyse_sweep(ws, sweep_id: int, objectives: Iterable[str] = OBJECTIVES, importance: bool = True) -> SweepAnalysis:
    """Sweep ``sweep_id`` of workspace ``ws``: its finished trials' settings and objectives, and the settings' importances."""
    sweep = ws.get_sweep(sweep_id)  # an unknown id fails here with the workspace's own message
    info = sweep.get("info") or {}
    keys = list(info.get("axes") or [])
    rows = sorted(ws.list_runs(sweep_id=sweep_id), key=lambda r: r.id)
    done = [r for r in rows if finished(r)]
    raws = {r.id: {k: swept_raw(r.recipe_toml, k) for k in keys} for r in done}
    params = [_param(k, [raws[r.id][k] for r in done]) for k in keys] if done else []
    objectives = list(objectives)
    trials = [Trial(r.id, r.name, {p.key: _value(p, raws[r.id][p.key]) for p in params},
                    {o: metric(r.final or {}, o) for o in objectives}) for r in done]
    out = SweepAnalysis(sweep_id, sweep.get("name") or f"sweep {sweep_id}", info.get("mode") or "", params, trials,
                        len(rows) - len(done), {})
    if importance:
        out.importances = {o: importances(params, trials, o) for o in objectives}
    return out


def _target_quantile(n: int) -> float:
    """The share of best trials PED-ANOVA contrasts with all of them.

    Optuna's 10 % leaves one or two trials of a sweep's dozen, and its own note
    asks for at least five: so five trials, at most the better half, at least 10 %.
    """
    return min(0.5, max(0.1, 5 / n))


def importances(params: list[Param], trials: list[Trial], objective: str) -> Importance:
    """Each setting's share in reaching the best ``objective`` values (optuna's PED-ANOVA), or why it cannot be said."""
    measured = [t for t in trials if t.objectives.get(objective) is not None]
    out = Importance(objective, trials=len(measured))
    if not params:
        out.reason = "the sweep records no swept settings"
        return out
    if len(measured) < 2:
        out.reason = f"needs at least 2 finished trials with {objective} measured, the sweep has {len(measured)}"
        return out
    varied = [p for p in params if len({t.values[p.key] for t in measured}) > 1]
    out.constant = [p.key for p in params if p not in varied]
    if not varied:
        out.reason = "every swept setting took one value in the finished trials: nothing to compare"
        return out
    if len({t.objectives[objective] for t in measured}) == 1:
        out.reason = f"every finished trial has the same {objective}: no setting made a difference"
        return out
    quantile = _target_quantile(len(measured))
    out.evaluator = f"{EVALUATOR} (optuna), best {quantile:.0%} of {len(measured)} trials"
    try:
        out.values = _ped_anova(varied, measured, objective, quantile)
    except Exception as exc:  # optuna refusing these trials is a message on screen, not a crash
        out.reason = f"{EVALUATOR} could not rank the settings: {exc}"
    return out


def _ped_anova(params: list[Param], trials: list[Trial], objective: str, quantile: float) -> dict[str, float]:
    """The importances from an in-memory optuna study holding ``trials`` (optuna's warnings and log kept quiet)."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    def distribution(p: Param, values: list[Value]):
        if p.kind == "category":
            return CategoricalDistribution([c for c in p.choices if c in values])
        low, high = min(values), max(values)  # type: ignore[type-var]
        return IntDistribution(int(low), int(high)) if p.kind == "int" else FloatDistribution(float(low), float(high))

    dists = {p.key: distribution(p, [t.values[p.key] for t in trials]) for p in params}
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in memory" is no news here
    try:
        with warnings.catch_warnings(record=True):  # ExperimentalWarning, "importances will be equal": the reason strings say it
            warnings.simplefilter("always")
            study = optuna.create_study(direction="maximize" if DIRECTIONS[objective] == "max" else "minimize")
            for t in trials:
                study.add_trial(optuna.trial.create_trial(params={p.key: t.values[p.key] for p in params}, distributions=dists,
                                                          value=float(t.objectives[objective])))  # type: ignore[arg-type]
            found = get_param_importances(study, evaluator=PedAnovaImportanceEvaluator(target_quantile=quantile),
                                          params=[p.key for p in params], normalize=False)
    finally:
        optuna.logging.set_verbosity(verbosity)
    total = sum(found.values())
    if not total > 0:  # optuna would share 1 equally, which reads as a finding; say there is none
        raise ValueError("no setting sets the best trials apart from the others")
    return {k: float(v) / total for k, v in sorted(found.items(), key=lambda kv: -kv[1])}


def analyse_stored_sweep(workspace: "str | Path", sweep_id: int) -> SweepAnalysis:
    """:func:`analyse_sweep` on a workspace opened here, read-only: for a thread other than the one holding the window's."""
    from core.store.read_only import is_writable
    from core.store.workspace import DB_NAME, Workspace

    path = Path(workspace)
    with Workspace(path, check_interrupted=False, read_only=not is_writable(path, path / DB_NAME)) as ws:
        return analyse_sweep(ws, sweep_id)
