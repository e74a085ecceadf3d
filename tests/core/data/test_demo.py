"""The demo dataset: real digits, a fixed disjoint split, the shape the demo model takes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data import load_dataset
from core.data.demo import MEAN, STD, _images, _load_demo
from core.errors import DataError


def test_demo_split_sizes_and_shapes():
    data = load_dataset("demo")
    assert data.sizes() == {"train": 1079, "val": 539, "calib": 179}
    assert data.input_shape == (3, 32, 32)
    x, y = data.val[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert torch.equal(x[0], x[1]) and torch.equal(x[0], x[2])  # grey replicated on three channels
    assert isinstance(int(y), int) and 0 <= int(y) < 10
    assert data.class_names == [str(i) for i in range(10)] and data.num_classes == 10
    assert data.preprocessing.name == "demo" and data.preprocessing.mean == (MEAN,) * 3


def test_demo_splits_are_disjoint_and_cover_every_image():
    data = load_dataset("demo")
    idx = {s: set(data.split(s).indices.tolist()) for s in ("train", "val", "calib")}
    assert not idx["train"] & idx["val"] and not idx["train"] & idx["calib"] and not idx["val"] & idx["calib"]
    assert idx["train"] | idx["val"] | idx["calib"] == set(range(1797))
    x, y = _images()  # the rows really are the images those indices name
    rows = torch.from_numpy(data.val.indices)
    assert torch.allclose(data.val.tensors[0][:, 0], (x[rows, 0] - MEAN) / STD)
    assert torch.equal(data.val.tensors[1], y[rows])


def test_demo_split_is_deterministic_per_seed():
    a, b = _load_demo.__wrapped__(0), _load_demo.__wrapped__(0)  # computed twice, not served from the cache
    for split in ("train", "val", "calib"):
        assert np.array_equal(a.split(split).indices, b.split(split).indices)
        assert torch.equal(a.split(split).tensors[0], b.split(split).tensors[0])
    other = _load_demo.__wrapped__(1)
    assert not np.array_equal(other.val.indices, a.val.indices)
    assert len(other.val) == len(a.val)


def test_demo_split_is_stratified():
    data = load_dataset("demo")
    _, y = _images()
    per_class = torch.bincount(y, minlength=10)
    val = torch.bincount(data.val.tensors[1], minlength=10)
    assert torch.all((val - 0.3 * per_class).abs() <= 1)  # 30 % of every digit, rounded


def test_demo_is_normalised_and_built_from_the_digits():
    data = load_dataset("demo")
    x = data.train.tensors[0]
    assert abs(float(x.mean())) < 0.1 and 0.8 < float(x.std()) < 1.2
    raw, _ = _images()
    assert abs(float(raw.mean()) - MEAN) < 1e-3 and abs(float(raw.std()) - STD) < 1e-3  # the hard-coded constants


def test_demo_is_cached_but_each_bundle_is_its_own():
    first = load_dataset("demo")
    first.notes.append("scribbled on by a caller")
    hits = _load_demo.cache_info().hits
    second = load_dataset("demo")
    assert _load_demo.cache_info().hits == hits + 1  # served from the per-process cache
    assert second.notes == [] and second is not first
    assert second.val.tensors[0] is first.val.tensors[0]  # the tensors are shared, not rebuilt


def test_preview_gives_uint8_thumbnails_with_labels():
    data = load_dataset("demo")
    shots = data.preview("val", 6)
    assert len(shots) == 6
    image, label = shots[0]
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert image.max() > 200 and image.min() < 30  # ink and background, un-normalised
    assert label in data.class_names
    assert len(data.preview("calib", 10_000)) == len(data.calib)


@pytest.mark.parametrize("kwargs, needle", [({"preset": "imagenet"}, "does not apply to demo"), ({"image_size": 64}, "only to image folders")])
def test_demo_rejects_options_it_cannot_honour(kwargs, needle):
    with pytest.raises(DataError, match=needle):
        load_dataset("demo", **kwargs)
