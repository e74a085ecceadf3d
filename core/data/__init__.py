"""Datasets: the demo digits, image folders, local torchvision datasets.

``load_dataset(spec)`` turns what the user typed into a :class:`DatasetBundle`
with train / validation / calibration splits and the class names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from core.data.bundle import SPLITS, DatasetBundle, Preprocessing
from core.data.image_folder import FolderReport, check_image_folder
from core.errors import DataError

SPEC_FORMS = "demo, a folder path, imagefolder:PATH, cifar10:PATH, mnist:PATH, fashionmnist:PATH"

__all__ = ["DatasetBundle", "Preprocessing", "SPLITS", "FolderReport", "check_image_folder", "load_dataset"]


def load_dataset(
    spec: str, *, preset: Optional[str] = None, image_size: Optional[int] = None, seed: int = 0
) -> DatasetBundle:
    """Load the dataset named by ``spec`` (see ``SPEC_FORMS``)."""
    spec = (spec or "").strip()
    if not spec:
        raise DataError("no dataset given", f"pass one of: {SPEC_FORMS}")
    if spec == "demo":
        if preset not in (None, "demo"):
            raise DataError(f"preset {preset!r} does not apply to the demo data", "leave --preset out for demo")
        from core.data.demo import load_demo

        return load_demo(seed)
    prefix, sep, rest = spec.partition(":")
    if sep and len(prefix) > 1:  # "C:\\…" on Windows is a path, not a prefix
        kind = prefix.lower()
        if kind == "imagefolder":
            from core.data.image_folder import load_image_folder

            return load_image_folder(spec, Path(rest).expanduser(), preset, image_size, seed)
        from core.data.torchvision_local import KINDS, load_torchvision_local

        if kind in KINDS:
            return load_torchvision_local(kind, Path(rest), preset, seed, spec)
        if not Path(spec).exists():
            raise DataError(f"unknown dataset kind {prefix!r} in {spec!r}", f"use one of: {SPEC_FORMS}")
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"no such dataset folder: {path}", f"check the path, or use one of: {SPEC_FORMS}")
    from core.data.image_folder import load_image_folder

    return load_image_folder(spec, path, preset, image_size, seed)
