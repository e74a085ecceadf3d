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
STUDENT_FAMILY = "Distillation"  # its steps replace the model with a student: layer names before it do not apply after
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


def _shown(v: Any) -> str:
    return (", ".join(map(str, v)) or "(none)") if isinstance(v, (list, tuple)) else str(v)


@dataclass(frozen=True)
class Applied:
    """What :meth:`RecipeDraft.apply_suggestion` did: the step it wrote to, where it is, and the changes in words."""

    uid: int
    index: int
    added: bool
    changes: list

    def describe(self, technique: str) -> str:
        if self.added:
            return f"added a {technique} step (step {self.index + 1}) with " + "; ".join(self.changes) + "."
        return f"applied to step {self.index + 1} ({technique}): " + ("; ".join(self.changes) or "no change") + "."


class RecipeDraft:
    """An ordered list of :class:`DraftStep`; listeners hear ``"steps"`` (added, removed, moved, toggled) or ``"values"``."""

    def __init__(self, name: str = "recipe", description: str = "") -> None:
        self.name = name
        self.description = description
        self.steps: list[DraftStep] = []
        self._listeners: list[Listener] = []
        self._undo: list[list] = []  # states before each edit, newest last
        self._redo: list[list] = []
        self._now = self._state()  # the state after the latest edit
        self._coalesce: Optional[tuple] = None  # (uid, name) of the field typed into last: one undo step per field
        self._saved = self._comparable()  # as loaded or saved: ``modified`` compares with it

    # ------------------------------------------------------------------ observing

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, what: str, field: Optional[tuple] = None) -> None:
        """Record the edit for undo, then tell the listeners."""
        if field is None or field != self._coalesce:
            self._undo.append(self._now)
        self._redo.clear()
        self._coalesce = field
        self._now = self._state()
        for listener in list(self._listeners):
            listener(what)

    # ------------------------------------------------------------------ undo and redo

    def _state(self) -> list:
        return [self.name, [(s.uid, s.technique, dict(s.values), s.enabled, dict(s.errors)) for s in self.steps]]

    def _comparable(self) -> tuple:
        return self.name, [(s.technique, {k: _plain(v) for k, v in s.values.items()}, s.enabled) for s in self.steps]

    @property
    def modified(self) -> bool:
        """Edited since it was loaded or saved (loading a preset over it would lose the edits)."""
        return self._comparable() != self._saved

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> bool:
        """Go back one edit (a load counts as one); False when there is nothing to undo."""
        return self._travel(self._undo, self._redo)

    def redo(self) -> bool:
        return self._travel(self._redo, self._undo)

    def _travel(self, source: list, target: list) -> bool:
        if not source:
            return False
        target.append(self._state())
        self.name, steps = source.pop()
        self.steps = [DraftStep(t, dict(v), e, dict(err), uid) for uid, t, v, e, err in steps]
        self._now, self._coalesce = self._state(), None
        for listener in list(self._listeners):
            listener("steps")
        return True

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

    def apply_suggestion(self, technique: str, params: dict) -> "Applied":
        """Write suggested settings (a sensitivity analysis's step) into the draft; say what changed.

        They go into the first enabled step of ``technique`` (else its first
        step, switched back on); with none, a new step is added where it can
        run: a PyTorch-side step before the first ONNX-side one (pruning before
        int8), an ONNX-side one last. A suggestion names the loaded model's
        layers, so it is refused (an EdgeSlimError) where a distillation step
        before it has replaced that model with a student.
        """
        from core.techniques import ONNX, get

        same = [s for s in self.steps if s.technique == technique]
        step = next((s for s in same if s.enabled), same[0] if same else None)
        index = self.index(step.uid) if step is not None else len(self.steps)
        if step is None and get(technique).side != ONNX:
            index = next((i for i, s in enumerate(self.steps) if s.info.side == ONNX), index)
        self._check_model_unreplaced(index, technique)
        if step is None:
            step = self.add(technique, params, index=index)
            return Applied(step.uid, index, True, [f"{k} = {_shown(v)}" for k, v in params.items()])
        changes = []
        for name, value in params.items():
            before = step.values.get(name)
            if _plain(before) != _plain(value):
                changes.append(f"{name}: {_shown(before)} → {_shown(value)}")
            self.set_value(step.uid, name, value)
        if not step.enabled:
            self.set_enabled(step.uid, True)
            changes.append("switched on")
        return Applied(step.uid, self.index(step.uid), False, changes)

    def _check_model_unreplaced(self, index: int, technique: str) -> None:
        from core.errors import EdgeSlimError

        for i, s in enumerate(self.steps[:index], start=1):
            if s.enabled and s.info.family == STUDENT_FAMILY:
                raise EdgeSlimError(
                    f"the suggested {technique} settings name layers of the loaded model, but step {i} ({s.technique}) "
                    "replaces that model with a student before them",
                    "apply the suggestion to a recipe without a distillation step before it, or analyse the student model",
                )

    def set_value(self, uid: int, name: str, value: Any) -> Optional[str]:
        """Set one parameter; returns what is wrong with it (the rule), or None when it is allowed."""
        step = self.step(uid)
        self._set(step, name, value)
        self._check_step(step)
        self._emit("values", (uid, name))
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
        self._saved = self._comparable()

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
        saved = self.to_recipe().save(Path(path))
        self._saved = self._comparable()
        return saved


def _without_where(text: str) -> str:
    """``"recipe: x cannot follow y"`` -> ``"x cannot follow y"`` (the GUI shows the step instead of a line)."""
    return text.split(": ", 1)[1] if text.startswith("recipe: ") else text
