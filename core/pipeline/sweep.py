"""Sweeps: many variants of one recipe — a grid, or an Optuna multi-objective search — as stored runs.

A sweep file (TOML) names a base recipe and what to vary:

```toml
name = "prune-grid"
recipe = "prune-finetune-int8.toml"      # relative to the sweep file
mode = "grid"                              # or "optuna"
[grid]
"prune.structured.ratio" = [0.2, 0.4, 0.6, 0.8]
"quantize.static" = ["on", "off"]          # a step switched on or off
```

```toml
mode = "optuna"
trials = 12
sampler = "nsga2"                          # or "tpe"
objectives = ["accuracy", "size"]          # accuracy is maximised, the rest minimised
[search]
"prune.structured.ratio" = { min = 0.1, max = 0.8 }
"finetune.epochs" = { min = 1, max = 3 }   # whole numbers: an integer range
"prune.structured.importance" = ["l1", "taylor"]
[constraints]
max_size_bytes = 400000                    # also max_latency_ms, min_accuracy
```

This module is the sweep as written: parsing, checking and the recipe of each
point. Running it — every trial a stored run, streamed as it completes — is the
application service :mod:`core.app.sweep`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from core import toml_input
from core.errors import EdgeSlimError
from core.pipeline.pareto import check_objectives, metric
from core.pipeline.recipe import Recipe, RecipeError, load_recipe, make_step, parse_recipe, tomllib

ON_OFF = {"on": True, "off": False, True: True, False: False}
CONSTRAINTS = {"max_size_bytes": ("size", "max"), "max_latency_ms": ("latency", "max"), "min_accuracy": ("accuracy", "min"),
               "max_macs": ("macs", "max")}
# Each grid trial is a whole run (minutes); far past this a grid is a typo or a job for Optuna. Counted, never built.
MAX_GRID_TRIALS = 10_000


class SweepError(EdgeSlimError):
    """A sweep file that cannot run as written."""


@dataclass(frozen=True)
class Axis:
    """One varied setting: ``technique.param`` (a parameter) or ``technique`` (the step on/off)."""

    key: str
    values: tuple[Any, ...] = ()  # grid values or categorical choices
    low: Optional[float] = None  # numeric search range
    high: Optional[float] = None
    integer: bool = False

    @property
    def technique(self) -> str:
        return self.key.rsplit(".", 1)[0] if self.is_param else self.key

    @property
    def is_param(self) -> bool:
        from core.techniques import names

        return self.key not in names()


@dataclass
class Sweep:
    name: str
    recipe: Recipe
    mode: str  # grid | optuna
    axes: list[Axis]
    trials: int = 0  # optuna only
    sampler: str = "nsga2"
    objectives: list[str] = field(default_factory=lambda: ["accuracy", "size"])
    constraints: dict[str, float] = field(default_factory=dict)
    source: str = ""

    def grid_size(self) -> int:
        """Trials the grid makes: the product of the value counts (counted, so a huge grid costs nothing)."""
        return math.prod(len(a.values) for a in self.axes)

    def iter_grid(self) -> Iterator[dict[str, Any]]:
        """The grid's points one at a time, in file order (only the running trials are ever in memory)."""
        keys = [a.key for a in self.axes]
        for combo in itertools.product(*(a.values for a in self.axes)):
            yield dict(zip(keys, combo))

    def grid_points(self) -> list[dict[str, Any]]:
        """Every point as a list (a parsed grid is at most ``MAX_GRID_TRIALS`` points)."""
        return list(self.iter_grid())

    def size(self) -> int:
        return self.grid_size() if self.mode == "grid" else self.trials


