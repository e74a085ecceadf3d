"""Image folders: one sub-folder per class, or train/ and val/ folders of that shape.

Real folders have problems — an empty class, a corrupt JPEG, a stray README,
images of mixed sizes. :func:`check_image_folder` lists them in words a user can
act on; :func:`load_image_folder` skips what it cannot use, keeps the problems
in ``bundle.notes``, and fails only when nothing usable is left.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from torch.utils.data import Dataset

from core.data.bundle import DatasetBundle, Preprocessing
from core.data.demo import stratified_split
from core.data.presets import folder_preset
from core.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
SPLIT_DIRS = ("train", "val", "calib")
VAL_FRACTION = 0.2
CALIB_FRACTION = 0.1
LAYOUT_FIX = "put images in one sub-folder per class, e.g. PATH/cat/1.jpg and PATH/dog/2.jpg (or PATH/train/cat/… and PATH/val/cat/…)"


@dataclass
class FolderReport:
    """What a folder holds and what is wrong with it."""

    path: Path
    layout: str  # "classes" | "train/val" | "none"
    class_names: list[str] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)  # readable images per class (all splits)
    split_files: dict[str, list[tuple[Path, int]]] = field(default_factory=dict)  # usable (file, class index)
    image_sizes: Counter = field(default_factory=Counter)  # (width, height) -> count
    n_images: int = 0
    n_unreadable: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return len([c for c, n in self.class_counts.items() if n > 0]) >= 2

    def to_dict(self) -> dict:
        return {
            "path": str(self.path), "layout": self.layout, "class_counts": self.class_counts,
            "n_images": self.n_images, "n_unreadable": self.n_unreadable,
            "image_sizes": {f"{w}x{h}": n for (w, h), n in self.image_sizes.most_common(10)},
            "problems": self.problems,
        }


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scan_class(folder: Path, report: FolderReport) -> list[Path]:
    """Readable images in one class folder; the rest becomes problems."""
    from PIL import Image, UnidentifiedImageError

    good: list[Path] = []
    others: list[str] = []
    for f in sorted(folder.rglob("*")):
        if not f.is_file() or f.name.startswith("."):
            continue
        if f.suffix.lower() not in IMAGE_SUFFIXES:
            others.append(f.name)
            continue
        try:
            with Image.open(f) as im:
                im.verify()
            with Image.open(f) as im:
                size = im.size
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            report.n_unreadable += 1
            report.problems.append(f"unreadable image (corrupt or not an image): {f.relative_to(report.path)} — delete or replace it")
            continue
        report.image_sizes[size] += 1
        good.append(f)
    if others:
        shown = ", ".join(others[:3]) + ("…" if len(others) > 3 else "")
        report.problems.append(f"{len(others)} non-image file(s) ignored in {folder.relative_to(report.path)}: {shown}")
    return good


def check_image_folder(path: Path) -> FolderReport:
    """Scan ``path`` and list what is in it and what is wrong, without raising for content problems."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"no such folder: {path}", "check the path, or use 'demo' for the built-in data")
    if not path.is_dir():
        raise DataError(f"{path} is a file, not a folder", LAYOUT_FIX)
    report = FolderReport(path=path, layout="none")
    subdirs = _class_dirs(path)
    names = {d.name.lower() for d in subdirs}
    if {"train", "val"} <= names:
        report.layout = "train/val"
        split_roots = {s: path / next(d.name for d in subdirs if d.name.lower() == s) for s in SPLIT_DIRS if s in names}
        classes = sorted({d.name for d in _class_dirs(split_roots["train"])})
        report.class_names = classes
        for split, root in split_roots.items():
            present = {d.name for d in _class_dirs(root)}
            for missing in sorted(set(classes) - present):
                if split == "val":
                    report.problems.append(f"class {missing!r} has no folder in val/ — its accuracy cannot be measured")
            files = []
            for i, cls in enumerate(classes):
                if cls in present:
                    imgs = _scan_class(root / cls, report)
                    files += [(f, i) for f in imgs]
                    report.class_counts[cls] = report.class_counts.get(cls, 0) + len(imgs)
            report.split_files[split] = files
        for extra in sorted({d.name for d in _class_dirs(split_roots["val"])} - set(classes)):
            report.problems.append(f"val/{extra} is not a class in train/ — it is ignored")
    elif subdirs:
        report.layout = "classes"
        report.class_names = [d.name for d in subdirs]
        files = []
        for i, d in enumerate(subdirs):
            imgs = _scan_class(d, report)
            files += [(f, i) for f in imgs]
            report.class_counts[d.name] = len(imgs)
        report.split_files["all"] = files
    loose = [f.name for f in path.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        report.problems.append(f"{len(loose)} image(s) directly in {path.name}/ are not in a class folder and are ignored")
    for cls in report.class_names:
        if report.class_counts.get(cls, 0) == 0:
            report.problems.append(f"class {cls!r} has no readable images — add images or remove the folder")
    report.n_images = sum(report.class_counts.values())
    if len(report.image_sizes) > 1:
        (w, h), n = report.image_sizes.most_common(1)[0]
        report.problems.append(
            f"images have {len(report.image_sizes)} different sizes (most common {w}×{h}, {n} images): "
            "they are resized by the preprocessing preset"
        )
    return report


class ImageFileDataset(Dataset):
    """(path, label) pairs decoded with PIL and transformed to a normalised tensor."""

    def __init__(self, samples: list[tuple[Path, int]], preprocessing: Preprocessing, size: tuple[int, int]) -> None:
        from torchvision.transforms import v2
        import torch

        self.samples = samples
        steps: list = []
        if preprocessing.resize:
            steps.append(v2.Resize(preprocessing.resize, antialias=True))
        else:
            steps.append(v2.Resize(size, antialias=True))  # as-is: the folder's common size
        if preprocessing.crop:
            steps.append(v2.CenterCrop(preprocessing.crop))
        steps += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(preprocessing.mean, preprocessing.std)]
        self.transform = v2.Compose(steps)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        from PIL import Image

        path, label = self.samples[i]
        with Image.open(path) as im:
            return self.transform(im.convert("RGB")), label


