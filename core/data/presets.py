"""Preprocessing presets: how raw images become the model's input tensors."""

from __future__ import annotations

from typing import Optional

from core.data.bundle import Preprocessing
from core.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

PRESETS: dict[str, Preprocessing] = {
    "imagenet": Preprocessing("imagenet", resize=256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD),
    "as-is": Preprocessing("as-is", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    "cifar": Preprocessing("cifar", mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616)),
    "mnist": Preprocessing("mnist", mean=(0.1307,), std=(0.3081,), channel_order="L"),
    "fashionmnist": Preprocessing("fashionmnist", mean=(0.2860,), std=(0.3530,), channel_order="L"),
    "rgb32": Preprocessing("rgb32", resize=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
}
FOLDER_PRESETS = ("imagenet", "as-is")


def folder_preset(name: Optional[str], image_size: Optional[int]) -> Preprocessing:
    """The preset for an image folder, with ``image_size`` as the crop (ImageNet ratio for the resize)."""
    name = name or "imagenet"
    if name not in FOLDER_PRESETS:
        raise DataError(f"unknown preset {name!r} for an image folder", f"use one of: {', '.join(FOLDER_PRESETS)}")
    base = PRESETS[name]
    if image_size is None:
        return base
    from dataclasses import replace

    if name == "as-is":
        return replace(base, resize=image_size, crop=image_size)
    return replace(base, resize=round(image_size * 256 / 224), crop=image_size)
