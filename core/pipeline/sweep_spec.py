"""A sweep as a form builds it, written as the sweep file the CLI runs.

The app's sweep dialog collects what to vary field by field; :class:`SweepSpec`
holds that and writes it as a self-contained sweep file (the base recipe inline
as ``[[step]]`` tables), so the dialog, ``edgeslim-cli sweep`` and a file saved
from the app are the same thing. Every check is :func:`core.pipeline.sweep.parse_sweep`'s:
:meth:`SweepSpec.check` runs it on the text that would be saved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from core.pipeline.recipe import tomllib

ON, OFF = "on", "off"
MAX_SIZE_KEY, MAX_LATENCY_KEY, MIN_ACCURACY_KEY = "max_size_bytes", "max_latency_ms", "min_accuracy"


@dataclass(frozen=True)
class Range:
    """A numeric search range for Optuna (whole numbers when both ends are ints)."""

    low: Union[int, float]
    high: Union[int, float]


Values = Union[list, Range]


@dataclass
class SweepSpec:
    """What a sweep varies and how it searches; ``to_toml`` is a sweep file ``parse_sweep`` reads back."""

    name: str
    recipe_toml: str  # the base recipe (its [[step]] tables are copied into the sweep file)
    mode: str = "grid"  # grid | optuna
    axes: dict[str, Values] = field(default_factory=dict)  # "technique.param" or "technique" (on/off) -> values
    trials: int = 12  # optuna only
    sampler: str = "nsga2"
    objectives: list[str] = field(default_factory=lambda: ["accuracy", "size"])
    constraints: dict[str, float] = field(default_factory=dict)

    def grid_size(self) -> int:
        """Trials a grid makes: the product of the value counts (ranges count as one point each)."""
        return math.prod(len(v) if isinstance(v, list) else 1 for v in self.axes.values()) if self.axes else 0

    def size(self) -> int:
        return self.grid_size() if self.mode == "grid" else self.trials

    def to_toml(self) -> str:
        """The sweep file: settings, the recipe's steps, then ``[grid]`` / ``[search]`` and ``[constraints]``."""
        steps = tomllib.loads(self.recipe_toml).get("step", [])
        lines = [f"name = {_literal(self.name)}", f"mode = {_literal(self.mode)}"]
        if self.mode == "optuna":
            lines += [f"trials = {int(self.trials)}", f"sampler = {_literal(self.sampler)}",
                      f"objectives = {_literal(list(self.objectives))}"]
        for step in steps:
            lines += ["", "[[step]]"] + [f"{_key(k)} = {_literal(v)}" for k, v in step.items()]
        lines += ["", "[grid]" if self.mode == "grid" else "[search]"]
        for key, values in self.axes.items():
            lines.append(f"{_literal(key)} = {_axis_literal(values)}")
        if self.constraints:
            lines += ["", "[constraints]"] + [f"{k} = {_literal(v)}" for k, v in self.constraints.items()]
        return "\n".join(lines) + "\n"

    def check(self, base_dir: Path = Path(".")):
        """The :class:`core.pipeline.sweep.Sweep` this spec makes; raises ``SweepError`` naming the problem."""
        from core.pipeline.sweep import parse_sweep

        return parse_sweep(self.to_toml(), base_dir, source=f"sweep {self.name}")


def grid_values(low: float, high: float, count: int, integer: bool = False) -> list:
    """``count`` evenly spaced values from ``low`` to ``high``, rounded for reading (whole numbers deduplicated)."""
    if count < 1:
        return []
    if count == 1:
        return [int(round(low)) if integer else _tidy(low)]
    step = (high - low) / (count - 1)
    raw = [low + i * step for i in range(count)]
    if integer:
        out: list = []
        for v in raw:
            n = int(round(v))
            if n not in out:
                out.append(n)
        return out
    return [_tidy(v) for v in raw]


def _tidy(x: float) -> float:
    """0.30000000000000004 -> 0.3 (ten significant digits are plenty for a setting)."""
    return float(f"{x:.10g}")


def _axis_literal(values: Values) -> str:
    if isinstance(values, Range):
        return f"{{ min = {_literal(values.low)}, max = {_literal(values.high)} }}"
    return _literal(list(values))


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _literal(key)


def _literal(value: Any) -> str:
    """One TOML value on one line (tomli_w writes arrays over several); 3.0 stays a float, so a range stays continuous."""
    import tomli_w

    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return tomli_w.dumps({"v": value})[4:].strip()
