"""CIFAR-10, MNIST and Fashion-MNIST from files already on disk (never downloaded).

The official test set is the validation split; a seeded calibration subset is
taken out of the official training set so calibration never sees validation
images. Before torchvision opens anything, the expected files are looked for,
so a user is told exactly which file is missing and where it must go.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from torch.utils.data import Dataset, Subset

from core.data.bundle import DatasetBundle, Preprocessing
from core.data.presets import PRESETS, no_image_size, preset_name
from core.errors import DataError

CALIB_SIZE = 500
NO_DOWNLOAD = "EdgeSlim does not download datasets"


@dataclass(frozen=True)
class LocalKind:
    """One torchvision dataset read from disk: its class, files and native size."""

    torchvision_class: str
    files: tuple[str, ...]  # relative to PATH; all must exist
    size: int  # native height = width

    @property
    def layout(self) -> str:
        return f"PATH/{self.files[0]} … PATH/{self.files[-1]}"


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
KINDS: dict[str, LocalKind] = {
    "cifar10": LocalKind(
        "CIFAR10",
        tuple(f"cifar-10-batches-py/{f}" for f in (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")),
        32,
    ),
    "mnist": LocalKind("MNIST", tuple(f"MNIST/raw/{f}" for f in _MNIST_FILES), 28),
    "fashionmnist": LocalKind("FashionMNIST", tuple(f"FashionMNIST/raw/{f}" for f in _MNIST_FILES), 28),
}


def dataset_class(kind: str) -> type:
    """The torchvision dataset class for ``kind`` (a seam: tests swap in one that trusts their fake files)."""
    import torchvision.datasets as tvd

    return getattr(tvd, KINDS[kind].torchvision_class)


def _transform(pre: Preprocessing):
    import torch
    from torchvision.transforms import v2

    steps: list = [v2.ToImage()]
    if pre.resize:
        steps.append(v2.Resize(pre.resize, antialias=True))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if pre.channel_order == "RGB":
        steps.append(v2.RGB())  # grey MNIST -> 3 equal channels (no-op for CIFAR)
    steps.append(v2.Normalize(pre.mean, pre.std))
    return v2.Compose(steps)


def _check_files(kind: str, path: Path) -> None:
    info = KINDS[kind]
    fix = f"{NO_DOWNLOAD}: copy the files so that they are at {info.layout}"
    if not path.is_dir():
        raise DataError(f"no such folder: {path}", f"give the folder that holds the {kind} files; {fix}")
    missing = [f for f in info.files if not (path / f).is_file()]
    if not missing:
        return
    packed = [f for f in missing if (path / f"{f}.gz").is_file()]
    if packed:
        raise DataError(
            f"the {kind} files in {path} are still gzipped ({packed[0]}.gz)",
            f"unpack them next to the .gz files (gunzip {path / Path(packed[0]).parent}/*.gz); {NO_DOWNLOAD}",
        )
    shown = ", ".join(missing[:3]) + ("…" if len(missing) > 3 else "")
    raise DataError(f"the {kind} files are not in {path} (missing: {shown})", fix)


def load_torchvision_local(
    kind: str, path: Path, preset: Optional[str] = None, seed: int = 0, spec: str = "", image_size: Optional[int] = None
) -> DatasetBundle:
    """A bundle from CIFAR-10 / MNIST / Fashion-MNIST files under ``path`` (download=False, always)."""
    no_image_size(kind, image_size)
    pre = PRESETS[preset_name(kind, preset)]
    path = Path(path).expanduser()
    _check_files(kind, path)
    channels = 1 if pre.channel_order == "L" else 3
    size = pre.resize or KINDS[kind].size
    transform = _transform(pre)
    klass = dataset_class(kind)
    try:
        train_full = klass(str(path), train=True, download=False, transform=transform)
        val = klass(str(path), train=False, download=False, transform=transform)
    except (RuntimeError, OSError, ValueError, EOFError, KeyError) as exc:
        # torchvision's own text suggests download=True, which EdgeSlim never does: say what it means instead.
        why = "they fail torchvision's checksum check" if "download=True" in str(exc) else f"{type(exc).__name__}: {exc}"
        raise DataError(
            f"the {kind} files in {path} are there but cannot be read ({why}); they are corrupt, truncated "
            "or from another release",
            f"copy the original files again; {NO_DOWNLOAD}",
        ) from exc
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(train_full))
    n_calib = min(CALIB_SIZE, len(train_full) // 10 or 1)
    calib = Subset(train_full, np.sort(perm[:n_calib]).tolist())
    train: Dataset = Subset(train_full, np.sort(perm[n_calib:]).tolist())
    return DatasetBundle(
        spec=spec or f"{kind}:{path}",
        name=kind,
        class_names=[str(c) for c in train_full.classes],
        input_shape=(channels, size, size),
        train=train,
        val=val,
        calib=calib,
        preprocessing=pre,
    )
