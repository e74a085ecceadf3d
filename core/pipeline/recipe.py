"""Recipes: an ordered list of technique steps, read from and written to TOML.

```toml
name = "prune-then-int8"
[[step]]
technique = "prune.structured"
ratio = 0.5
[[step]]
technique = "quantize.static"
```

Everything that can be wrong with a recipe — TOML syntax, an unknown technique,
an unknown or out-of-range parameter, a PyTorch-side step after the model has
become ONNX — is found by :func:`parse_recipe` / :meth:`Recipe.check_order`
before anything runs, and reported with the line and the allowed values.
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from core import toml_input
from core.errors import EdgeSlimError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

TOP_KEYS = ("name", "description", "step")
STEP_KEYS = ("technique", "enabled")  # reserved in every step, besides the technique's own parameters


class RecipeError(EdgeSlimError):
    """A recipe that cannot run as written, with where and how to fix it."""

    def __init__(self, problem: str, fix: str = "", *, source: str = "", line: Optional[int] = None) -> None:
        where = source or "recipe"
        if line is not None:
            where += f", line {line}"
        self.line = line
        super().__init__(f"{where}: {problem}", fix)


@dataclass(frozen=True)
class Step:
    """One technique with its settings; ``line`` is where it starts in its TOML file."""

    technique: str
    config: Any  # the technique's config dataclass
    enabled: bool = True
    line: Optional[int] = None

    @property
    def info(self):
        from core.techniques import get

        return get(self.technique)

    def params(self) -> dict:
        return self.config.to_params()


@dataclass
class Recipe:
    """An ordered list of steps; disabled steps are kept (the GUI toggles them) but not run."""

    name: str = "recipe"
    steps: list[Step] = field(default_factory=list)
    description: str = ""
    source: str = ""  # file the recipe came from, for messages

    @property
    def active_steps(self) -> list[Step]:
        return [s for s in self.steps if s.enabled]

    def check_order(self, input_is_onnx: bool = False) -> None:
        """Reject step orders that cannot run: PyTorch-side work after the model became ONNX."""
        from core.techniques import ONNX

        active = self.active_steps
        if not active:
            raise RecipeError("the recipe has no enabled steps", "add a [[step]] with technique = \"...\"", source=self.source)
        onnx_step: Optional[Step] = None
        if input_is_onnx:
            first = active[0]
            if not first.info.accepts_onnx:
                raise RecipeError(
                    f"step 1 ({first.technique}) needs a PyTorch model, but the model is an ONNX file",
                    "start from the PyTorch model (state_dict, torchvision name or .pt2), or use only "
                    "quantize.static, quantize.dynamic or quantize.fp16 on an ONNX model",
                    source=self.source, line=first.line,
                )
            onnx_step = first
            active = active[1:]
        for step in active:
            if onnx_step is not None:
                after = f"{onnx_step.technique}" + (f" (line {onnx_step.line})" if onnx_step.line else "")
                raise RecipeError(
                    f"{step.technique} cannot follow {after}, which turns the model into ONNX",
                    f"put {onnx_step.technique} last: PyTorch-side steps (pruning, fine-tuning) come before one "
                    "ONNX-side quantization",
                    source=self.source, line=step.line,
                )
            if step.info.side == ONNX:
                onnx_step = step

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            **({"description": self.description} if self.description else {}),
            "step": [
                {"technique": s.technique, **({} if s.enabled else {"enabled": False}), **s.params()} for s in self.steps
            ],
        }

    def to_toml(self) -> str:
        """TOML with one ``[[step]]`` table per step, in the layout people write by hand."""
        import tomli_w

        doc = self.to_dict()
        head = {k: v for k, v in doc.items() if k != "step"}
        parts = [tomli_w.dumps(head)]
        for step in doc["step"]:
            parts.append("[[step]]\n" + tomli_w.dumps(step))
        return "\n".join(parts)

    def save(self, path: Path) -> Path:
        from core.fileio import atomic_write_text

        return atomic_write_text(Path(path), self.to_toml())

    def with_step(self, technique: str, **params: Any) -> "Recipe":
        """A copy with one more step (validated like a parsed one)."""
        step = make_step(technique, params, source=self.source)
        return replace(self, steps=[*self.steps, step])


# --------------------------------------------------------------------------- parsing


def _line_map(text: str) -> list[tuple[int, dict[str, int]]]:
    """For each ``[[step]]`` header: its line and the line of each key under it (1-based)."""
    header = re.compile(r"^\s*\[\[\s*step\s*\]\]")
    other_table = re.compile(r"^\s*\[")
    key = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*=")
    steps: list[tuple[int, dict[str, int]]] = []
    current: Optional[dict[str, int]] = None
    for i, raw in enumerate(text.splitlines(), start=1):
        if header.match(raw):
            current = {}
            steps.append((i, current))
        elif other_table.match(raw):
            current = None
        elif current is not None:
            m = key.match(raw)
            if m:
                current.setdefault(m.group(1).strip("\"'"), i)
    return steps


def make_step(technique: str, params: dict, *, source: str = "", line: Optional[int] = None, key_lines: Optional[dict[str, int]] = None) -> Step:
    """Build a validated :class:`Step` from a technique name and raw parameter values."""
    from core.techniques import TechniqueError, get
    from core.techniques.base import allowed_text, coerce_value

    key_lines = key_lines or {}
    try:
        info = get(technique)
    except TechniqueError as exc:
        raise RecipeError(exc.problem, exc.fix, source=source, line=key_lines.get("technique", line)) from None
    known = {p.name: p for p in info.params}
    values: dict[str, Any] = {}
    enabled = True
    for key, value in params.items():
        where = key_lines.get(key, line)
        if key == "enabled":
            if not isinstance(value, bool):
                raise RecipeError(f"enabled = {value!r} must be true or false", "write enabled = false to skip the step", source=source, line=where)
            enabled = value
            continue
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise RecipeError(
                f"{technique} has no parameter {key!r}",
                f"{hint}its parameters are: {', '.join(known) or '(none)'}",
                source=source, line=where,
            )
        try:
            values[key] = coerce_value(known[key], value)
        except ValueError as exc:
            raise RecipeError(
                f"{technique}: {key} = {value!r} is not allowed ({exc})",
                f"use {allowed_text(known[key])}",
                source=source, line=where,
            ) from None
    try:
        config = info.config(**values)
    except (TechniqueError, ValueError) as exc:  # cross-field checks in __post_init__
        problem = exc.problem if isinstance(exc, TechniqueError) else str(exc)
        fix = exc.fix if isinstance(exc, TechniqueError) else "check the step's parameters"
        raise RecipeError(f"{technique}: {problem}", fix, source=source, line=line) from None
    return Step(technique=technique, config=config, enabled=enabled, line=line)


def parse_recipe(text: str, source: str = "") -> Recipe:
    """Parse and validate recipe TOML (parameters and techniques; order is checked by ``check_order``)."""
    text = toml_input.strip_bom(text)  # a UTF-8 BOM (Windows editors) means nothing; line numbers stay right
    try:
        doc = toml_input.loads(text)
    except toml_input.TomlTooDeep as exc:
        raise RecipeError(str(exc), "a recipe needs no nesting beyond [[step]] tables and lists of names", source=source) from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise RecipeError(
            f"not valid TOML ({str(exc).split(' (at')[0]})", "check quotes, '=' signs and [[step]] headers",
            source=source, line=int(m.group(1)) if m else None,
        ) from None
    for key in doc:
        if key not in TOP_KEYS:
            close = difflib.get_close_matches(key, TOP_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise RecipeError(f"unknown top-level key {key!r}", f"{hint}a recipe has name, description and [[step]] tables", source=source)
    name = doc.get("name", Path(source).stem if source else "recipe")
    if not isinstance(name, str):
        raise RecipeError("name must be text", 'write e.g. name = "prune-then-int8"', source=source)
    raw_steps = doc.get("step", [])
    if not isinstance(raw_steps, list):
        raise RecipeError("steps must be [[step]] tables", 'write [[step]] then technique = "..." on the next line', source=source)
    lines = _line_map(text)
    steps = []
    for i, raw in enumerate(raw_steps):
        line, key_lines = lines[i] if i < len(lines) else (None, {})
        if not isinstance(raw, dict) or "technique" not in raw:
            raise RecipeError(
                f"step {i + 1} has no technique",
                'add technique = "NAME" under its [[step]] header (see `edgeslim-cli techniques`)',
                source=source, line=line,
            )
        technique = raw["technique"]
        if not isinstance(technique, str):
            raise RecipeError(f"step {i + 1}: technique must be a name in quotes", 'write technique = "prune.structured"', source=source, line=line)
        params = {k: v for k, v in raw.items() if k != "technique"}
        steps.append(make_step(technique, params, source=source, line=line, key_lines=key_lines))
    return Recipe(name=name, steps=steps, description=str(doc.get("description", "")), source=source)


def load_recipe(path: Path | str) -> Recipe:
    """Read a recipe file; a missing or unreadable file is a RecipeError with the fix."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise RecipeError(f"no such recipe file: {path}", "check the path; example recipes are in resources/recipes/")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read {path} ({exc})", "save the recipe as UTF-8 text") from None
    return parse_recipe(text, source=path.name)
