"""Label maps: class folders that are a subset (or a reordering) of a model's outputs.

An ImageNet model checked on a folder of 23 of its classes has 1000 outputs and
the folder 23 classes. A label map says which output each folder is; the data's
labels become those output indices, so accuracy compares the model's argmax over
all its outputs with the mapped index, and training and export see the model's
own label space.

A labels file is one of (``#`` starts a comment, blank lines are skipped):

* ``folder,index`` lines (also ``folder<TAB>index``, ``folder;index``, ``folder index``;
  a header line such as ``folder,index`` is skipped), or a JSON object ``{"folder": index}``;
* one class name per line in output order (line 1 is output 0), or a JSON list;
  a line ``n01440764 tench, Tinca tinca`` also matches a folder named by its first word.

Without a file, a model with 1000 outputs (ImageNet-1k) takes folders named by
output index (``207``) or by WordNet id (``n02099601``, when the id list is
installed: see :mod:`core.data.imagenet`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Sequence, Union

from torch.utils.data import Dataset

from core.data.bundle import DatasetBundle
from core.data.imagenet import IMAGENET_CLASSES, WNIDS_FIX, imagenet_names, imagenet_wnids, is_wnid
from core.errors import DataError, ShapeMismatchError

PathLike = Union[str, Path]
SEPARATORS = (",", "\t", ";", ":", "=", " ")
FORMAT_FIX = (
    "write one `folder,index` line per class folder (index = the model output for that class, from 0), "
    "or one class name per line in output order"
)
SHOWN = 5


@dataclass(frozen=True)
class LabelsFile:
    """A parsed labels file: names that match folders -> output index, and output names where it gives them."""

    path: Path
    lookup: dict[str, int]
    names: dict[int, str]
    ordered: bool  # one name per line in output order (the file's length is the number of outputs)

    @property
    def size(self) -> int:
        return max(self.names, default=-1) + 1


@dataclass(frozen=True)
class LabelMap:
    """Class folder name -> model output index, over a space of ``num_outputs`` outputs."""

    indices: dict[str, int]
    num_outputs: int
    output_names: tuple[str, ...]
    source: str  # "labels.csv", or how the folder names were read

    def note(self) -> str:
        return (f"{len(self.indices)} class folders mapped onto the model's {self.num_outputs} outputs ({self.source}): "
                f"accuracy is the model's top-1 over all {self.num_outputs} outputs against each folder's output")

    def to_dict(self) -> dict:
        return {"indices": dict(self.indices), "num_outputs": self.num_outputs, "source": self.source}


def _pair(line: str) -> Optional[tuple[str, int]]:
    for sep in SEPARATORS:
        key, found, value = line.rpartition(sep)
        key, value = key.strip().strip("\"'"), value.strip().strip("\"'")
        if found and key and value.isdigit():
            return key, int(value)
    return None


def _from_pairs(path: Path, pairs: Sequence[tuple[str, int]]) -> LabelsFile:
    lookup: dict[str, int] = {}
    for key, index in pairs:
        if key in lookup and lookup[key] != index:
            raise DataError(f"the labels file {path.name} maps {key!r} to both {lookup[key]} and {index}", "keep one line per folder")
        lookup[key] = index
    names: dict[int, str] = {}
    for key, index in lookup.items():
        names.setdefault(index, key)
    return LabelsFile(path, lookup, names, ordered=False)


def _from_names(path: Path, names: Sequence[str]) -> LabelsFile:
    lookup: dict[str, int] = {}
    for i, name in enumerate(names):
        first = name.split()[0] if name.split() else name
        for key in (name, first, name.split(",")[0].strip()):
            lookup.setdefault(key, i)
    return LabelsFile(path, lookup, dict(enumerate(names)), ordered=True)


def read_labels_file(path: PathLike) -> LabelsFile:
    """Parse a labels file (see the module doc); a DataError names what is wrong with it."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the labels file {path} ({exc.__class__.__name__}: {exc})", "check the path; " + FORMAT_FIX) from exc
    if path.suffix.lower() == ".json":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"the labels file {path.name} is not valid JSON ({exc})", "give an object {\"folder\": index} or a list of names") from exc
        if isinstance(obj, dict) and obj and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in obj.values()):
            return _from_pairs(path, [(str(k), int(v)) for k, v in obj.items()])
        if isinstance(obj, list) and obj and all(isinstance(v, str) for v in obj):
            return _from_names(path, [v.strip() for v in obj])
        raise DataError(f"the labels file {path.name} holds neither an object of folder -> index nor a list of names",
                        "give an object {\"folder\": index} (indices from 0) or a list of class names in output order")
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise DataError(f"the labels file {path.name} is empty", FORMAT_FIX)
    pairs = [_pair(line) for line in lines]
    if all(pairs):
        return _from_pairs(path, pairs)  # type: ignore[arg-type]
    if len(lines) > 1 and pairs[0] is None and all(pairs[1:]):  # a header line
        return _from_pairs(path, pairs[1:])  # type: ignore[arg-type]
    return _from_names(path, lines)


