"""Local torchvision datasets: found on disk or a message saying where to put them."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from core.data import load_dataset
from core.errors import DataError


def write_idx(path: Path, array: np.ndarray) -> None:
    code = 0x08  # unsigned byte
    header = struct.pack(">HBB", 0, code, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def fake_mnist(root: Path, folder: str = "MNIST", n_train: int = 60, n_test: int = 20) -> Path:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    write_idx(raw / "train-images-idx3-ubyte", rng.integers(0, 255, (n_train, 28, 28)))
    write_idx(raw / "train-labels-idx1-ubyte", np.arange(n_train) % 10)
    write_idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 255, (n_test, 28, 28)))
    write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(n_test) % 10)
    return root


def test_mnist_from_disk_native_and_rgb32(tmp_path):
    root = fake_mnist(tmp_path)
    data = load_dataset(f"mnist:{root}")
    assert data.input_shape == (1, 28, 28) and tuple(data.val[0][0].shape) == (1, 28, 28)
    assert len(data.val) == 20 and len(data.train) + len(data.calib) == 60
    assert data.class_names[0].startswith("0")
    rgb = load_dataset(f"mnist:{root}", preset="rgb32")
    assert rgb.input_shape == (3, 32, 32) and tuple(rgb.train[0][0].shape) == (3, 32, 32)


def test_fashionmnist_from_disk(tmp_path):
    data = load_dataset(f"fashionmnist:{fake_mnist(tmp_path, 'FashionMNIST')}")
    assert "Sneaker" in data.class_names


@pytest.mark.parametrize("kind, needle", [("cifar10", "cifar-10-batches-py"), ("mnist", "MNIST/raw"), ("fashionmnist", "FashionMNIST/raw")])
def test_missing_files_say_where_they_go(tmp_path, kind, needle):
    with pytest.raises(DataError) as info:
        load_dataset(f"{kind}:{tmp_path}")
    message = str(info.value)
    assert needle in message and "does not download" in message


def test_preset_that_does_not_apply(tmp_path):
    with pytest.raises(DataError, match="does not apply"):
        load_dataset(f"cifar10:{tmp_path}", preset="rgb32")
