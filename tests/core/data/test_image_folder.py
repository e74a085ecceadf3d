"""Image folders: layouts, presets, and problems reported instead of crashes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.data import check_image_folder, load_dataset
from core.errors import DataError
from tests.core.data.fakes import COLOURS, make_folder, write_truncated_jpeg


def paths(ds) -> set:
    return {p for p, _ in ds.samples}


def test_class_folders_split_and_imagenet_preset(tmp_path):
    data = load_dataset(str(make_folder(tmp_path / "pets")))
    assert data.class_names == ["cat", "dog"]
    assert data.sizes() == {"train": 14, "val": 4, "calib": 2}
    assert not paths(data.train) & paths(data.val) and not paths(data.train) & paths(data.calib)
    assert not paths(data.val) & paths(data.calib)
    assert {label for _, label in data.val.samples} == {0, 1}
    x, y = data.val[0]
    assert tuple(x.shape) == data.input_shape == (3, 224, 224) and x.dtype.is_floating_point
    assert data.preprocessing.name == "imagenet" and (data.preprocessing.resize, data.preprocessing.crop) == (256, 224)
    assert data.notes == []


def test_split_is_seeded(tmp_path):
    folder = make_folder(tmp_path / "pets", n=20)
    a, b = load_dataset(str(folder)), load_dataset(str(folder))
    assert a.val.samples == b.val.samples and a.calib.samples == b.calib.samples
    assert load_dataset(str(folder), seed=1).val.samples != a.val.samples


def test_small_classes_still_get_a_validation_and_a_calibration_image(tmp_path):
    data = load_dataset(str(make_folder(tmp_path / "tiny", classes=("a", "b", "c"), n=2)))
    assert sorted(label for _, label in data.val.samples) == [0, 1, 2]
    assert len(data.calib) == 1 and len(data.train) == 2


def test_preview_un_normalises_to_the_original_colours(tmp_path):
    data = load_dataset(str(make_folder(tmp_path / "pets")), image_size=32)
    shots = data.preview("val", 4)
    assert len(shots) == 4
    for image, label in shots:
        assert image.shape == (32, 32, 3) and image.dtype == np.uint8
        colour = COLOURS[data.class_names.index(label)]
        assert np.abs(image.reshape(-1, 3).mean(0) - colour).max() < 2


def test_as_is_preset_keeps_size_and_image_size_overrides(tmp_path):
    folder = make_folder(tmp_path / "pets")
    as_is = load_dataset(str(folder), preset="as-is")
    assert as_is.input_shape == (3, 30, 40) and tuple(as_is.train[0][0].shape) == (3, 30, 40)
    assert as_is.preprocessing.resize is None and as_is.preprocessing.crop is None
    small = load_dataset(f"imagefolder:{folder}", image_size=64)
    assert small.input_shape == (3, 64, 64) and tuple(small.val[0][0].shape) == (3, 64, 64)
    assert (small.preprocessing.resize, small.preprocessing.crop) == (73, 64)


def test_grey_and_rgba_images_become_rgb(tmp_path):
    root = tmp_path / "modes"
    for cls, mode in (("grey", "L"), ("alpha", "RGBA"), ("pal", "P")):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.new(mode, (16, 16)).save(root / cls / f"{i}.png")
    data = load_dataset(str(root), preset="as-is")
    assert all(tuple(data.split(s)[0][0].shape) == (3, 16, 16) for s in ("train", "val", "calib"))


def test_train_val_layout(tmp_path):
    root = tmp_path / "ds"
    make_folder(root / "train", n=8)
    make_folder(root / "val", n=3)
    data = load_dataset(str(root), image_size=32)
    assert data.class_names == ["cat", "dog"]
    assert len(data.val) == 6 and all("/val/" in str(p) for p in paths(data.val))
    assert len(data.train) + len(data.calib) == 16 and len(data.calib) >= 1
    assert not paths(data.train) & paths(data.calib)


def test_train_val_calib_layout_and_test_as_validation(tmp_path):
    root = tmp_path / "ds"
    make_folder(root / "train", n=6)
    make_folder(root / "test", n=2)
    make_folder(root / "calib", n=1)
    data = load_dataset(str(root), image_size=32)
    assert data.sizes() == {"train": 12, "val": 4, "calib": 2}
    assert any("test/ is used as the validation split" in n for n in data.notes)


def test_train_folder_without_val_is_split(tmp_path):
    make_folder(tmp_path / "ds" / "train", n=10)
    data = load_dataset(str(tmp_path / "ds"), image_size=32)
    assert data.class_names == ["cat", "dog"] and data.sizes() == {"train": 14, "val": 4, "calib": 2}
    assert any("no val/ folder" in n for n in data.notes)


def test_class_missing_from_val_is_reported(tmp_path):
    root = tmp_path / "ds"
    make_folder(root / "train", classes=("cat", "dog", "fox"), n=4)
    make_folder(root / "val", classes=("cat", "dog"), n=2)
    report = check_image_folder(root)
    assert report.layout == "train/val" and report.class_counts == {"cat": 6, "dog": 6, "fox": 4}
    assert any("'fox' has no folder in val/" in p for p in report.problems)
    data = load_dataset(str(root), image_size=32)
    assert data.class_names == ["cat", "dog", "fox"] and len(data.val) == 4


def test_problems_are_listed_and_bad_files_skipped(tmp_path):
    root = make_folder(tmp_path / "messy", classes=("a", "b"), n=5)
    (root / "empty_class").mkdir()
    (root / "a" / "broken.jpg").write_bytes(b"not really a jpeg")
    write_truncated_jpeg(root / "a" / "cut.jpg")
    (root / "b" / "notes.txt").write_text("hello")
    Image.new("RGB", (64, 64)).save(root / "b" / "big.png")
    report = check_image_folder(root)
    text = "\n".join(report.problems)
    assert "class 'empty_class' has no readable images" in text
    assert "a/broken.jpg" in text and "a/cut.jpg" in text and "truncated" in text and report.n_unreadable == 2
    assert "notes.txt" in text and report.n_other_files == 1
    assert report.class_counts == {"a": 5, "b": 6, "empty_class": 0} and report.n_images == 11
    assert report.image_sizes == {(40, 30): 10, (64, 64): 1} and report.mixed_sizes
    assert not any("sizes" in p for p in report.problems)  # mixed sizes are a note, not a problem
    assert any("2 sizes" in n and "40×30 (10 images)" in n for n in report.notes)
    data = load_dataset(str(root))
    assert data.class_names == ["a", "b", "empty_class"]  # labels keep folder order
    all_paths = paths(data.train) | paths(data.val) | paths(data.calib)
    assert len(all_paths) == 11 and not any(p.name in ("broken.jpg", "cut.jpg", "notes.txt") for p in all_paths)
    assert any("cut.jpg" in note for note in data.notes) and any("sizes" in note for note in data.notes)
    for s in ("train", "val", "calib"):  # every kept image really decodes
        assert all(tuple(data.split(s)[i][0].shape) == (3, 224, 224) for i in range(len(data.split(s))))


def test_as_is_with_mixed_sizes_needs_an_image_size(tmp_path):
    root = make_folder(tmp_path / "mixed", n=4)
    Image.new("RGB", (64, 64)).save(root / "cat" / "big.png")
    with pytest.raises(DataError) as info:
        load_dataset(str(root), preset="as-is")
    assert "2 sizes" in info.value.problem and "as-is" in info.value.problem
    assert "image size" in info.value.fix
    assert load_dataset(str(root), preset="as-is", image_size=24).input_shape == (3, 24, 24)


def test_check_reports_unusable_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    assert check_image_folder(tmp_path / "empty").problems == ["empty/ is empty"]
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (8, 8)).save(flat / "x.png")
    report = check_image_folder(flat)
    assert report.layout == "none"
    assert any("1 image(s) directly in flat/" in p for p in report.problems)
    assert any("no class sub-folders" in p for p in report.problems)


@pytest.mark.parametrize(
    "build, needle",
    [
        (lambda p: p.mkdir(), "is empty"),
        (lambda p: (p.mkdir(), Image.new("RGB", (8, 8)).save(p / "x.png")), "no class sub-folders"),
        (lambda p: make_folder(p, classes=("only",), n=3), "fewer than 2 classes"),
        (lambda p: ((p / "a").mkdir(parents=True), (p / "b").mkdir(), (p / "a" / "t.txt").write_text("x")), "no readable images"),
        (lambda p: (make_folder(p, n=0), (p / "cat" / "bad.png").write_bytes(b"\x89PNG junk")), "no readable images"),
    ],
)
def test_unusable_folders_raise_clear_errors(tmp_path, build, needle):
    folder = tmp_path / "bad"
    build(folder)
    with pytest.raises(DataError) as info:
        load_dataset(str(folder))
    assert needle in info.value.problem
    assert "one sub-folder per class" in info.value.fix and "PATH/cat/1.jpg" in info.value.fix


def test_a_file_is_not_a_folder(tmp_path):
    f = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(f)
    with pytest.raises(DataError, match="is a file, not a folder"):
        load_dataset(f"imagefolder:{f}")


def test_unknown_preset_for_a_folder(tmp_path):
    with pytest.raises(DataError, match="unknown preset 'huge'.*imagenet, as-is"):
        load_dataset(str(make_folder(tmp_path / "p")), preset="huge")
    with pytest.raises(DataError, match="'rgb32' does not apply to imagefolder"):
        load_dataset(str(make_folder(tmp_path / "q")), preset="rgb32")
