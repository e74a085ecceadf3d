"""Image decoding by the file's real range: 16-bit and float images are scaled, not clipped; bombs and
unknown ranges are skipped with a note like any unreadable image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.data import check_image_folder, load_dataset
from core.data.decode import ImageRejected, read_rgb
from core.data.image_folder import ImageFileDataset
from core.data.presets import folder_preset
from core.errors import DataError
from tests.core.data.fakes import make_folder

GREY = 0.2  # the test images' brightness on a 0–1 scale


def _pixel(path) -> float:
    """The first channel of the decoded image, 0–1."""
    return float(np.asarray(read_rgb(path))[..., 0].mean()) / 255.0


def _as_is_value(data) -> float:
    """What the as-is preset turns GREY into: (v - 0.5) / 0.5 for every image of the val split."""
    values = {round(float(data.val[i][0].mean()), 2) for i in range(len(data.val))}
    assert len(values) == 1, values
    return values.pop()


@pytest.mark.parametrize("fmt", ["png16", "tiff16", "float01", "float255"])
def test_wide_images_read_like_their_8_bit_twins(tmp_path, fmt):
    root = tmp_path / "wide"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            if fmt == "png16":
                Image.fromarray(np.full((16, 16), round(GREY * 65535), np.uint16)).save(root / cls / f"{i}.png")
            elif fmt == "tiff16":
                Image.fromarray(np.full((16, 16), round(GREY * 65535), np.uint16)).save(root / cls / f"{i}.tif")
            else:
                scale = 1.0 if fmt == "float01" else 255.0
                Image.fromarray(np.full((16, 16), GREY * scale, np.float32)).save(root / cls / f"{i}.tif")
    data = load_dataset(str(root), preset="as-is")
    assert not data.notes  # nothing skipped
    assert _as_is_value(data) == pytest.approx((round(GREY * 255) / 255 - 0.5) / 0.5, abs=0.01)  # -0.6, not +1 or -1


def test_digits_keep_their_contrast_in_16_bit_and_float(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.random((8, 8))
    Image.fromarray(np.rint(grey * 255).astype(np.uint8)).save(tmp_path / "d8.png")
    Image.fromarray(np.rint(grey * 65535).astype(np.uint16)).save(tmp_path / "d16.png")
    Image.fromarray(grey.astype(np.float32)).save(tmp_path / "df.tif")
    ref = np.asarray(read_rgb(tmp_path / "d8.png")).astype(int)
    for name in ("d16.png", "df.tif"):
        assert np.abs(np.asarray(read_rgb(tmp_path / name)).astype(int) - ref).max() <= 1, name


@pytest.mark.parametrize("values, reason", [
    (np.array([[0.1, np.nan], [0.2, 0.3]], np.float32), "NaN or infinite"),
    (np.array([[-3.0, 7000.0], [0.0, 1.0]], np.float32), "from -3 to 7000"),
    (np.array([[0, 100_000], [5, 7]], np.int32), "from 0 to 100000"),
])
def test_unknown_ranges_are_skipped_with_the_reason(tmp_path, values, reason):
    root = make_folder(tmp_path / "pets", n=5)
    Image.fromarray(values).save(root / "cat" / "odd.tif")
    with pytest.raises(ImageRejected, match=reason):
        read_rgb(root / "cat" / "odd.tif")
    report = check_image_folder(root)
    assert report.n_unreadable == 1 and report.class_counts == {"cat": 5, "dog": 5}
    assert any("odd.tif" in p and reason in p and "skipped" in p for p in report.problems)


def test_a_decompression_bomb_is_skipped_with_a_note(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "pets", n=5)  # 40×30 = 1,200 pixels each
    Image.new("RGB", (64, 64), (9, 9, 9)).save(root / "dog" / "bomb.png")  # 4,096 > 2 × 1,500
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1500)
    data = load_dataset(str(root), image_size=32)
    assert len(data.train) + len(data.val) + len(data.calib) == 10
    assert any("bomb.png" in n and "4,096 pixels, over Pillow's decompression-bomb limit of 3,000" in n for n in data.notes)


def test_a_file_turned_into_a_bomb_after_the_scan_is_a_data_error(tmp_path, monkeypatch):
    path = tmp_path / "x.png"
    Image.new("RGB", (64, 64)).save(path)
    ds = ImageFileDataset([(path, 0)], folder_preset("as-is", None))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1500)
    with pytest.raises(DataError, match="decompression-bomb limit"):
        ds[0]