def apply_point(recipe: Recipe, point: dict[str, Any], name: str) -> Recipe:
    """A copy of ``recipe`` with the point's settings (validated as a recipe would be)."""
    steps = list(recipe.steps)
    for key, value in point.items():
        technique, _, pname = key.rpartition(".")
        if key in {s.technique for s in steps}:  # a step toggle
            technique, pname = key, ""
        idx = next((i for i, s in enumerate(steps) if s.technique == technique), None)
        if idx is None:
            raise SweepError(f"{key}: the recipe has no {technique} step", f"add a {technique} step to the recipe, or vary a technique it has")
        step = steps[idx]
        if not pname:
            if value not in ON_OFF:
                raise SweepError(f"{key} = {value!r}: a step is switched with \"on\" or \"off\"", 'write e.g. "quantize.static" = ["on", "off"]')
            steps[idx] = make_step(step.technique, {**step.params(), "enabled": ON_OFF[value]}, line=step.line)
        else:
            steps[idx] = make_step(step.technique, {**step.params(), "enabled": step.enabled, pname: value}, line=step.line)
    out = Recipe(name=name, steps=steps, description=recipe.description, source=recipe.source)
    out.check_order()
    return out


def trial_name(sweep_name: str, point: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    return f"{sweep_name}[" + ", ".join(f"{k.split('.')[-1]}={fmt(v)}" for k, v in point.items()) + "]"


# --------------------------------------------------------------------------- parsing


def _finite_number(v: Any) -> bool:
    """A real number (TOML's nan and inf pass every comparison-based check, so they are named here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _axis(key: str, raw: Any, mode: str, source: str) -> Axis:
    if isinstance(raw, list):
        if not raw:
            raise SweepError(f"{source}: {key} has no values", "give at least one value")
        return Axis(key, tuple(raw))
    if mode == "optuna" and isinstance(raw, dict) and {"min", "max"} <= set(raw):
        low, high = raw["min"], raw["max"]
        if not all(_finite_number(v) for v in (low, high)) or low >= high:
            raise SweepError(f"{source}: {key} needs numbers with min < max, got {raw}", "write e.g. { min = 0.1, max = 0.8 }")
        return Axis(key, low=float(low), high=float(high), integer=isinstance(low, int) and isinstance(high, int))
    form = "a list of values" + (" or { min = …, max = … }" if mode == "optuna" else "")
    raise SweepError(f"{source}: {key} = {raw!r} is not {form}", f"write e.g. \"{key}\" = [0.2, 0.4]")


def _check_axis(recipe: Recipe, axis: Axis, source: str) -> None:
    """Each value of the axis must be valid for the recipe (caught before any trial runs)."""
    probes = list(axis.values) or [axis.low, axis.high]
    for v in probes:
        if axis.integer and isinstance(v, float):
            v = int(v)
        try:
            apply_point(recipe, {axis.key: v}, "check")
        except RecipeError as exc:
            raise SweepError(f"{source}: {axis.key} = {v!r}: {exc.problem.split(': ', 1)[-1]}", exc.fix) from None


def _check_grid_size(axes: list[Axis], source: str) -> None:
    """Refuse a grid too large to run, from the count alone (a 1.8e10-point grid once filled the memory)."""
    counts = [len(a.values) for a in axes]
    total = math.prod(counts)
    if total > MAX_GRID_TRIALS:
        raise SweepError(
            f"{source}: the grid has {total:,} combinations ({' × '.join(map(str, counts))} values), more than the "
            f"{MAX_GRID_TRIALS:,} trials a grid sweep may run — each trial is a whole run",
            'give fewer values per setting or vary fewer settings, or search the same ranges with mode = "optuna" '
            "and trials = N (e.g. \"finetune.lr\" = { min = 0.0001, max = 0.01 })",
        )


def _check_toggles(recipe: Recipe, axes: list[Axis], source: str) -> None:
    """Every on/off combination must leave a runnable recipe (checked here, as trials are built only when run)."""
    toggles = [a for a in axes if not a.is_param and a.values]
    for combo in itertools.product(*(a.values for a in toggles)):
        point = dict(zip((a.key for a in toggles), combo))
        try:
            apply_point(recipe, point, "check")
        except RecipeError as exc:
            shown = ", ".join(f"{k} = {v!r}" for k, v in point.items())
            raise SweepError(f"{source}: {shown}: {exc.problem.split(': ', 1)[-1]}", exc.fix) from None


def parse_sweep(text: str, base_dir: Path, source: str = "sweep") -> Sweep:
    try:
        doc = toml_input.loads(text)  # a leading UTF-8 BOM is dropped
    except toml_input.TomlTooDeep as exc:
        raise SweepError(f"{source}: {exc}", "a sweep needs no nesting beyond its tables and lists of values") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{source}: not valid TOML ({exc})", "check quotes, '=' signs and [table] headers") from None
    known = {"name", "recipe", "mode", "grid", "search", "trials", "sampler", "objectives", "constraints", "step"}
    extra = set(doc) - known
    if extra:
        raise SweepError(f"{source}: unknown key(s) {', '.join(sorted(extra))}", f"a sweep has: {', '.join(sorted(known))}")
    mode = doc.get("mode", "grid")
    if mode not in ("grid", "optuna"):
        raise SweepError(f"{source}: mode = {mode!r}", 'use mode = "grid" or mode = "optuna"')
    if "recipe" in doc and "step" in doc:
        raise SweepError(f"{source}: both recipe = … and [[step]] tables", "give the base recipe one way")
    if "recipe" in doc:
        recipe = load_recipe((base_dir / doc["recipe"]).expanduser())
    elif "step" in doc:
        recipe = parse_recipe(_steps_only(doc), source=source)
    else:
        raise SweepError(f"{source}: no base recipe", 'add recipe = "my-recipe.toml", or [[step]] tables')
    table = doc.get("grid" if mode == "grid" else "search")
    if not isinstance(table, dict) or not table:
        raise SweepError(f"{source}: nothing to vary", f"add a [{'grid' if mode == 'grid' else 'search'}] table")
    axes = [_axis(k, v, mode, source) for k, v in table.items()]
    if mode == "grid":
        _check_grid_size(axes, source)
    for axis in axes:
        _check_axis(recipe, axis, source)
    _check_toggles(recipe, axes, source)
    sweep = Sweep(name=str(doc.get("name", Path(source).stem)), recipe=recipe, mode=mode, axes=axes, source=source)
    if mode == "optuna":
        trials = doc.get("trials", 12)
        if not isinstance(trials, int) or trials < 1:
            raise SweepError(f"{source}: trials = {trials!r}", "give a positive whole number of trials")
        sweep.trials = trials
        sweep.sampler = doc.get("sampler", "nsga2")
        if sweep.sampler not in ("nsga2", "tpe"):
            raise SweepError(f"{source}: sampler = {sweep.sampler!r}", 'use "nsga2" or "tpe"')
        sweep.objectives = check_objectives(doc.get("objectives", ["accuracy", "size"]))
    constraints = doc.get("constraints", {})
    for k, v in constraints.items():
        if k not in CONSTRAINTS or not _finite_number(v):
            raise SweepError(f"{source}: constraint {k} = {v!r}", f"use finite numbers for: {', '.join(CONSTRAINTS)}")
    sweep.constraints = dict(constraints)
    return sweep


def _steps_only(doc: dict) -> str:
    import tomli_w

    return tomli_w.dumps({"name": doc.get("name", "sweep"), "step": doc["step"]})


def load_sweep(path: Path | str) -> Sweep:
    path = Path(path).expanduser()
    if not path.is_file():
        raise SweepError(f"no such sweep file: {path}", "check the path")
    return parse_sweep(path.read_text(encoding="utf-8"), path.parent, source=path.name)


# --------------------------------------------------------------------------- running


def violations(final: Optional[dict], constraints: dict[str, float]) -> list[float]:
    """Optuna's convention: one value per constraint, ≤ 0 when satisfied."""
    out = []
    for key, limit in constraints.items():
        name, kind = CONSTRAINTS[key]
        v = metric(final or {}, name)
        if v is None:
            out.append(1.0)
        else:
            out.append(v - limit if kind == "max" else limit - v)
    return out
