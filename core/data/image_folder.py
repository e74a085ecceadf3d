"""Image folders as datasets: one sub-folder per class, or train/ and val/ folders of that shape.

:func:`check_image_folder` (in ``folder_check``) lists what is wrong;
:func:`load_image_folder` skips what it cannot use, keeps the problems in
``bundle.notes``, and fails only when nothing usable is left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from torch.utils.data import Dataset

from core.controls import ask
from core.data.bundle import DatasetBundle, Preprocessing
from core.data.folder_check import IMAGE_SUFFIXES, LAYOUT_FIX, FolderReport, check_image_folder
from core.data.presets import folder_preset
from core.data.split import hold_out, stratified_split
from core.errors import DataError

__all__ = ["FolderReport", "check_image_folder", "load_image_folder", "ImageFileDataset", "IMAGE_SUFFIXES"]

VAL_FRACTION = 0.2
CALIB_FRACTION = 0.1

Samples = list[tuple[Path, int]]


class ImageFileDataset(Dataset):
    """(path, label) pairs decoded with PIL, converted to RGB and transformed to a normalised tensor."""

    def __init__(self, samples: Samples, preprocessing: Preprocessing) -> None:
        import torch
        from torchvision.transforms import v2

        self.samples = samples
        steps: list = [v2.ToImage()]
        if preprocessing.resize:
            steps.append(v2.Resize(preprocessing.resize, antialias=True))  # shorter side
        if preprocessing.crop:
            steps.append(v2.CenterCrop(preprocessing.crop))
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(preprocessing.mean, preprocessing.std)]
        self.transform = v2.Compose(steps)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        from core.data.decode import UNREADABLE, read_rgb

        path, label = self.samples[i]
        try:
            rgb = read_rgb(path)  # 16-bit and float images scaled by their range, not clipped
        except UNREADABLE as exc:  # changed on disk since the folder was checked
            raise DataError(f"cannot read image {path} ({exc})", "replace or delete the file and load the folder again") from exc
        return self.transform(rgb), label


def _take_calib(samples: Samples, seed: int) -> tuple[Samples, Samples]:
    """(calibration, training): a stratified ~10 % of ``samples`` (at least one image) for calibration."""
    labels = np.array([c for _, c in samples], dtype=np.int64)
    calib, train = hold_out(labels, CALIB_FRACTION, seed)
    return [samples[i] for i in calib], [samples[i] for i in train]


def _split(report: FolderReport, seed: int) -> dict[str, Samples]:
    if report.layout == "classes":
        files = report.split_files["all"]
        labels = np.array([c for _, c in files], dtype=np.int64)
        val, calib, train = stratified_split(labels, (VAL_FRACTION, CALIB_FRACTION), seed, min_first=1)
        parts = {"train": [files[i] for i in train], "val": [files[i] for i in val], "calib": [files[i] for i in calib]}
        if not parts["calib"] and len(parts["train"]) > 1:
            parts["calib"], parts["train"] = _take_calib(parts["train"], seed)
        return parts
    parts = {s: list(v) for s, v in report.split_files.items()}
    if not parts.get("calib"):
        parts["calib"], parts["train"] = _take_calib(parts["train"], seed)
    return parts


def _input_shape(pre: Preprocessing, report: FolderReport) -> tuple[int, int, int]:
    if pre.crop:
        return (3, pre.crop, pre.crop)
    if report.mixed_sizes:
        raise DataError(
            f"the images in {report.path} come in {len(report.image_sizes)} sizes ({report.sizes_summary()}) "
            "and the as-is preset keeps each image's size, so they cannot be batched",
            f"give an image size (e.g. {ask('image_size', action=False)} 64) to resize and centre-crop them, use the imagenet preset, "
            "or make all images the same size",
        )
    (w, h), _ = report.image_sizes.most_common(1)[0]
    return (3, h, w)


def load_image_folder(
    spec: str, path: Path, preset: Optional[str] = None, image_size: Optional[int] = None, seed: int = 0
) -> DatasetBundle:
    """A bundle from an image folder; DataError only when nothing usable is left."""
    pre = folder_preset(preset, image_size)
    report = check_image_folder(path)
    if report.layout == "none":
        raise DataError("; ".join(report.problems) or f"{path} has no class sub-folders", LAYOUT_FIX)
    if report.n_images == 0:
        raise DataError(f"{path} holds no readable images", LAYOUT_FIX)
    if not report.usable:
        raise DataError(f"{path} has images for fewer than 2 classes", "a classifier needs at least two classes: " + LAYOUT_FIX)
    parts = _split(report, seed)
    if not parts["val"]:
        raise DataError(f"{path}: no images left for validation", "add more images per class (at least 5 each)")
    shape = _input_shape(pre, report)
    datasets = {s: ImageFileDataset(parts[s], pre) for s in ("train", "val", "calib")}
    return DatasetBundle(
        spec=spec, name=path.name, class_names=list(report.class_names), input_shape=shape,
        train=datasets["train"], val=datasets["val"], calib=datasets["calib"], preprocessing=pre,
        notes=[*report.problems, *report.notes],
    )
