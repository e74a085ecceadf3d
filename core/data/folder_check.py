"""Scan an image folder and say, in words a user can act on, what is wrong with it.

Real folders have problems — an empty class, a corrupt JPEG, a stray README,
images of mixed sizes. Scanning decodes every image (JPEGs at reduced size, so
it stays fast) because a header check alone lets truncated files through, and
they would then fail in the middle of an evaluation instead of here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
SPLIT_DIRS = ("train", "val", "calib")
VAL_ALIASES = ("val", "valid", "validation", "test")  # first one present is the validation split
LAYOUT_FIX = (
    "put images in one sub-folder per class, e.g. PATH/cat/1.jpg and PATH/dog/2.jpg "
    "(or PATH/train/cat/… and PATH/val/cat/…)"
)
SHOWN = 3  # file names quoted per problem before "…"


@dataclass
class FolderReport:
    """What a folder holds and what is wrong with it.

    ``problems`` are things to fix (files skipped, classes unusable); ``notes`` are
    facts worth knowing that need no action (mixed sizes, which folder is validation).
    """

    path: Path
    layout: str  # "classes" | "train/val" | "none"
    class_names: list[str] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)  # readable images per class (all splits)
    split_files: dict[str, list[tuple[Path, int]]] = field(default_factory=dict)  # usable (file, class index)
    image_sizes: Counter = field(default_factory=Counter)  # (width, height) -> count
    n_images: int = 0
    n_unreadable: int = 0
    n_other_files: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return len([c for c, n in self.class_counts.items() if n > 0]) >= 2

    @property
    def mixed_sizes(self) -> bool:
        return len(self.image_sizes) > 1

    def sizes_summary(self, top: int = 3) -> str:
        """'40×30 (20 images), 64×64 (1 image)' — the most common sizes first."""
        parts = [f"{w}×{h} ({n} image{'s' if n != 1 else ''})" for (w, h), n in self.image_sizes.most_common(top)]
        more = len(self.image_sizes) - top
        return ", ".join(parts) + (f" and {more} more size(s)" if more > 0 else "") if parts else "no images"

    def to_dict(self) -> dict:
        return {
            "path": str(self.path), "layout": self.layout, "class_counts": self.class_counts,
            "n_images": self.n_images, "n_unreadable": self.n_unreadable, "n_other_files": self.n_other_files,
            "image_sizes": {f"{w}x{h}": n for (w, h), n in self.image_sizes.most_common(10)},
            "problems": list(self.problems), "notes": list(self.notes),
        }


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _shown(names: list[str]) -> str:
    return ", ".join(names[:SHOWN]) + ("…" if len(names) > SHOWN else "")


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of a usable image; raises one of ``core.data.decode.UNREADABLE`` for a broken or refused one."""
    from core.data.decode import probe

    return probe(path)


def _scan_class(folder: Path, report: FolderReport) -> list[Path]:
    """Readable images in one class folder (sub-folders included); the rest becomes problems."""
    from core.data.decode import UNREADABLE  # PIL loads with the first scan, not with the app

    good: list[Path] = []
    others: list[str] = []
    for f in sorted(folder.rglob("*")):
        if not f.is_file() or f.name.startswith("."):
            continue
        if f.suffix.lower() not in IMAGE_SUFFIXES:
            others.append(f.name)
            continue
        try:
            size = image_size(f)
        except UNREADABLE as exc:  # a decompression bomb or an unknown value range is skipped the same way
            report.n_unreadable += 1
            why = (str(exc).splitlines() or [type(exc).__name__])[0].replace(f"'{f}'", "").replace(str(f), "").strip()
            report.problems.append(
                f"unreadable image {f.relative_to(report.path)} ({why}) — it is skipped; delete or replace it"
            )
            continue
        report.image_sizes[size] += 1
        good.append(f)
    if others:
        report.n_other_files += len(others)
        report.problems.append(
            f"{len(others)} file(s) in {folder.relative_to(report.path)}/ are not images and are ignored: {_shown(others)}"
        )
    return good


