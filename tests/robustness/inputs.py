"""Bad input files of the campaign (issue 15, items 7–10 and 15), as texts and folder builders for the tables."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

STEPS = '[[step]]\ntechnique = "prune.structured"\n[[step]]\ntechnique = "finetune"\n'


def huge_grid() -> str:
    """5 axes, 120 × 150 × 100 × 100 × 100 = 1.8e10 points: it once filled 7.3 GB before the first trial."""
    ratio = [round(0.9 * i / 119, 6) for i in range(120)]
    lr = [round(1e-4 * (i + 1), 6) for i in range(100)]
    wd = [round(0.001 * i, 6) for i in range(100)]
    return (f'name = "huge"\nmode = "grid"\n{STEPS}[grid]\n"prune.structured.ratio" = {ratio}\n'
            f'"finetune.epochs" = {list(range(1, 151))}\n"finetune.lr" = {lr}\n'
            f'"finetune.batch_size" = {list(range(1, 101))}\n"finetune.weight_decay" = {wd}\n')


NAN_RECIPE = '[[step]]\ntechnique = "prune.structured"\nratio = nan\n'
DEEP_RECIPE = '[[step]]\ntechnique = "prune.structured"\nignore_layers = ' + "[" * 100_000 + "]" * 100_000 + "\n"
BOM_RECIPE = '\ufeffname = "saved-on-windows"\n[[step]]\ntechnique = "prune.structured"\nratio = 7\n'  # the BOM, then a real mistake

PROFILE = """name = "tiny-mcu"
label = "Tiny MCU"
kind = "mcu"
processor = "Cortex-M0+ at 48 MHz"
runtime = "some runtime"
toolchain = "stedgeai"
formats = ["onnx-int8"]
precisions = ["int8"]
weights_in_ram = false
source = "made up for a test"

[memory]
storage = "64 KiB"
ram = "16 KiB"
bandwidth_gbs = {bandwidth}

[compute]
int8 = 0.05
"""


def write_text(rel: str, text: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding=encoding)

    return setup


def bomb_png(path: Path, side: int = 14_000) -> None:
    """A 69-byte PNG declaring side × side 1-bit pixels (196 M: over Pillow's 179 M decompression-bomb limit)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def wide_digits(rel: str, per_format: int = 5) -> Callable[[Path], None]:
    """The demo's validation digits, one folder per class, as 16-bit PNGs and float TIFFs (0–1), plus one
    decompression bomb and one float TIFF holding NaN: the first two must read right, the last two be skipped."""

    def setup(tmp: Path) -> None:
        from PIL import Image

        from core.data.demo import _images, load_demo

        x, y = _images()
        root, count = tmp / rel, {}
        for i in load_demo().val.indices:
            label = int(y[i])
            n = count.get(label, 0)
            if n >= 2 * per_format:
                continue
            count[label] = n + 1
            (root / str(label)).mkdir(parents=True, exist_ok=True)
            grey = x[i, 0].numpy()
            if n % 2:
                Image.fromarray(np.rint(grey * 65535).astype(np.uint16)).save(root / str(label) / f"{i}.png")
            else:
                Image.fromarray(grey.astype(np.float32)).save(root / str(label) / f"{i}.tif")
        bomb_png(root / "3" / "bomb.png")
        Image.fromarray(np.full((32, 32), np.nan, np.float32)).save(root / "5" / "nan.tif")

    return setup
