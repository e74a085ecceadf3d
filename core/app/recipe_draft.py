"""A recipe being edited: steps whose values may be wrong for a while, checked as they change.

The app's Compress page edits a :class:`RecipeDraft` (napari-style model/view
split: the widgets subscribe and write back). A draft accepts any value for a
parameter, keeps it, and records the rule it breaks, so a form can mark the
field while the user is still typing; :meth:`RecipeDraft.to_recipe` gives the
validated :class:`core.pipeline.recipe.Recipe` once nothing is wrong. Every
check is core's own (``coerce_value``, ``make_step``, ``Recipe.check_order``):
the draft only remembers where each problem is.

Using a draft imports the technique registry (and so torch): create one after
the engine has loaded.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from core.pipeline.recipe import Recipe, RecipeError, Step, load_recipe, make_step, parse_recipe

Listener = Callable[[str], None]
_uids = itertools.count(1)


@dataclass(frozen=True)
class Problem:
    """Something that stops the recipe from running: where (a step, a field) and what to do."""

    text: str
    uid: Optional[int] = None  # the step it is about; None for the recipe as a whole
    field: Optional[str] = None  # the parameter; "" for a cross-field check; None for the step's position


@dataclass
class DraftStep:
    technique: str
    values: dict[str, Any]
    enabled: bool = True
    errors: dict[str, str] = field(default_factory=dict)  # parameter -> what is wrong; "" -> a cross-field check
    uid: int = field(default_factory=lambda: next(_uids))

    @property
    def info(self):
        from core.techniques import get

        return get(self.technique)

    @property
    def valid(self) -> bool:
        return not self.errors

    def changed_values(self) -> dict[str, Any]:
        """Values that differ from the technique's defaults (what a short label shows)."""
        defaults = {p.name: p.default for p in self.info.params}
        return {k: v for k, v in self.values.items() if k not in defaults or _plain(v) != _plain(defaults[k])}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class RecipeDraft:
    """An ordered list of :class:`DraftStep`; listeners hear ``"steps"`` (added, removed, moved, toggled) or ``"values"``."""

    def __init__(self, name: str = "recipe", description: str = "") -> None:
        self.name = name
        self.description = description
        self.steps: list[DraftStep] = []
        self._listeners: list[Listener] = []

    # ------------------------------------------------------------------ observing

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, what: str) -> None:
        for listener in list(self._listeners):
            listener(what)

    # ------------------------------------------------------------------ editing

    def step(self, uid: int) -> DraftStep:
        for s in self.steps:
            if s.uid == uid:
                return s
        raise KeyError(uid)

    def index(self, uid: int) -> int:
        return self.steps.index(self.step(uid))

    def add(self, technique: str, values: Optional[dict] = None, *, enabled: bool = True, index: Optional[int] = None) -> DraftStep:
        """Append (or insert at ``index``) a step with the technique's defaults, overlaid with ``values``."""
        from core.techniques import get

        info = get(technique)
        step = DraftStep(technique, {p.name: p.default for p in info.params}, enabled)
        for name, value in (values or {}).items():
            self._set(step, name, value)
        self._check_step(step)
        self.steps.insert(len(self.steps) if index is None else index, step)
        self._emit("steps")
        return step

    def remove(self, uid: int) -> None:
        self.steps.remove(self.step(uid))
        self._emit("steps")

    def move(self, uid: int, new_index: int) -> None:
        step = self.step(uid)
        self.steps.remove(step)
        self.steps.insert(max(0, min(new_index, len(self.steps))), step)
        self._emit("steps")

    def reorder(self, uids: list[int]) -> None:
        """Put the steps in the order of ``uids`` (a drag in a list view)."""
        by_uid = {s.uid: s for s in self.steps}
        if sorted(uids) != sorted(by_uid):
            raise ValueError("reorder needs every step exactly once")
        self.steps = [by_uid[u] for u in uids]
        self._emit("steps")

    def set_enabled(self, uid: int, enabled: bool) -> None:
        self.step(uid).enabled = bool(enabled)
        self._emit("steps")

    def reset(self, uid: int) -> None:
        step = self.step(uid)
        step.values = {p.name: p.default for p in step.info.params}
        step.errors.clear()
        self._check_step(step)
        self._emit("values")

    def clear(self) -> None:
        self.steps.clear()
        self._emit("steps")

    def set_value(self, uid: int, name: str, value: Any) -> Optional[str]:
        """Set one parameter; returns what is wrong with it (the rule), or None when it is allowed."""
        step = self.step(uid)
        self._set(step, name, value)
        self._check_step(step)
        self._emit("values")
        return step.errors.get(name)

    def _set(self, step: DraftStep, name: str, value: Any) -> None:
        from core.techniques.base import coerce_value

        known = {p.name: p for p in step.info.params}
        if name not in known:
            raise KeyError(f"{step.technique} has no parameter {name!r}")
        step.values[name] = value
        try:
            step.values[name] = coerce_value(known[name], value)
        except ValueError as exc:
            step.errors[name] = str(exc)
        else:
            step.errors.pop(name, None)

    def _check_step(self, step: DraftStep) -> None:
        """Cross-field checks (the config's own ``__post_init__``), once every field is allowed on its own."""
        step.errors.pop("", None)
        if step.errors:
            return
        try:
            make_step(step.technique, step.values)
        except RecipeError as exc:
            step.errors[""] = _without_where(str(exc))

    # ------------------------------------------------------------------ whole recipes

    def load(self, recipe: Recipe) -> None:
        """Replace the draft's steps with ``recipe``'s."""
        self.name, self.description = recipe.name, recipe.description
        self.steps = []
        for s in recipe.steps:
            step = DraftStep(s.technique, dict(s.config.to_params()), s.enabled)
            step.values = {k: tuple(v) if isinstance(v, list) else v for k, v in step.values.items()}
            self.steps.append(step)
        self._emit("steps")

    def load_text(self, text: str, source: str = "") -> None:
        self.load(parse_recipe(text, source=source))

    def load_file(self, path: Path | str) -> None:
        self.load(load_recipe(path))

    def problems(self, input_is_onnx: bool = False) -> list[Problem]:
        """Everything that stops the recipe from running, field problems first, then the first order problem."""
        out: list[Problem] = []
        for i, step in enumerate(self.steps, start=1):
            if not step.enabled:
                continue
            for name, text in step.errors.items():
                label = next((p.spec.label for p in step.info.params if p.name == name), name) if name else ""
                out.append(Problem(f"step {i} ({step.technique}): " + (f"{label}: {text}" if label else text), step.uid, name))
        if out:
            return out
        order = self.order_problem(input_is_onnx)
        return [order] if order else []

    def order_problem(self, input_is_onnx: bool = False) -> Optional[Problem]:
        """The first step that cannot run where it is (core's ``check_order`` on growing prefixes finds which)."""
        active = [s for s in self.steps if s.enabled]
        if not active:
            return Problem("the recipe has no enabled steps: add a step or enable one")
        steps = [Step(s.technique, None, True) for s in active]  # check_order reads names and sides only
        for k in range(1, len(steps) + 1):
            try:
                Recipe(self.name, steps[:k]).check_order(input_is_onnx=input_is_onnx)
            except RecipeError as exc:
                return Problem(_without_where(str(exc)), active[k - 1].uid, None)
        return None

    def to_recipe(self) -> Recipe:
        """The validated recipe; raises :class:`RecipeError` naming the first problem."""
        steps = []
        for i, s in enumerate(self.steps, start=1):
            try:
                step = make_step(s.technique, s.values)
            except RecipeError as exc:
                raise RecipeError(f"step {i} ({s.technique}): {_without_where(exc.problem)}", exc.fix) from None
            steps.append(Step(step.technique, step.config, s.enabled))
        return Recipe(self.name, steps, self.description)

    def to_toml(self) -> str:
        return self.to_recipe().to_toml()

    def save(self, path: Path | str) -> Path:
        return self.to_recipe().save(Path(path))


def _without_where(text: str) -> str:
    """``"recipe: x cannot follow y"`` -> ``"x cannot follow y"`` (the GUI shows the step instead of a line)."""
    return text.split(": ", 1)[1] if text.startswith("recipe: ") else text
