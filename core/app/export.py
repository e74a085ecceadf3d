"""Export services for the front-ends: the fit check before an export, writing a bundle, and the folder rules.

The model file a check makes is kept in the caller's ``cache`` (a few at a
time), so exporting right after the check ships that very file: an int8 model
is calibrated once, and the bundle is the one the check judged. The cache lives
as long as the process that holds it (the window's worker process).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

from core.app.sources import DataSource, ModelSource
from core.jobs import CancelToken, ProgressFn, sub_progress

KEEP_PREPARED = 3  # model files kept between a check and an export (an int8 resnet50 is ~25 MB)
SCRATCH_PREFIX = "edgeslim-prepared-"


@dataclass(frozen=True)
class ExportFrom:
    """What is exported: a stored run's final model (``workspace`` + ``run_id``), or a model with its data."""

    workspace: Optional[str] = None
    run_id: Optional[int] = None
    model: Optional[ModelSource] = None
    data: Optional[DataSource] = None

    def specs(self) -> tuple[str, ...]:
        """The model and data specs it reads (the worker drops cached copies of files that changed)."""
        return tuple(s.spec for s in (self.model, self.data) if s is not None)


@dataclass(frozen=True)
class ExportCheck:
    """The fit check of ``source`` on ``target`` (a profile name or file) in ``format`` (None: the target's default)."""

    source: ExportFrom
    target: str
    format: Optional[str] = None


@dataclass(frozen=True)
class ExportJob:
    """Writing the bundle of ``check``'s choice to ``out``."""

    check: ExportCheck
    out: str
    force: bool = False
    ignore_fit: bool = False
    parity_samples: int = 1000
    threads: int = 2
    latency_repeats: int = 30


# --------------------------------------------------------------------------- the bundle folder


