"""The parts of a training run users choose: optimizer, schedule, augmentation, device placement.

Kept apart from the loop (``core.training``) so each choice is a small named
function that a test can check on its own. The defaults reproduce the loop
EdgeSlim always had (SGD + Nesterov, one-cycle, digit-style jitter); the other
choices are the ones fine-tuning recipes from ImageNet use (Adam/AdamW, a step
or cosine schedule, flips and random-resized crops on photos).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch.utils.data import Dataset

from core.errors import EdgeSlimError

OPTIMIZERS = ("sgd", "adamw", "adam")
SCHEDULES = ("onecycle", "cosine", "step")
AUGMENTATIONS = ("digits", "photo", "none")
AUTO = "auto"
PHOTO_MIN_SIDE = 64  # inputs at least this large on the short side are treated as photos


def make_optimizer(name: str, params: Any, lr: float, momentum: float, weight_decay: float) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum), AdamW (decoupled weight decay) or Adam (L2 in the gradient, as the case study used)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=momentum > 0)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise EdgeSlimError(f"unknown optimizer {name!r}", f"use one of: {', '.join(OPTIMIZERS)}")


def make_scheduler(name: str, opt: torch.optim.Optimizer, lr: float, epochs: int, steps_per_epoch: int,
                   step_size: int, gamma: float) -> tuple[Any, bool]:
    """The schedule and whether it steps per batch (True) or per epoch (False).

    one-cycle warms up over the first 15 % of the batches then anneals; cosine
    anneals per batch from ``lr`` to zero; step multiplies the rate by
    ``gamma`` every ``step_size`` epochs.
    """
    total = max(epochs * steps_per_epoch, 1)
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.15), True
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total), True
    if name == "step":
        if step_size < 1 or not 0 < gamma <= 1:
            raise EdgeSlimError(f"a step schedule needs step_size ≥ 1 and 0 < gamma ≤ 1 (got {step_size}, {gamma})",
                                "set e.g. step_size = 30 and gamma = 0.1")
        return torch.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma), False
    raise EdgeSlimError(f"unknown schedule {name!r}", f"use one of: {', '.join(SCHEDULES)}")


def choose_augmentation(choice: str, data: Any) -> str:
    """``choice``, or for ``auto`` what suits the data: digit-style jitter on small images, flips and crops on photos.

    Digits and the demo's small images must not be flipped (a mirrored 2 is
    not a 2); photos of 64 px and up are.
    """
    if choice != AUTO:
        if choice not in AUGMENTATIONS:
            raise EdgeSlimError(f"unknown augmentation {choice!r}", f"use one of: {AUTO}, {', '.join(AUGMENTATIONS)}")
        return choice
    shape = tuple(getattr(data, "input_shape", (3, 32, 32)))
    preprocessing = getattr(getattr(data, "preprocessing", None), "name", "")
    if preprocessing in ("demo", "mnist", "fashionmnist") or min(shape[1:]) < PHOTO_MIN_SIDE:
        return "digits"
    return "photo"


def augmenter(kind: str, shape: tuple[int, ...]) -> Any:
    """The tensor transform of one augmentation kind (None for ``none``)."""
    from torchvision.transforms import v2

    if kind == "digits":
        return v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))
    if kind == "photo":
        size = (int(shape[-2]), int(shape[-1]))
        return v2.Compose([v2.RandomResizedCrop(size, scale=(0.35, 1.0), antialias=True), v2.RandomHorizontalFlip()])
    if kind == "none":
        return None
    raise EdgeSlimError(f"unknown augmentation {kind!r}", f"use one of: {', '.join(AUGMENTATIONS)}")


class Augmented(Dataset):
    """Applies a random transform to each training sample (tensor in, tensor out)."""

    def __init__(self, base: Dataset, transform: Any) -> None:
        self.base = base
        self.transform = transform

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int):
        x, y = self.base[i]
        return self.transform(x), y


def loader_options(device: str) -> dict:
    """DataLoader settings for a device: background workers and pinned memory feed a GPU; the CPU loads in-process."""
    if not device.startswith("cuda"):
        return {"num_workers": 0}
    workers = max(1, min(4, (os.cpu_count() or 2) // 2))
    return {"num_workers": workers, "pin_memory": True, "persistent_workers": True}


def check_device_available(device: str) -> torch.device:
    """``device`` as a torch.device; CUDA that PyTorch cannot see is the user's to fix, not a crash mid-run."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EdgeSlimError(f"training was asked to run on {device}, but PyTorch sees no CUDA GPU",
                            "use the device auto or cpu")
    return torch.device(device)