def _scan_classes(root: Path, classes: list[str], label_of: dict[str, int], report: FolderReport) -> list[tuple[Path, int]]:
    files: list[tuple[Path, int]] = []
    for cls in classes:
        imgs = _scan_class(root / cls, report)
        files += [(f, label_of[cls]) for f in imgs]
        report.class_counts[cls] = report.class_counts.get(cls, 0) + len(imgs)
    return files


def _scan_train_val(path: Path, roots: dict[str, Path], report: FolderReport) -> None:
    report.layout = "train/val"
    classes = [d.name for d in _subdirs(roots["train"])]
    report.class_names = classes
    label_of = {c: i for i, c in enumerate(classes)}
    if roots["val"].name.lower() != "val":
        report.notes.append(f"{roots['val'].name}/ is used as the validation split")
    for split, root in roots.items():
        present = {d.name for d in _subdirs(root)}
        if split == "val":
            for missing in [c for c in classes if c not in present]:
                report.problems.append(
                    f"class {missing!r} has no folder in {root.name}/ — its accuracy cannot be measured; "
                    f"add {root.name}/{missing}/ with some images"
                )
        for extra in sorted(present - set(classes)):
            report.problems.append(f"{root.name}/{extra} is not a class in train/ — it is ignored; add train/{extra}/ or remove it")
        report.split_files[split] = _scan_classes(root, [c for c in classes if c in present], label_of, report)
    if not report.split_files["val"]:
        report.problems.append(f"{roots['val'].name}/ holds no readable images — add images per class to it")


def _scan_flat(root: Path, report: FolderReport) -> None:
    report.layout = "classes"
    classes = [d.name for d in _subdirs(root)]
    report.class_names = classes
    report.split_files["all"] = _scan_classes(root, classes, {c: i for i, c in enumerate(classes)}, report)


def check_image_folder(path: Path | str) -> FolderReport:
    """Scan ``path`` and list what is in it and what is wrong; raises only for a missing path or a file."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"no such folder: {path}", "check the path, or use 'demo' for the built-in data")
    if not path.is_dir():
        raise DataError(f"{path} is a file, not a folder", LAYOUT_FIX)
    report = FolderReport(path=path, layout="none")
    subdirs = _subdirs(path)
    by_name = {d.name.lower(): d for d in subdirs}
    val_name = next((a for a in VAL_ALIASES if a in by_name), None)
    only_splits = set(by_name) <= {"train", "calib", *VAL_ALIASES}
    if "train" in by_name and val_name:
        roots = {"train": by_name["train"], "val": by_name[val_name]}
        if "calib" in by_name:
            roots["calib"] = by_name["calib"]
        _scan_train_val(path, roots, report)
    elif "train" in by_name and only_splits:
        report.notes.append("there is no val/ folder: validation and calibration images are taken from train/")
        if "calib" in by_name:
            report.problems.append("calib/ is ignored because there is no val/ folder — add val/ with one sub-folder per class")
        _scan_flat(by_name["train"], report)
    elif subdirs:
        _scan_flat(path, report)
    loose = sorted(f.name for f in path.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if loose:
        report.problems.append(
            f"{len(loose)} image(s) directly in {path.name}/ are not in a class folder and are ignored: {_shown(loose)}"
        )
    if report.layout == "none":
        empty = not any(p for p in path.iterdir() if not p.name.startswith("."))
        report.problems.append(f"{path.name}/ is empty" if empty else f"{path.name}/ has no class sub-folders")
    for cls in report.class_names:
        if report.class_counts.get(cls, 0) == 0:
            report.problems.append(
                f"class {cls!r} has no readable images — it keeps its place in the class list (so labels keep their "
                "order) but cannot be scored; add images or remove the folder"
            )
    report.n_images = sum(report.class_counts.values())
    if report.mixed_sizes:
        report.notes.append(
            f"images come in {len(report.image_sizes)} sizes ({report.sizes_summary()}): the imagenet preset or an "
            "image size resizes them to one; the as-is preset cannot batch them"
        )
    return report
