"""What a model spec names, and what kind of file a path holds.

The same extension (``.pt``) is used for state_dicts, full pickles and
TorchScript, so files are told apart by their zip contents, not their names.
Nothing here imports torch: parsing a spec must be cheap and must fail fast.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from core.errors import ModelLoadError

# extension -> family; "torch" files are sniffed further (state_dict, pickle, TorchScript, .pt2)
EXTENSIONS = {
    ".pt": "torch",
    ".pth": "torch",
    ".bin": "torch",
    ".ckpt": "torch",
    ".ts": "torch",
    ".torchscript": "torch",
    ".pt2": "pt2",
    ".onnx": "onnx",
}
SPEC_PREFIXES = ("demo", "torchvision:NAME", "timm:NAME")
SPEC_HELP = "use `demo`, `torchvision:NAME`, `timm:NAME` or the path of a model file (" + ", ".join(EXTENSIONS) + ")"

# a torch.save archive has this pickle; TorchScript adds code/ and constants.pkl; .pt2 adds these
_PT2_MARKERS = ("archive_format", "models/model.json", "serialized_exported_program.json")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec: a built-in ("demo", "torchvision") or a file."""

    kind: str  # demo | torchvision | timm | file
    name: str = ""  # architecture name for torchvision / timm
    path: Optional[Path] = None


def parse_spec(spec: str) -> ModelSpec:
    """Split ``spec`` into a built-in name or a file path (checking the file exists)."""
    text = str(spec).strip()
    if not text:
        raise ModelLoadError("no model given", SPEC_HELP)
    lowered = text.lower()
    if lowered in ("demo", "demo:demoresnet"):
        return ModelSpec("demo", "DemoResNet")
    for kind, example in (("torchvision", "resnet18"), ("timm", "efficientnet_lite0")):
        if lowered.startswith(kind + ":"):
            name = text.split(":", 1)[1].strip()
            if not name:
                raise ModelLoadError(f"`{kind}:` needs an architecture name", f"use e.g. `{kind}:{example}`")
            return ModelSpec(kind, name)
    path = Path(text).expanduser()
    prefix = text.split(":", 1)[0]
    looks_like_prefix = ":" in text and len(prefix) > 1 and "/" not in prefix and "\\" not in prefix
    if looks_like_prefix and not path.exists():
        raise ModelLoadError(f"unknown model spec prefix `{prefix}:` in `{text}`", SPEC_HELP)
    if not path.exists():
        raise ModelLoadError(f"no such file: {path}", f"check the path, or {SPEC_HELP}")
    return ModelSpec("file", path.stem, path)


def file_family(path: Path) -> str:
    """``torch``, ``pt2`` or ``onnx`` from the extension; anything else is refused."""
    if path.is_dir():
        raise ModelLoadError(f"{path} is a folder, not a model file", "give the path of a model file (" + ", ".join(EXTENSIONS) + ")")
    family = EXTENSIONS.get(path.suffix.lower())
    if family is None:
        raise ModelLoadError(
            f"unsupported model file type `{path.suffix or '(no extension)'}`: {path.name}",
            "supported files: " + ", ".join(EXTENSIONS) + " (state_dict, torch.export program, TorchScript, pickled module, ONNX)",
        )
    if path.stat().st_size == 0:
        raise ModelLoadError(f"{path} is empty (0 bytes)", "the file was not written completely; save or download it again")
    return family


def sniff_torch_archive(path: Path) -> str:
    """``torchscript``, ``pt2``, ``torch_save`` (zip archive) or ``legacy`` (pre-1.6 pickle) for a torch file."""
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise corrupt(path, "PyTorch", exc) from exc
        # every entry sits under one top folder named after the archive
        inner = {n.split("/", 1)[1] if "/" in n else n for n in names}
        if any(n.startswith("code/") for n in inner) or "constants.pkl" in inner:
            return "torchscript"
        if any(n in inner for n in _PT2_MARKERS):
            return "pt2"
        if "data.pkl" in inner:
            return "torch_save"
        raise ModelLoadError(
            f"{path} is a zip archive but not a PyTorch one (no data.pkl)",
            "give a file written by torch.save, torch.export.save, torch.jit.save or an ONNX exporter",
        )
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head[:1] == b"\x80":  # pickle protocol marker: torch.save(..., _use_new_zipfile_serialization=False)
        return "legacy"
    raise corrupt(path, "PyTorch", None)


def corrupt(path: Path, kind: str, exc: Optional[BaseException]) -> ModelLoadError:
    """The error for a file that exists but cannot be read as ``kind``."""
    detail = f" ({type(exc).__name__}: {first_line(exc)})" if exc is not None else ""
    return ModelLoadError(
        f"{path} is not a readable {kind} file: it may be truncated or corrupt{detail}",
        "save or download the file again, and check it is the format its extension says",
    )


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception message, trimmed (torch messages run for pages)."""
    for line in str(exc).splitlines():
        line = line.strip()
        if line:
            return line[:limit]
    return type(exc).__name__
