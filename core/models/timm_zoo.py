"""timm architectures by name, always randomly initialised (``pretrained=False``).

timm is optional: it is imported only when a ``timm:NAME`` spec or ``--arch``
is used, and its absence is a one-line error with the install command. Like
the torchvision zoo, nothing is ever downloaded: trained weights come from the
user as a state_dict file. The interface (``check_name``, ``build``,
``input_shape_for``, ``num_classes_from_state_dict``) mirrors
:mod:`core.models.torchvision_zoo` so the loader treats both alike.
"""

from __future__ import annotations

import difflib
import warnings
from functools import lru_cache
from types import ModuleType

import torch
from torch import nn

from core.errors import ModelLoadError
from core.models.heads import classes_in, head_keys_of

PREFIX = "timm"
DEFAULT_INPUT_SHAPE = (3, 224, 224)
LIST_HINT = "python -c \"import timm; print(timm.list_models())\""


def timm_module() -> ModuleType:
    """The ``timm`` package, or a clear error saying how to install it."""
    try:
        import timm
    except ImportError as exc:
        raise ModelLoadError(
            "--arch timm:NAME needs the timm package: pip install timm",
            "or use a torchvision:NAME architecture, which needs nothing more",
        ) from exc
    return timm


@lru_cache(maxsize=1)
def model_names() -> tuple[str, ...]:
    """Every architecture timm can build (with or without published weights)."""
    return tuple(timm_module().list_models())


def check_name(name: str) -> str:
    """``name`` if timm has it (case-insensitive), else an error with close matches."""
    names = model_names()
    if name in names:
        return name
    by_lower = {n.lower(): n for n in names}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    close = difflib.get_close_matches(name.lower(), names, n=4, cutoff=0.6)
    hint = f"did you mean {', '.join('timm:' + c for c in close)}? " if close else ""
    raise ModelLoadError(f"timm has no model named `{name}`", f"{hint}list the names with: {LIST_HINT}")


def input_shape_for(name: str) -> tuple[int, int, int]:
    """The (C, H, W) timm's default config for ``name`` was trained at (no download: config only)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(check_name(name))
    size = getattr(cfg, "input_size", None) if cfg is not None else None
    if size is None or len(size) != 3:
        return DEFAULT_INPUT_SHAPE
    return tuple(int(d) for d in size)  # type: ignore[return-value]


def build(name: str, num_classes: int = 1000, device: str | torch.device | None = None) -> nn.Module:
    """A randomly initialised ``name`` with a ``num_classes``-way head, in eval mode."""
    timm = timm_module()
    name = check_name(name)
    if num_classes < 1:
        raise ModelLoadError(f"num_classes must be at least 1, got {num_classes}", "pass a positive --num-classes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.device(device or "cpu"):
            model = timm.create_model(name, pretrained=False, num_classes=num_classes)
    return model.eval()


@lru_cache(maxsize=64)
def head_keys(name: str) -> tuple[str, ...]:
    """state_dict keys whose shape depends on ``num_classes`` (the classifier head)."""
    return head_keys_of(build, name)


def num_classes_from_state_dict(name: str, state: dict) -> int | None:
    """The class count a state_dict for ``name`` was trained with, read off its head weights."""
    return classes_in(head_keys(name), state)
