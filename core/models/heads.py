"""The classifier head of a model zoo's architecture, found without a table of head names.

Shared by the torchvision and timm zoos: build the architecture twice on the
meta device (no memory, no init cost) with two class counts and compare the
state_dict shapes; the keys that differ are the head.
"""

from __future__ import annotations

from typing import Callable

import torch


def head_keys_of(build: Callable[..., torch.nn.Module], name: str) -> tuple[str, ...]:
    """state_dict keys of ``build(name, …)`` whose shape depends on ``num_classes``."""
    a = build(name, 1000, device="meta").state_dict()
    b = build(name, 7, device="meta").state_dict()
    return tuple(k for k in a if k in b and a[k].shape != b[k].shape)


def classes_in(head_keys: tuple[str, ...], state: dict) -> int | None:
    """The class count a state_dict was trained with, read off its head weights (None when it has no head)."""
    for key in head_keys:
        tensor = state.get(key)
        if isinstance(tensor, torch.Tensor) and tensor.dim() >= 1:
            return int(tensor.shape[0])
    return None
