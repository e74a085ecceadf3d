"""Image files into the 8-bit RGB the models see, by each file's real value range.

Pillow's ``convert("RGB")`` clips instead of scaling: a 16-bit PNG (0–65535)
comes out almost white and a float TIFF (0–1) black, and accuracy drops to
chance without a word. Here 16-bit images are scaled by their bit depth, float
images by the range their values lie in (0–1 or 0–255), and a file whose range
cannot be known (NaN pixels, floats from −3 to 7000) is refused with the
reason, so the folder scan skips it with a note like any unreadable image.
Images over Pillow's decompression-bomb limit are refused the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image


class ImageRejected(ValueError):
    """A file that decodes but cannot be turned into trustworthy 8-bit RGB; the message says why."""


# what reading an image file can raise for a bad file (anything else is a bug, not the file)
UNREADABLE: tuple[type[BaseException], ...] = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
_TIFF_BITS_PER_SAMPLE = 258


def _declared_bits(im: Image.Image) -> int:
    """Significant bits of a 16-bit image: a TIFF's BitsPerSample when it says fewer (12-bit cameras), else 16."""
    tags = getattr(im, "tag_v2", None)
    bits = tags.get(_TIFF_BITS_PER_SAMPLE) if tags is not None else None
    if isinstance(bits, tuple):
        bits = bits[0] if bits else None
    return int(bits) if isinstance(bits, int) and 8 < bits < 16 else 16


def _gray(unit: np.ndarray) -> Image.Image:
    """0–1 grey values as an RGB image."""
    return Image.fromarray(np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8), mode="L").convert("RGB")


def to_rgb(im: Image.Image) -> Image.Image:
    """``im`` as 8-bit RGB, scaled by its real range; raises :class:`ImageRejected` when that range is unknown."""
    mode = im.mode
    if mode.startswith("I;16"):
        return _gray(np.asarray(im, dtype=np.float64) / (2 ** _declared_bits(im) - 1))
    if mode == "I":  # 32-bit integers: the values say whether they are 8- or 16-bit data
        values = np.asarray(im, dtype=np.int64)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 65535:
            raise ImageRejected(f"32-bit integer pixels from {low} to {high}: no known brightness scale "
                                "(save it as 8- or 16-bit)")
        return _gray(values / (255.0 if high <= 255 else 65535.0))
    if mode == "F":
        values = np.asarray(im, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ImageRejected("floating-point pixels include NaN or infinite values")
        low, high = float(values.min()), float(values.max())
        if low < 0 or high > 255:
            raise ImageRejected(f"floating-point pixels from {low:g} to {high:g}: only 0–1 or 0–255 images have a "
                                "known brightness scale (save it as 8- or 16-bit)")
        return _gray(values if high <= 1.0 else values / 255.0)
    return im.convert("RGB")


def _bomb(exc: Exception) -> ImageRejected:
    numbers = [int(n) for n in re.findall(r"\d+", str(exc))]
    if len(numbers) >= 2:
        return ImageRejected(f"{numbers[0]:,} pixels, over Pillow's decompression-bomb limit of {numbers[1]:,} "
                             "(downscale it)")
    return ImageRejected(f"over Pillow's decompression-bomb limit ({exc})")


def read_rgb(path: Path) -> Image.Image:
    """The file as 8-bit RGB; raises one of :data:`UNREADABLE` for a broken or refused file."""
    try:
        with Image.open(path) as im:
            return to_rgb(im)
    except Image.DecompressionBombError as exc:
        raise _bomb(exc) from None


def probe(path: Path) -> tuple[int, int]:
    """(width, height) of a usable image, decoding it (JPEGs at 1/8 scale) so truncated or refused files show now."""
    try:
        with Image.open(path) as im:
            im.verify()  # checksums (PNG) and structure, without decoding
        with Image.open(path) as im:
            size = im.size
            if im.mode in ("I", "F") or im.mode.startswith("I;16"):
                to_rgb(im)  # a range that cannot be known is refused here, not mid-evaluation
            else:
                im.draft("RGB", (64, 64))  # JPEG: decode at 1/8 scale — enough to find truncation, far quicker
                im.load()
    except Image.DecompressionBombError as exc:
        raise _bomb(exc) from None
    return size
