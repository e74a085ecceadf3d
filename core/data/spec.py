"""What the user typed, turned into a dataset kind and a path.

Kept apart from the loaders so a bad spec fails before any loader (or its
data) is touched, with one message listing the valid forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from core.errors import DataError

SPEC_FORMS = "demo, a folder path, imagefolder:PATH, cifar10:PATH, mnist:PATH, fashionmnist:PATH"
PREFIXES = ("imagefolder", "cifar10", "mnist", "fashionmnist")


@dataclass(frozen=True)
class DataSpec:
    """A parsed dataset spec: ``kind`` is "demo", "imagefolder" or a torchvision kind."""

    text: str
    kind: str
    path: Optional[Path] = None


def parse_spec(spec: str) -> DataSpec:
    """Parse ``spec``; raises DataError listing the valid forms when it names nothing loadable."""
    text = (spec or "").strip()
    if not text:
        raise DataError("no dataset given", f"pass one of: {SPEC_FORMS}")
    if text.lower() == "demo":
        return DataSpec(text, "demo")
    prefix, sep, rest = text.partition(":")
    # "C:\\data" on Windows is a path, not a prefix; so is any existing path that happens to hold a colon.
    if sep and len(prefix) > 1 and not Path(text).expanduser().exists():
        kind = prefix.lower()
        if kind not in PREFIXES:
            raise DataError(f"unknown dataset kind {prefix!r} in {text!r}", f"use one of: {SPEC_FORMS}")
        if not rest.strip():
            raise DataError(f"{text!r} names no folder", f"give the folder after the colon, e.g. {kind}:/data/{kind}")
        return DataSpec(text, kind, Path(rest.strip()).expanduser())
    path = Path(text).expanduser()
    if not path.exists():
        raise DataError(f"no such dataset folder: {path}", f"check the path, or use one of: {SPEC_FORMS}")
    return DataSpec(text, "imagefolder", path)
