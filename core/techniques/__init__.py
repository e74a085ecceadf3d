"""Compression techniques: one module each, found and registered automatically.

``get("prune.structured")`` returns the :class:`TechniqueInfo`; ``all_techniques()``
lists them in family order for the GUI's "add step" menu. A module in this
package that calls :func:`core.techniques.base.technique` is a technique — no
list to update elsewhere.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil

from core.techniques.base import (
    FAMILIES,
    ONNX,
    REGISTRY,
    TORCH,
    ParamInfo,
    ParamSpec,
    StepContext,
    StepOutcome,
    TechniqueError,
    TechniqueInfo,
)

__all__ = [
    "FAMILIES", "ONNX", "TORCH", "ParamInfo", "ParamSpec", "StepContext", "StepOutcome", "TechniqueError",
    "TechniqueInfo", "all_techniques", "get", "names",
]

_loaded = False


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    for mod in pkgutil.iter_modules(__path__):
        if mod.name != "base" and not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
    _loaded = True


def names() -> list[str]:
    _load_all()
    return [t.name for t in all_techniques()]


def all_techniques() -> list[TechniqueInfo]:
    """Every registered technique, grouped by family, then by name."""
    _load_all()
    return sorted(REGISTRY.values(), key=lambda t: (FAMILIES.index(t.family), t.name))


def get(name: str) -> TechniqueInfo:
    """The technique called ``name``; an unknown name raises with the closest ones suggested."""
    _load_all()
    if name in REGISTRY:
        return REGISTRY[name]
    close = difflib.get_close_matches(name, list(REGISTRY), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise TechniqueError(f"unknown technique {name!r}", f"{hint}known techniques: {', '.join(names())}")