def _shown(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names[:SHOWN]) + ("…" if len(names) > SHOWN else "")


def _output_names(num_outputs: int, known: dict[int, str], ordered: bool) -> tuple[str, ...]:
    if num_outputs == IMAGENET_CLASSES and not ordered:
        return tuple(imagenet_names())
    return tuple(known.get(i) or f"output {i}" for i in range(num_outputs))


def _from_file(class_names: Sequence[str], num_outputs: Optional[int], labels: PathLike) -> LabelMap:
    f = read_labels_file(labels)
    missing = [c for c in class_names if c not in f.lookup]
    if missing:
        raise DataError(
            f"the labels file {f.path.name} does not name the class folder(s) {_shown(missing)}",
            f"add a line `{missing[0]},INDEX` for each (INDEX = the model output for that class, from 0)",
        )
    indices = {c: f.lookup[c] for c in class_names}
    n = num_outputs if num_outputs is not None else max(f.size, max(indices.values()) + 1)
    beyond = {c: i for c, i in indices.items() if i >= n}
    if beyond:
        c, i = next(iter(beyond.items()))
        raise ShapeMismatchError(
            f"the labels file {f.path.name} maps {c!r} to output {i} but the model has {n} outputs (0 to {n - 1})",
            "fix the index in the labels file (outputs count from 0), or use the model the file was written for",
        )
    return LabelMap(indices, n, _output_names(n, f.names, f.ordered), f.path.name)


def _auto(class_names: Sequence[str], num_outputs: Optional[int]) -> Optional[LabelMap]:
    """Folders named by ImageNet index or WordNet id, for a 1000-output model; None when they are not."""
    if num_outputs != IMAGENET_CLASSES or len(class_names) == num_outputs:
        return None
    indices: dict[str, int] = {}
    wnids = None
    for name in class_names:
        if name.isdigit() and int(name) < num_outputs:
            indices[name] = int(name)
        elif is_wnid(name):
            wnids = wnids or imagenet_wnids()
            if wnids is None or name not in wnids:
                return None
            indices[name] = wnids.index(name)
        else:
            return None
    kinds = {"index" if n.isdigit() else "WordNet id" for n in class_names}
    return LabelMap(indices, num_outputs, tuple(imagenet_names()), "folder names read as ImageNet " + " and ".join(sorted(kinds)))


def wnid_folders_without_list(class_names: Sequence[str]) -> bool:
    """True when the folders look like WordNet ids but no installed package ships the id list."""
    return any(is_wnid(c) for c in class_names) and imagenet_wnids() is None


def resolve_label_map(
    class_names: Sequence[str], num_outputs: Optional[int], labels: Optional[PathLike] = None, auto: bool = True
) -> Optional[LabelMap]:
    """The map from class folders to the model's outputs, or None when the folders are the outputs.

    ``labels`` is a labels file; without one, ``auto`` reads folders named by
    ImageNet index or WordNet id when the model has 1000 outputs.
    """
    if labels:
        return _from_file(class_names, num_outputs, labels)
    return _auto(class_names, num_outputs) if auto else None


class RelabelledDataset(Dataset):
    """A split whose labels go through ``table`` (folder index -> output index); images untouched."""

    def __init__(self, base: Dataset, table: Sequence[int]) -> None:
        self.base = base
        self.table = list(table)

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int):
        x, y = self.base[i]
        return x, self.table[int(y)]

    @property
    def samples(self) -> Optional[list]:
        """(path, output index) pairs when the base split lists its files (so labels are read without decoding)."""
        samples = getattr(self.base, "samples", None)
        return None if samples is None else [(p, self.table[int(c)]) for p, c in samples]


def apply_label_map(data: DatasetBundle, label_map: LabelMap) -> DatasetBundle:
    """A copy of ``data`` whose labels are the model's output indices and whose class names are its outputs."""
    table = [label_map.indices[c] for c in data.class_names]
    splits = {s: RelabelledDataset(data.split(s), table) for s in ("train", "val", "calib")}
    return replace(data, class_names=list(label_map.output_names), notes=[*data.notes, label_map.note()],
                   label_map=label_map, **splits)


def match_labels(data: DatasetBundle, num_outputs: Optional[int], labels: Optional[PathLike] = None) -> DatasetBundle:
    """``data`` in the model's label space when a labels file or the folder names say how; else ``data`` itself."""
    if data.label_map is not None:
        return data
    label_map = resolve_label_map(data.class_names, num_outputs, labels, auto=data.spec != "demo")
    return data if label_map is None else apply_label_map(data, label_map)


__all__ = [
    "LabelMap", "LabelsFile", "read_labels_file", "resolve_label_map", "apply_label_map", "match_labels",
    "RelabelledDataset", "wnid_folders_without_list", "WNIDS_FIX",
]
