"""Image folders: layouts, presets, and problems reported instead of crashes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from core.data import check_image_folder, load_dataset
from core.errors import DataError


def make_folder(root: Path, classes=("cat", "dog"), n=10, size=(40, 30)) -> Path:
    for c, cls in enumerate(classes):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", size, (20 * i, 100 * c, 50)).save(root / cls / f"{i}.png")
    return root


def test_class_folders_split_and_imagenet_preset(tmp_path):
    data = load_dataset(str(make_folder(tmp_path / "pets")))
    assert data.class_names == ["cat", "dog"]
    sizes = data.sizes()
    assert sizes == {"train": 14, "val": 4, "calib": 2}
    x, y = data.val[0]
    assert tuple(x.shape) == data.input_shape == (3, 224, 224)
    assert data.notes == []


def test_as_is_preset_keeps_size_and_image_size_overrides(tmp_path):
    folder = make_folder(tmp_path / "pets")
    as_is = load_dataset(str(folder), preset="as-is")
    assert as_is.input_shape == (3, 30, 40) and tuple(as_is.train[0][0].shape) == (3, 30, 40)
    small = load_dataset(f"imagefolder:{folder}", image_size=64)
    assert small.input_shape == (3, 64, 64) and tuple(small.val[0][0].shape) == (3, 64, 64)


def test_train_val_layout(tmp_path):
    root = tmp_path / "ds"
    make_folder(root / "train", n=8)
    make_folder(root / "val", n=3)
    data = load_dataset(str(root), image_size=32)
    assert len(data.val) == 6
    assert len(data.train) + len(data.calib) == 16 and len(data.calib) >= 1


def test_problems_are_listed_and_bad_files_skipped(tmp_path):
    root = make_folder(tmp_path / "messy", classes=("a", "b"), n=5)
    (root / "empty_class").mkdir()
    (root / "a" / "broken.jpg").write_bytes(b"not really a jpeg")
    (root / "b" / "notes.txt").write_text("hello")
    Image.new("RGB", (64, 64)).save(root / "b" / "big.png")
    report = check_image_folder(root)
    text = "\n".join(report.problems)
    assert "empty_class" in text and "no readable images" in text
    assert "broken.jpg" in text and report.n_unreadable == 1
    assert "notes.txt" in text
    assert "different sizes" in text
    data = load_dataset(str(root))
    assert data.class_names == ["a", "b", "empty_class"]
    assert len(data.train) + len(data.val) + len(data.calib) == 11  # the readable images only
    assert any("broken.jpg" in note for note in data.notes)


@pytest.mark.parametrize(
    "build, needle",
    [
        (lambda p: p.mkdir(), "empty"),
        (lambda p: (p.mkdir(), (p / "x.png").write_bytes(b"")), "no class sub-folders"),
        (lambda p: make_folder(p, classes=("only",), n=3), "fewer than 2 classes"),
        (lambda p: ((p / "a").mkdir(parents=True), (p / "b").mkdir(), (p / "a" / "t.txt").write_text("x")), "no readable images"),
    ],
)
def test_unusable_folders_raise_clear_errors(tmp_path, build, needle):
    folder = tmp_path / "bad"
    build(folder)
    with pytest.raises(DataError) as info:
        load_dataset(str(folder))
    assert needle in str(info.value)
    assert "sub-folder per class" in str(info.value)


def test_missing_path_and_unknown_kind(tmp_path):
    with pytest.raises(DataError, match="no such dataset folder"):
        load_dataset(str(tmp_path / "nope"))
    with pytest.raises(DataError, match="unknown dataset kind 'svhn'"):
        load_dataset("svhn:/data")


def test_unknown_preset(tmp_path):
    with pytest.raises(DataError, match="unknown preset 'huge'"):
        load_dataset(str(make_folder(tmp_path / "p")), preset="huge")
