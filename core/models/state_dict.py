"""Reading weights-only checkpoints and fitting them into an architecture.

Checkpoints come wrapped in many ways (training loops nest the weights under
"state_dict" or "model"; DataParallel prefixes every key with "module."), and a
wrong ``--arch`` or ``--num-classes`` is the most common user mistake, so a
mismatch is reported key by key with the likely fix instead of torch's wall of text.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from core.errors import ModelLoadError
from core.models.spec import corrupt

NESTED_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "weights")
PREFIXES = ("module.", "_orig_mod.", "model.")


class FullPickle(Exception):
    """The file holds pickled objects that a weights-only load refuses."""


def safe_load(path: Path):
    """``torch.load(weights_only=True)``; :class:`FullPickle` when the file needs full unpickling."""
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the refusal below says what matters
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" in str(exc).lower():
            raise FullPickle(str(exc)) from exc
        raise corrupt(path, "PyTorch", exc) from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError) as exc:
        raise corrupt(path, "PyTorch", exc) from exc


def extract_state_dict(obj) -> Optional[dict[str, torch.Tensor]]:
    """The tensor dict inside a checkpoint (top level or one of the usual nesting keys), prefixes stripped."""
    candidates = [obj]
    if isinstance(obj, Mapping):
        candidates += [obj[k] for k in NESTED_KEYS if k in obj]
    for cand in candidates:
        if isinstance(cand, Mapping):
            tensors = {str(k): v for k, v in cand.items() if isinstance(v, torch.Tensor)}
            if tensors and len(tensors) >= 0.9 * len(cand):
                return strip_prefixes(tensors, ())
    return None


def strip_prefixes(state: dict[str, torch.Tensor], expected) -> dict[str, torch.Tensor]:
    """Drop a prefix every key shares and the model's keys lack (DataParallel's "module.",
    torch.compile's "_orig_mod.", Lightning's "model.")."""
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            # "model." can be a real attribute name, so it is only dropped when the model's keys lack it
            if prefix == "model." and (not expected or any(k.startswith(prefix) for k in expected)):
                continue
            if state and all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                changed = True
    return state


def load_into(module: nn.Module, state: dict[str, torch.Tensor], source: str, fix: str, skip: tuple[str, ...] = ()) -> None:
    """Load ``state`` strictly into ``module`` (except the ``skip`` keys); a mismatch names the first offending keys."""
    expected = {k: v for k, v in module.state_dict().items() if k not in skip}
    state = {k: v for k, v in strip_prefixes(state, expected).items() if k not in skip}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    # BatchNorm's num_batches_tracked is optional in older checkpoints
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    problems = []
    for label, keys in (("mis-shaped", misshaped), ("missing", missing), ("unexpected", unexpected)):
        if keys:
            more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
            problems.append(f"{len(keys)} {label}: {', '.join(keys[:3])}{more}")
    if problems:
        raise ModelLoadError(f"the weights in {source} do not fit the architecture: " + "; ".join(problems), fix)
    module.load_state_dict(state, strict=False)


def load_with_new_head(
    module: nn.Module, state: dict[str, torch.Tensor], head_keys: tuple[str, ...], source: str, fix: str
) -> Optional[tuple[int, int]]:
    """Load a backbone from ``state``; a head trained for another class count is left as ``module`` built it.

    The transfer-learning start: an ImageNet checkpoint's 1000-way classifier
    cannot serve 10 classes, everything before it can. Every other key must fit
    exactly. Returns (classes in the file, classes of the model) when the head
    was replaced, None when the file fitted whole.
    """
    expected = module.state_dict()
    state = strip_prefixes(state, expected)
    replaced = tuple(
        k for k in head_keys if k in state and k in expected and tuple(state[k].shape) != tuple(expected[k].shape)
    )
    load_into(module, state, source, fix, skip=replaced)
    if not replaced:
        return None
    weight = next((k for k in replaced if state[k].dim() >= 1), replaced[0])
    return int(state[weight].shape[0]), int(expected[weight].shape[0])


def head_note(source: str, classes: Optional[tuple[int, int]]) -> str:
    """What a model's notes say about where its weights came from ("backbone from F; head replaced: 1000 -> 10 classes")."""
    if classes is None:
        return f"weights from {source}"
    return f"backbone from {source}; head replaced: {classes[0]} -> {classes[1]} classes (newly initialised: train it)"


def demo_config_from_state_dict(state: dict[str, torch.Tensor]):
    """The :class:`DemoNetConfig` a demo-family state_dict was made with (width, depth, classes).

    Lets narrower or shallower students of the demo family load without a card.
    """
    from core.models.demo_net import DemoNetConfig

    state = strip_prefixes(state, ("conv1.weight",))
    try:
        conv = state["conv1.weight"]
        fc = state["fc.weight"]
        blocks = tuple(
            len({k.split(".")[1] for k in state if k.startswith(f"layer{i}.")}) for i in (1, 2, 3)
        )
    except KeyError:
        return None
    if min(blocks) == 0:
        return None
    return DemoNetConfig(num_classes=int(fc.shape[0]), width=int(conv.shape[0]), blocks=blocks, in_channels=int(conv.shape[1]))
