"""Local torchvision datasets: found on disk, or a message saying exactly where the files go."""

from __future__ import annotations

import gzip

import pytest
import torch

from core.data import load_dataset, torchvision_local
from core.errors import DataError
from tests.core.data.fakes import CIFAR_NAMES, cifar10_trusting, fake_cifar10, fake_mnist


def split_indices(data) -> tuple[set, set]:
    return set(data.train.indices), set(data.calib.indices)


def test_mnist_from_disk_native(tmp_path):
    root = fake_mnist(tmp_path)
    data = load_dataset(f"mnist:{root}")
    assert data.input_shape == (1, 28, 28) and data.preprocessing.name == "mnist"
    x, y = data.val[3]
    assert tuple(x.shape) == (1, 28, 28) and x.dtype == torch.float32 and y == 3
    assert torch.allclose(x, torch.full_like(x, (3 / 255 - 0.1307) / 0.3081))  # image 3 is filled with 3
    assert len(data.val) == 20 and len(data.calib) == 6 and len(data.train) == 54
    train, calib = split_indices(data)
    assert not train & calib and train | calib == set(range(60))
    assert data.class_names[:2] == ["0 - zero", "1 - one"]


def test_mnist_rgb32_for_three_channel_models(tmp_path):
    rgb = load_dataset(f"mnist:{fake_mnist(tmp_path)}", preset="rgb32")
    assert rgb.input_shape == (3, 32, 32)
    x, _ = rgb.train[0]
    assert tuple(x.shape) == (3, 32, 32) and torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
    image, label = rgb.preview("val", 1)[0]
    assert image.shape == (32, 32, 3) and label in rgb.class_names


def test_fashionmnist_from_disk(tmp_path):
    data = load_dataset(f"fashionmnist:{fake_mnist(tmp_path, 'FashionMNIST')}")
    assert data.class_names[7] == "Sneaker" and data.preprocessing.mean == (0.2860,)


def test_calibration_is_seeded(tmp_path):
    root = fake_mnist(tmp_path)
    a, b, c = (load_dataset(f"mnist:{root}", seed=s) for s in (0, 0, 1))
    assert a.calib.indices == b.calib.indices and a.calib.indices != c.calib.indices


def test_cifar10_from_disk(tmp_path, monkeypatch):
    root = fake_cifar10(tmp_path)
    monkeypatch.setattr(torchvision_local, "dataset_class", lambda kind: cifar10_trusting(root))
    data = load_dataset(f"cifar10:{root}")
    assert data.class_names == CIFAR_NAMES
    assert data.input_shape == (3, 32, 32) and data.preprocessing.name == "cifar"
    assert len(data.val) == 10 and len(data.train) + len(data.calib) == 60 and len(data.calib) == 6
    train, calib = split_indices(data)
    assert not train & calib
    x, y = data.train[0]
    assert tuple(x.shape) == (3, 32, 32) and x.dtype == torch.float32 and 0 <= y < 10
    assert -2.1 < float(x.min()) and float(x.max()) < 2.2  # normalised with the CIFAR mean/std


def test_cifar10_files_that_fail_the_checksum(tmp_path):
    root = fake_cifar10(tmp_path)  # right names, wrong contents for the real torchvision class
    with pytest.raises(DataError) as info:
        load_dataset(f"cifar10:{root}")
    message = str(info.value)
    assert "are there but cannot be read" in message and "checksum" in message
    assert "download=True" not in message and "does not download" in message


@pytest.mark.parametrize(
    "kind, needle",
    [
        ("cifar10", "cifar-10-batches-py/data_batch_1"),
        ("mnist", "MNIST/raw/train-images-idx3-ubyte"),
        ("fashionmnist", "FashionMNIST/raw/train-images-idx3-ubyte"),
    ],
)
def test_missing_files_say_where_they_go(tmp_path, kind, needle):
    with pytest.raises(DataError) as info:
        load_dataset(f"{kind}:{tmp_path}")
    assert needle in info.value.problem  # what is missing
    assert f"PATH/{needle}" in info.value.fix and "does not download" in info.value.fix  # where it goes


def test_one_missing_file_is_named(tmp_path):
    root = fake_mnist(tmp_path)
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"missing: MNIST/raw/t10k-labels-idx1-ubyte\)"):
        load_dataset(f"mnist:{root}")


def test_gzipped_mnist_says_unpack(tmp_path):
    raw = fake_mnist(tmp_path) / "MNIST" / "raw"
    for f in list(raw.iterdir()):
        (raw / f"{f.name}.gz").write_bytes(gzip.compress(f.read_bytes()))
        f.unlink()
    with pytest.raises(DataError, match="still gzipped") as info:
        load_dataset(f"mnist:{tmp_path}")
    assert "gunzip" in info.value.fix


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        load_dataset(f"mnist:{tmp_path / 'nope'}")


@pytest.mark.parametrize(
    "spec, kwargs, needle",
    [
        ("cifar10", {"preset": "rgb32"}, "'rgb32' does not apply to cifar10"),
        ("mnist", {"preset": "bogus"}, "unknown preset 'bogus'"),
        ("mnist", {"image_size": 64}, "only to image folders"),
    ],
)
def test_options_that_do_not_fit(tmp_path, spec, kwargs, needle):
    with pytest.raises(DataError, match=needle):
        load_dataset(f"{spec}:{tmp_path}", **kwargs)
