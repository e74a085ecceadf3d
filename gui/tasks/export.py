"""Export tasks: the fit check before an export, and writing a bundle.

Payload: ``source`` is ``{"run_id", "workspace"}`` (a stored run) or
``{"model_spec", "data_spec", "load_options"}`` (the current model);
``target`` is a profile name or file; ``format`` a bundle format or None (the
target's default for the source). ``export`` adds ``out``, ``force``,
``ignore_fit``, ``parity_samples``, ``threads`` and ``latency_repeats``.

The model file a check makes is kept in ``ctx.cache`` (a few at a time), so
exporting right after the check ships that very file: an int8 model is
calibrated once, and the bundle is the one the check judged.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from core.store.workspace import pid_alive
from gui.tasks.base import TaskContext, task

KEEP_PREPARED = 3  # model files kept between a check and an export (an int8 resnet50 is ~25 MB)
SCRATCH_PREFIX = "edgeslim-prepared-"


def _scratch() -> Path:
    """A new folder for one kept model file, inside this process's own folder.

    The process's folder goes when it exits normally; the folders of workers
    that were killed (a cancel that did not stop in time) go the next time one
    is made.
    """
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


def _source(payload: dict, ctx: TaskContext) -> tuple[Any, tuple]:
    """(ExportSource, a key naming it for the cache) for the payload's ``source``."""
    from core.export.prepare import source_from_model, source_from_run

    src = payload["source"]
    if src.get("run_id") is not None:
        from core.store.workspace import Workspace

        with Workspace(src["workspace"], check_interrupted=False) as ws:
            row = ws.get_run(int(src["run_id"]))
            key = ("export-source", f"run:{ws.path}:{row.id}", row.finished, json.dumps(row.artifacts, sort_keys=True))
            if key not in ctx.cache:
                for old in [k for k in ctx.cache if k[0] == "export-source"]:
                    del ctx.cache[old]  # one run's model at a time
                ctx.cache[key] = source_from_run(ws, row.id)
            return ctx.cache[key], key
    from core.app.execute import RunRequest, load_inputs

    lo = dict(src.get("load_options") or {})
    model, data = load_inputs(RunRequest("", src["model_spec"], src["data_spec"], lo), ctx.cache)
    key = ("export-source", src["model_spec"], src["data_spec"], json.dumps(lo, sort_keys=True, default=str))
    return source_from_model(model, data), key


def _prepared_key(source_key: tuple, target, fmt: str) -> tuple:
    from core.export.prepare import preparation_key

    return ("export-prepared", source_key[1], source_key, preparation_key(target, fmt))


def _keep(ctx: TaskContext, key: tuple, folder: Path, prepared) -> None:
    """Cache ``prepared`` (its files live in ``folder``), dropping the oldest beyond KEEP_PREPARED."""
    ctx.cache[key] = (str(folder), prepared)
    kept = [k for k in ctx.cache if k[0] == "export-prepared"]
    for old in kept[:-KEEP_PREPARED]:
        old_folder, _ = ctx.cache.pop(old)
        shutil.rmtree(old_folder, ignore_errors=True)


def _cached(ctx: TaskContext, key: tuple):
    entry = ctx.cache.get(key)
    if entry is None or not all(Path(f).is_file() for f in entry[1].files):
        return None
    ctx.cache[key] = ctx.cache.pop(key)  # most recently used last
    return entry[1]


@task("export_check")
def export_check(payload: dict, ctx: TaskContext) -> dict:
    """ExportPreview.to_dict() of the source on the target; the file it made is kept for the export."""
    from core.export.preview import choose_format, preview_export
    from core.export.targets import get_target
    from core.jobs import sub_progress

    ctx.progress(0.0, "loading the model")
    source, source_key = _source(payload, ctx)
    target = get_target(payload["target"])
    fmt = choose_format(source, target, payload.get("format"))
    key = _prepared_key(source_key, target, fmt)
    prepared = _cached(ctx, key)
    folder = None if prepared is not None else _scratch()
    try:
        preview = preview_export(source, target, fmt, sub_progress(ctx.progress, 0.05, 1.0), ctx.cancel,
                                 prepared=prepared, workdir=folder)
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    if folder is not None:
        if preview.prepared is not None:
            _keep(ctx, key, folder, preview.prepared)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    out = preview.to_dict()
    out["target_label"] = target.label
    return out


@task("export")
def export(payload: dict, ctx: TaskContext) -> dict:
    """ExportResult.to_dict() plus the report's path and the seconds it took."""
    from core.export.bundle import export_bundle
    from core.export.preview import choose_format
    from core.export.targets import get_target

    started = time.monotonic()
    ctx.progress(0.0, "loading the model")
    source, source_key = _source(payload, ctx)
    target = get_target(payload["target"])
    fmt = choose_format(source, target, payload.get("format"))
    prepared = _cached(ctx, _prepared_key(source_key, target, fmt))
    result = export_bundle(
        source, target, payload["out"], fmt=fmt, force=bool(payload.get("force")), ignore_fit=bool(payload.get("ignore_fit")),
        parity_samples=int(payload.get("parity_samples", 1000)), threads=int(payload.get("threads", 2)),
        latency_repeats=int(payload.get("latency_repeats", 30)), prepared=prepared, progress=ctx.progress, cancel=ctx.cancel,
    )
    out = result.to_dict()
    out.update(target_label=target.label, report=str(result.out / "report.html"), card=str(result.out / "model.json"),
               seconds=time.monotonic() - started, reused_check=prepared is not None)
    return out
