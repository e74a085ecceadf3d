"""torchvision classification architectures by name, always randomly initialised.

Pretrained weights are never downloaded: EdgeSlim runs offline, so trained
weights come from the user as a state_dict file, or from torchvision's own
download cache (``$TORCH_HOME/hub/checkpoints``) when a user has fetched them
before: :func:`cached_torchvision_weights` finds them there.
"""

from __future__ import annotations

import difflib
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

import torch
from torch import nn

from core.errors import ModelLoadError
from core.models.heads import classes_in, head_keys_of

DEFAULT_INPUT_SHAPE = (3, 224, 224)
# architectures whose stem or fixed-size layers want another resolution
INPUT_SHAPES = {"inception_v3": (3, 299, 299)}
LIST_HINT = "python -c \"import torchvision; print(torchvision.models.list_models(module=torchvision.models))\""


@lru_cache(maxsize=1)
def classification_models() -> tuple[str, ...]:
    """Names of torchvision's classification models (detection/segmentation live in submodules)."""
    import torchvision

    return tuple(torchvision.models.list_models(module=torchvision.models))


def check_name(name: str) -> str:
    """``name`` if torchvision has it (case-insensitive), else an error with close matches."""
    names = classification_models()
    if name in names:
        return name
    by_lower = {n.lower(): n for n in names}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    close = difflib.get_close_matches(name.lower(), names, n=4, cutoff=0.5)
    hint = f"did you mean {', '.join('torchvision:' + c for c in close)}? " if close else ""
    raise ModelLoadError(
        f"torchvision has no classification model named `{name}`",
        f"{hint}list the names with: {LIST_HINT}",
    )


def input_shape_for(name: str) -> tuple[int, int, int]:
    return INPUT_SHAPES.get(name, DEFAULT_INPUT_SHAPE)


def build(name: str, num_classes: int = 1000, device: str | torch.device | None = None) -> nn.Module:
    """A randomly initialised ``name`` with a ``num_classes``-way head, in eval mode."""
    import torchvision

    name = check_name(name)
    if num_classes < 1:
        raise ModelLoadError(f"num_classes must be at least 1, got {num_classes}", "pass a positive --num-classes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. googlenet/inception's note about init_weights defaults
        with torch.device(device or "cpu"):
            model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    return model.eval()


@lru_cache(maxsize=64)
def head_keys(name: str) -> tuple[str, ...]:
    """state_dict keys whose shape depends on ``num_classes`` (the classifier head)."""
    return head_keys_of(build, name)


def num_classes_from_state_dict(name: str, state: dict) -> int | None:
    """The class count a state_dict for ``name`` was trained with, read off its head weights."""
    return classes_in(head_keys(name), state)


def hub_checkpoints() -> Path:
    """torchvision's download cache: ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/hub/checkpoints``)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def weight_file_names(arch: str) -> tuple[str, ...]:
    """The file names torchvision downloads ``arch``'s ImageNet weights to, its default weights first."""
    import torchvision

    name = arch.split(":", 1)[1] if arch.lower().startswith("torchvision:") else arch
    try:
        enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError):
        return ()
    members = [enum.DEFAULT, *[w for w in enum if w is not enum.DEFAULT]]
    return tuple(dict.fromkeys(Path(urlparse(w.url).path).name for w in members))


def cached_torchvision_weights(arch: str) -> Optional[Path]:
    """The cached ImageNet weights file of ``arch`` (e.g. ``resnet18`` or ``torchvision:resnet18``), or None.

    Nothing is downloaded: the file is there when the user ever ran
    torchvision with ``weights=...`` on this machine (or copied it there).
    """
    folder = hub_checkpoints()
    for name in weight_file_names(arch):
        path = folder / name
        if path.is_file():
            return path
    return None
