"""Datasets: the demo digits, image folders, local torchvision datasets.

``load_dataset(spec)`` turns what the user typed into a :class:`DatasetBundle`
with train / validation / calibration splits and the class names. Loaders are
imported lazily so that parsing a spec stays cheap.
"""

from __future__ import annotations

from typing import Optional

from core.data.bundle import SPLITS, DatasetBundle, Preprocessing
from core.data.folder_check import FolderReport, check_image_folder
from core.data.presets import PRESETS, PRESETS_FOR
from core.data.spec import SPEC_FORMS, DataSpec, parse_spec
from core.errors import DataError

__all__ = [
    "DatasetBundle", "Preprocessing", "SPLITS", "FolderReport", "check_image_folder", "load_dataset",
    "parse_spec", "DataSpec", "SPEC_FORMS", "PRESETS", "PRESETS_FOR",
]


def load_dataset(
    spec: str, *, preset: Optional[str] = None, image_size: Optional[int] = None, seed: int = 0
) -> DatasetBundle:
    """Load the dataset named by ``spec`` (see ``SPEC_FORMS``); every user mistake is a DataError."""
    return _load(spec, preset, image_size, seed)  # how it was asked for is the caller's DataSource, not the bundle's


def _load(spec: str, preset: Optional[str], image_size: Optional[int], seed: int) -> DatasetBundle:
    parsed = parse_spec(spec)
    if parsed.kind == "demo":
        from core.data.demo import load_demo
        from core.data.presets import no_image_size, preset_name

        preset_name("demo", preset)
        no_image_size("demo", image_size)
        return load_demo(seed)
    assert parsed.path is not None
    if parsed.kind == "imagefolder":
        from core.data.image_folder import load_image_folder

        return load_image_folder(parsed.text, parsed.path, preset, image_size, seed)
    from core.data.torchvision_local import load_torchvision_local

    return load_torchvision_local(parsed.kind, parsed.path, preset, seed, parsed.text, image_size)
