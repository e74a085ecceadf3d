"""The demo dataset: real digits, fixed split, the shape the demo model takes."""

from __future__ import annotations

import torch

from core.data import load_dataset
from core.data.demo import _images, load_demo


def test_demo_split_sizes_and_shapes():
    data = load_dataset("demo")
    sizes = data.sizes()
    assert sizes["val"] >= 500
    assert sum(sizes.values()) == 1797
    assert data.input_shape == (3, 32, 32)
    x, y = data.val[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert 0 <= int(y) < 10 and data.class_names == [str(i) for i in range(10)]


def test_demo_split_is_deterministic_and_disjoint():
    a, b = load_demo.__wrapped__(0), load_demo.__wrapped__(0)
    for split in ("train", "val", "calib"):
        assert torch.equal(a.split(split).tensors[0], b.split(split).tensors[0])
    # disjoint: no image appears in two splits (digits contain a few exact duplicates, so compare counts)
    x, _ = _images()
    flat = {s: {t.numpy().tobytes() for t in a.split(s).tensors[0][:, 0]} for s in ("train", "val", "calib")}
    all_unique = len({t.numpy().tobytes() for t in x[:, 0]})
    assert len(flat["train"] | flat["val"] | flat["calib"]) == all_unique
    other = load_demo.__wrapped__(1)
    assert not torch.equal(other.val.tensors[0], a.val.tensors[0])


def test_demo_split_is_stratified():
    data = load_dataset("demo")
    counts = torch.bincount(data.val.tensors[1], minlength=10)
    assert counts.min() >= 50  # every digit is well represented in validation


def test_demo_is_normalised():
    data = load_dataset("demo")
    x = data.train.tensors[0]
    assert abs(float(x.mean())) < 0.1 and 0.8 < float(x.std()) < 1.2


def test_preview_gives_uint8_thumbnails_with_labels():
    data = load_dataset("demo")
    shots = data.preview("val", 6)
    assert len(shots) == 6
    image, label = shots[0]
    assert image.shape == (32, 32, 3) and image.dtype.name == "uint8"
    assert image.max() > 200 and image.min() < 30  # ink and background
    assert label in data.class_names
