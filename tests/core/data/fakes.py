"""Tiny on-disk datasets in the real formats: image folders, MNIST idx files, CIFAR-10 pickles."""

from __future__ import annotations

import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]


def make_folder(root: Path, classes=("cat", "dog"), n=10, size=(40, 30)) -> Path:
    """root/CLASS/i.png, one solid colour per class (so a label can be read back from the pixels)."""
    for c, cls in enumerate(classes):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", size, COLOURS[c % len(COLOURS)]).save(root / cls / f"{i}.png")
    return root


def write_truncated_jpeg(path: Path) -> None:
    """A JPEG whose header is fine but whose data stops halfway (passes a header-only check)."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path, format="JPEG", quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def fake_mnist(root: Path, folder: str = "MNIST", n_train: int = 60, n_test: int = 20) -> Path:
    """root/<folder>/raw/*-ubyte as torchvision's MNIST reads them; image i is filled with value i."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    fill = lambda n: np.repeat(np.arange(n, dtype=np.uint8)[:, None, None], 28 * 28, axis=1).reshape(n, 28, 28)
    write_idx(raw / "train-images-idx3-ubyte", fill(n_train))
    write_idx(raw / "train-labels-idx1-ubyte", np.arange(n_train) % 10)
    write_idx(raw / "t10k-images-idx3-ubyte", fill(n_test))
    write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(n_test) % 10)
    return root


CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def fake_cifar10(root: Path, per_batch: int = 12, n_test: int = 10) -> Path:
    """root/cifar-10-batches-py/ in CIFAR's python format: pickled dicts of uint8 N×3072 rows and labels.

    The real files are Python 2 pickles that torchvision reads with
    ``encoding="latin1"``, which turns their keys into ``str``; a Python 3 pickle
    with ``str`` keys reads back the same way (``bytes`` keys would not).
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def batch(name: str, n: int) -> None:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        (folder / name).write_bytes(pickle.dumps({"data": data, "labels": [i % 10 for i in range(n)]}))

    for i in range(1, 6):
        batch(f"data_batch_{i}", per_batch)
    batch("test_batch", n_test)
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": CIFAR_NAMES}))
    return root


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def cifar10_trusting(root: Path) -> type:
    """torchvision's CIFAR10 with the checksums of the fake files in place of the real ones.

    Its integrity check still runs — against these files — so the loader's real
    path is exercised unchanged.
    """
    from torchvision.datasets import CIFAR10

    folder = root / "cifar-10-batches-py"

    class FakeCIFAR10(CIFAR10):
        train_list = [[f"data_batch_{i}", md5(folder / f"data_batch_{i}")] for i in range(1, 6)]
        test_list = [["test_batch", md5(folder / "test_batch")]]
        meta = {**CIFAR10.meta, "md5": md5(folder / "batches.meta")}

    return FakeCIFAR10
