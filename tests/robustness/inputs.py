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


# --------------------------------------------------------------------------- inputs that already gave one clean line


def bad_model_file(rel: str, kind: str) -> Callable[[Path], None]:
    """A model file that holds nothing (empty), noise (random), prose (text), or the first half of a real one."""

    def setup(tmp: Path) -> None:
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "empty":
            path.write_bytes(b"")
        elif kind == "random":
            path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        elif kind == "text":
            path.write_text("hello, this is not a model\n")
        else:
            whole = tmp / ("whole" + path.suffix)
            _real_model_file(whole)
            data = whole.read_bytes()
            path.write_bytes(data[: len(data) // 2])

    return setup


def _real_model_file(path: Path) -> None:
    """The demo model saved in the format its extension names (.pt: state_dict, .pt2: program, .onnx)."""
    import torch

    from core.models import load_model

    model = load_model("demo")
    if path.suffix == ".pt":
        torch.save(model.module.state_dict(), path)
    elif path.suffix == ".pt2":
        example = (torch.randn(1, *model.input_shape),)
        torch.export.save(torch.export.export(model.module.eval(), example), path)
    else:
        from core.models.onnx_export import export_onnx

        export_onnx(model.module, tuple(model.input_shape), path)


def state_dict(rel: str, arch: str) -> Callable[[Path], None]:
    """Weights of ``arch`` (``demo`` or a torchvision name, 10 classes to keep the file small)."""

    def setup(tmp: Path) -> None:
        import torch
        import torchvision

        from core.models import load_model

        module = load_model("demo").module if arch == "demo" else getattr(torchvision.models, arch)(num_classes=10)
        torch.save(module.state_dict(), tmp / rel)

    return setup


def raw_pickle(rel: str, obj: object) -> Callable[[Path], None]:
    """A file written by plain ``pickle`` (protocol 4), not by ``torch.save``."""

    def setup(tmp: Path) -> None:
        import pickle

        (tmp / rel).write_bytes(pickle.dumps(obj, protocol=4))

    return setup


def image_folder(rel: str, classes: int = 10, per_class: int = 2, cmyk: bool = False) -> Callable[[Path], None]:
    """``classes`` class folders (named 0, 1, …: the demo model's 10 outputs) of 28×28 noise images:
    RGB PNGs, or with ``cmyk`` CMYK JPEGs (so every image read, whatever the split, is one)."""

    def setup(tmp: Path) -> None:
        from PIL import Image

        for c in range(classes):
            folder = tmp / rel / str(c)
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = np.random.default_rng(c * 100 + i).integers(0, 256, (28, 28, 3), dtype=np.uint8)
                image = Image.fromarray(pixels)
                if cmyk:
                    image.convert("CMYK").save(folder / f"{i}.jpg")
                else:
                    image.save(folder / f"{i}.png")

    return setup


def odd_image(rel: str, kind: str) -> Callable[[Path], None]:
    """One odd file among the images: a corrupt PNG, a 1×1 image, or a symlink back to the data root."""

    def setup(tmp: Path) -> None:
        from PIL import Image

        path = tmp / rel
        if kind == "corrupt":
            path.write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
        elif kind == "1x1":
            Image.new("RGB", (1, 1), (200, 10, 10)).save(path)
        else:  # a symlink to its own data folder's root: walking it naively never ends
            path.symlink_to(tmp / Path(rel).parts[0], target_is_directory=True)

    return setup


def random_bytes(rel: str, size: int) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / rel).write_bytes(np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8).tobytes())

    return setup