def load_image_folder(
    spec: str, path: Path, preset: Optional[str], image_size: Optional[int], seed: int = 0
) -> DatasetBundle:
    pre = folder_preset(preset, image_size)
    report = check_image_folder(path)
    if report.layout == "none":
        raise DataError(f"{path} has no class sub-folders" + (" (it is empty)" if not any(path.iterdir()) else ""), LAYOUT_FIX)
    if report.n_images == 0:
        raise DataError(f"{path} holds no readable images", LAYOUT_FIX)
    if not report.usable:
        raise DataError(f"{path} has images for fewer than 2 classes", "a classifier needs at least two classes: " + LAYOUT_FIX)
    if report.layout == "classes":
        files = report.split_files["all"]
        labels = np.array([c for _, c in files])
        val, calib, train = stratified_split(labels, (VAL_FRACTION, CALIB_FRACTION), seed)
        parts = {"train": [files[i] for i in train], "val": [files[i] for i in val], "calib": [files[i] for i in calib]}
    else:
        parts = dict(report.split_files)
        if "calib" not in parts or not parts["calib"]:
            rng = np.random.default_rng(seed)
            train = parts["train"]
            pick = set(rng.permutation(len(train))[: max(1, int(len(train) * CALIB_FRACTION))].tolist())
            parts["calib"] = [s for i, s in enumerate(train) if i in pick]
            parts["train"] = [s for i, s in enumerate(train) if i not in pick]
    if not parts["val"]:
        raise DataError(f"{path}: no images left for validation", "add more images per class (at least 5 each)")
    (w, h), _ = report.image_sizes.most_common(1)[0]
    if pre.crop:
        shape = (3, pre.crop, pre.crop)
    elif pre.resize:
        shape = (3, pre.resize, pre.resize)
    else:
        shape = (3, h, w)
    datasets = {s: ImageFileDataset(parts[s], pre, (h, w)) for s in ("train", "val", "calib")}
    return DatasetBundle(
        spec=spec, name=path.name, class_names=report.class_names, input_shape=shape,
        train=datasets["train"], val=datasets["val"], calib=datasets["calib"], preprocessing=pre,
        notes=list(report.problems),
    )
