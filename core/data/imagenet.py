"""The ImageNet-1k label space: class names and WordNet ids in the standard output order.

A 1000-output classifier almost always means ImageNet-1k, whose output ``i`` is
the ``i``-th WordNet id in sorted order (``n01440764`` tench is 0,
``n02099601`` golden retriever is 207). torchvision ships the class *names* in
that order but not the WordNet ids; timm ships the id list
(``timm/data/_info/imagenet_synsets.txt``). timm is not an EdgeSlim dependency,
so the ids are read from its data file when it is installed — located without
importing timm, which would pull in its whole model zoo — and otherwise folders
named by WordNet id need a labels file.
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path
from typing import Optional

IMAGENET_CLASSES = 1000
WNID = re.compile(r"^n\d{8}$")
TIMM_SYNSETS = ("data", "_info", "imagenet_synsets.txt")


def is_wnid(name: str) -> bool:
    return bool(WNID.match(name))


def imagenet_names() -> list[str]:
    """The 1000 ImageNet class names in output order (torchvision's list)."""
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return list(_IMAGENET_CATEGORIES)


def _timm_synsets_file() -> Optional[Path]:
    try:
        spec = importlib.util.find_spec("timm")
    except (ImportError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root).joinpath(*TIMM_SYNSETS)
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=1)
def imagenet_wnids() -> Optional[tuple[str, ...]]:
    """The 1000 ImageNet-1k WordNet ids in output order, or None when no installed package ships them."""
    path = _timm_synsets_file()
    if path is None:
        return None
    ids = sorted({line.strip() for line in path.read_text().splitlines() if is_wnid(line.strip())})
    return tuple(ids) if len(ids) == IMAGENET_CLASSES else None


WNIDS_FIX = (
    "folders named by ImageNet WordNet id need the list of the 1000 ids, which EdgeSlim reads from timm: "
    "install timm (pip install timm), or map the folders with a labels file"
)
