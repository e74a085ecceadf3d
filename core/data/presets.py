"""Preprocessing presets: how raw images become the model's input tensors.

Each dataset kind accepts a few presets; an unknown name and a known name that
does not fit the data get different messages, both listing what does fit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from core.data.bundle import Preprocessing
from core.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Mean/std of the demo digits after scaling to [0, 1] and upsampling to 32×32,
# computed once over all 1,797 images (the same value on each of the 3 channels).
DEMO_MEAN = 0.3053
DEMO_STD = 0.3236

PRESETS: dict[str, Preprocessing] = {
    "imagenet": Preprocessing("imagenet", resize=256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD),
    "as-is": Preprocessing("as-is", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    "cifar": Preprocessing("cifar", mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616)),
    "mnist": Preprocessing("mnist", mean=(0.1307,), std=(0.3081,), channel_order="L"),
    "fashionmnist": Preprocessing("fashionmnist", mean=(0.2860,), std=(0.3530,), channel_order="L"),
    "rgb32": Preprocessing("rgb32", resize=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    # Raw digits are 0..16, hence the scale; resize is the 8×8 -> 32×32 bilinear upsampling.
    "demo": Preprocessing("demo", resize=32, mean=(DEMO_MEAN,) * 3, std=(DEMO_STD,) * 3, scale=1.0 / 16.0),
}

# Presets each dataset kind accepts; the first is the default.
PRESETS_FOR: dict[str, tuple[str, ...]] = {
    "demo": ("demo",),
    "imagefolder": ("imagenet", "as-is"),
    "cifar10": ("cifar",),
    "mnist": ("mnist", "rgb32"),
    "fashionmnist": ("fashionmnist", "rgb32"),
}
FOLDER_PRESETS = PRESETS_FOR["imagefolder"]


def preset_name(kind: str, name: Optional[str]) -> str:
    """The preset to use for ``kind``: ``name`` checked, or the kind's default."""
    allowed = PRESETS_FOR[kind]
    if name is None:
        return allowed[0]
    if name not in PRESETS:
        raise DataError(
            f"unknown preset {name!r}",
            f"use one of the presets for {kind}: {', '.join(allowed)} (all presets: {', '.join(PRESETS)})",
        )
    if name not in allowed:
        raise DataError(f"preset {name!r} does not apply to {kind}", f"use one of: {', '.join(allowed)}, or leave the preset out")
    return name


def folder_preset(name: Optional[str], image_size: Optional[int]) -> Preprocessing:
    """The preset for an image folder, with ``image_size`` as the crop (ImageNet ratio for the resize)."""
    name = preset_name("imagefolder", name)
    base = PRESETS[name]
    if image_size is None:
        return base
    if image_size < 1:
        raise DataError(f"image size {image_size} is not a positive number of pixels", "give a size such as 224 or 32")
    if name == "as-is":
        return replace(base, resize=image_size, crop=image_size)
    return replace(base, resize=round(image_size * 256 / 224), crop=image_size)


def no_image_size(kind: str, image_size: Optional[int]) -> None:
    """Reject ``image_size`` for datasets with a fixed size rather than ignore it silently."""
    if image_size is not None:
        raise DataError(
            f"image size applies only to image folders; {kind} has a fixed size",
            "leave the image size out" + (" (or use preset rgb32 for 3×32×32)" if kind in ("mnist", "fashionmnist") else ""),
        )


def describe(p: Preprocessing) -> str:
    """One line a user reads to tell presets apart: resize, crop, normalisation, channels."""
    steps = [f"resize {p.resize}" if p.resize else None, f"centre-crop {p.crop}" if p.crop else None,
             f"mean {tuple(round(m, 3) for m in p.mean)}", f"std {tuple(round(v, 3) for v in p.std)}",
             "greyscale" if p.channel_order == "L" else None]
    return f"{p.name}: " + ", ".join(x for x in steps if x)


def choices_for(spec: str) -> list[tuple[str, str]]:
    """(preset, description) for each preset the dataset ``spec`` accepts, its default first."""
    from core.data.spec import parse_spec

    return [(name, describe(PRESETS[name])) for name in PRESETS_FOR[parse_spec(spec).kind]]
