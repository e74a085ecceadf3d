"""CIFAR-10, MNIST and Fashion-MNIST from files already on disk (never downloaded).

The official test set is the validation split; a seeded calibration subset is
taken out of the official training set so calibration never sees validation
images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from torch.utils.data import Dataset, Subset

from core.data.bundle import DatasetBundle, Preprocessing
from core.data.presets import PRESETS
from core.errors import DataError

CALIB_SIZE = 500
KINDS = {
    "cifar10": ("CIFAR10", "cifar", ("cifar",), "PATH/cifar-10-batches-py/data_batch_1 … test_batch (the 'python version' archive, extracted)"),
    "mnist": ("MNIST", "mnist", ("mnist", "rgb32"), "PATH/MNIST/raw/train-images-idx3-ubyte … t10k-labels-idx1-ubyte"),
    "fashionmnist": ("FashionMNIST", "fashionmnist", ("fashionmnist", "rgb32"), "PATH/FashionMNIST/raw/train-images-idx3-ubyte … t10k-labels-idx1-ubyte"),
}


def _transform(pre: Preprocessing, channels: int):
    import torch
    from torchvision.transforms import v2

    steps: list = [v2.ToImage()]
    if pre.resize:
        steps.append(v2.Resize(pre.resize, antialias=True))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if channels == 3 and len(pre.mean) == 3 and pre.name == "rgb32":
        steps.append(v2.RGB())
    steps.append(v2.Normalize(pre.mean, pre.std))
    return v2.Compose(steps)


def load_torchvision_local(kind: str, path: Path, preset: Optional[str], seed: int = 0, spec: str = "") -> DatasetBundle:
    import torchvision.datasets as tvd

    cls_name, default_preset, presets, layout = KINDS[kind]
    path = Path(path).expanduser()
    preset = preset or default_preset
    if preset not in presets:
        raise DataError(f"preset {preset!r} does not apply to {kind}", f"use one of: {', '.join(presets)}")
    if not path.is_dir():
        raise DataError(f"no such folder: {path}", f"give the folder that holds the {kind} files: {layout}")
    pre = PRESETS[preset]
    channels = 1 if pre.channel_order == "L" else 3
    if kind == "cifar10":
        size = 32
    else:
        size = pre.resize or 28
    transform = _transform(pre, channels)
    klass = getattr(tvd, cls_name)
    try:
        train_full = klass(str(path), train=True, download=False, transform=transform)
        val = klass(str(path), train=False, download=False, transform=transform)
    except RuntimeError as exc:
        raise DataError(
            f"the {kind} files are not in {path} ({str(exc).splitlines()[0]})",
            f"EdgeSlim does not download datasets: copy the files so that they are at {layout}",
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