def slug(text: str) -> str:
    """A folder-name-safe version of ``text`` ("int8 static #3" -> "int8-static-3")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._") or "model"


def default_folder(base: Path, name: str, target: str) -> Path:
    """``base/<name>-<target>``, numbered when that folder already holds something."""
    first = base / f"{slug(name)}-{slug(target)}"
    candidate, n = first, 2
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        candidate = first.with_name(f"{first.name}-{n}")
        n += 1
    return candidate


def chosen_folder(folder: Path, name: str, target: str) -> Path:
    """A folder the user picked: itself when new, empty or an earlier bundle; else a new folder inside it."""
    folder = Path(folder).expanduser()
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "model.json").exists():
        return default_folder(folder, name, target)
    return folder


def holds_something(out: Optional[Path]) -> bool:
    """Whether writing to ``out`` would replace something (the window then offers "Replace")."""
    return bool(out and out.is_dir() and any(out.iterdir()))


def folder_problem(out: Optional[Path], replace: bool) -> str:
    """Why the bundle cannot go to ``out`` ("" when it can); ``replace``: the user allowed replacing a bundle."""
    from core.controls import ask

    if out is None:
        return f"choose {ask('out', action=False)} for the bundle"
    if out.exists() and not out.is_dir():
        return f"{out} is a file: choose a folder for the bundle"
    if holds_something(out) and not replace:
        return f"the folder is not empty: choose a new one, or {ask('force')} (only an earlier bundle is ever replaced)"
    return ""


# --------------------------------------------------------------------------- the prepared-model cache


def _scratch() -> Path:
    """A new folder for one kept model file, inside this process's own folder.

    The process's folder goes when it exits normally; the folders of processes
    that were killed (a cancel that did not stop in time) go the next time one
    is made.
    """
    from core.store.workspace import pid_alive

    root = Path(tempfile.gettempdir())
    mine = root / f"{SCRATCH_PREFIX}{os.getpid()}"
    if not mine.is_dir():
        for old in root.glob(f"{SCRATCH_PREFIX}*"):
            pid = old.name[len(SCRATCH_PREFIX):]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        mine.mkdir()
        from multiprocessing.util import Finalize

        Finalize(None, shutil.rmtree, args=(str(mine),), kwargs={"ignore_errors": True}, exitpriority=0)
    return Path(tempfile.mkdtemp(dir=mine))


Loader = Callable[[ModelSource, DataSource], tuple]


def _load_uncached(model: ModelSource, data: DataSource) -> tuple:
    loaded = model.load()
    return loaded, data.load(loaded)


def _source(src: ExportFrom, cache: dict, load: Loader) -> tuple[Any, tuple]:
    """(ExportSource, a key naming it for the cache); ``load`` opens a model and its data (the worker's cached loader)."""
    from core.export.prepare import source_from_model, source_from_run

    if src.run_id is not None:
        from core.store.workspace import Workspace

        with Workspace(src.workspace, check_interrupted=False) as ws:
            row = ws.get_run(int(src.run_id))
            key = ("export-source", f"run:{ws.path}:{row.id}", row.finished, json.dumps(row.artifacts, sort_keys=True))
            if key not in cache:
                for old in [k for k in cache if k[0] == "export-source"]:
                    del cache[old]  # one run's model at a time
                cache[key] = source_from_run(ws, row.id)
            return cache[key], key
    model, data = load(src.model, src.data)
    key = ("export-source", src.model.spec, src.data.spec, json.dumps([src.model.options(), src.data.options()], sort_keys=True))
    return source_from_model(model, data), key


def _prepared_key(source_key: tuple, target, fmt: str) -> tuple:
    from core.export.prepare import preparation_key

    return ("export-prepared", source_key[1], source_key, preparation_key(target, fmt))


def _keep(cache: dict, key: tuple, folder: Path, prepared) -> None:
    """Cache ``prepared`` (its files live in ``folder``), dropping the oldest beyond KEEP_PREPARED."""
    cache[key] = (str(folder), prepared)
    kept = [k for k in cache if k[0] == "export-prepared"]
    for old in kept[:-KEEP_PREPARED]:
        old_folder, _ = cache.pop(old)
        shutil.rmtree(old_folder, ignore_errors=True)


def _cached(cache: dict, key: tuple):
    entry = cache.get(key)
    if entry is None or not all(Path(f).is_file() for f in entry[1].files):
        return None
    cache[key] = cache.pop(key)  # most recently used last
    return entry[1]


# --------------------------------------------------------------------------- the services


def export_check(request: ExportCheck, progress: ProgressFn, cancel: Optional[CancelToken], cache: dict,
                 load: Loader = _load_uncached) -> dict:
    """ExportPreview.to_dict() (plus ``target_label``) of the source on the target; the file it made is kept."""
    from core.export.preview import choose_format, preview_export
    from core.export.targets import get_target

    progress(0.0, "loading the model")
    source, source_key = _source(request.source, cache, load)
    target = get_target(request.target)
    fmt = choose_format(source, target, request.format)
    key = _prepared_key(source_key, target, fmt)
    prepared = _cached(cache, key)
    folder = None if prepared is not None else _scratch()
    try:
        preview = preview_export(source, target, fmt, sub_progress(progress, 0.05, 1.0), cancel, prepared=prepared, workdir=folder)
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    if folder is not None:
        if preview.prepared is not None:
            _keep(cache, key, folder, preview.prepared)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    out = preview.to_dict()
    out["target_label"] = target.label
    return out


def export(request: ExportJob, progress: ProgressFn, cancel: Optional[CancelToken], cache: dict,
           load: Loader = _load_uncached) -> dict:
    """ExportResult.to_dict() plus the report's path, the seconds it took and whether the check's file was shipped."""
    from core.export.bundle import export_bundle
    from core.export.preview import choose_format
    from core.export.targets import get_target

    started = time.monotonic()
    progress(0.0, "loading the model")
    check = request.check
    source, source_key = _source(check.source, cache, load)
    target = get_target(check.target)
    fmt = choose_format(source, target, check.format)
    prepared = _cached(cache, _prepared_key(source_key, target, fmt))
    result = export_bundle(
        source, target, request.out, fmt=fmt, force=request.force, ignore_fit=request.ignore_fit,
        parity_samples=request.parity_samples, threads=request.threads, latency_repeats=request.latency_repeats,
        prepared=prepared, progress=progress, cancel=cancel,
    )
    out = result.to_dict()
    out.update(target_label=target.label, report=str(result.out / "report.html"), card=str(result.out / "model.json"),
               seconds=time.monotonic() - started, reused_check=prepared is not None)
    return out


def out_path(text: Union[str, Path, None]) -> Optional[Path]:
    """The folder a typed path names (None for nothing typed)."""
    text = str(text or "").strip()
    return Path(text).expanduser().absolute() if text else None
