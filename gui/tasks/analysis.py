"""Sweeps and sensitivity analyses, run for the Explore page.

``sweep`` runs a sweep file (the base recipe inline) with the executor the user
chose and posts every finished trial, so the plots grow while it runs.
``sensitivity`` runs core's per-layer analysis on the loaded model and data.
Both hand back plain data: the window reads the stored runs from the workspace.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from pathlib import Path

from core.errors import EdgeSlimError
from gui.tasks.base import TaskContext, task

EXECUTOR_KINDS = ("inprocess", "pool", "dask")


def make_executor(spec: dict, cache: dict):
    """The executor ``{"kind": "inprocess" | "pool" | "dask", "workers": N, "address": ...}`` asks for."""
    from core.pipeline.executors import DaskExecutor, InProcessExecutor, ProcessPoolExecutor

    kind = (spec or {}).get("kind", "inprocess")
    if kind == "inprocess":
        return InProcessExecutor(cache=cache)  # trials share the worker's loaded model and data
    if kind == "pool":
        return ProcessPoolExecutor(int(spec.get("workers") or 2))
    if kind == "dask":
        address = str(spec.get("address") or "").strip()
        if not address:
            raise EdgeSlimError("no Dask scheduler address", "give tcp://HOST:PORT, or local:N for a cluster on this machine")
        return DaskExecutor(address)
    raise EdgeSlimError(f"unknown executor {kind!r}", f"use one of: {', '.join(EXECUTOR_KINDS)}")


@contextlib.contextmanager
def _children_allowed():
    """Let this process start worker processes for the sweep.

    The app's worker is a daemon process (it must end with the window), and
    multiprocessing refuses children to daemons; the pool it starts is shut
    down (or killed, on cancel) before the task returns, so none outlives it.
    """
    proc = multiprocessing.current_process()
    was = proc.daemon
    proc.daemon = False
    try:
        yield
    finally:
        proc.daemon = was


def _terminate_on_cancel(executor, cancel, finished: threading.Event) -> threading.Thread:
    """Kill local trial processes as soon as Cancel is pressed: a running trial cannot be interrupted otherwise,
    and the window kills this process a few seconds after a cancel (which would orphan them)."""

    def watch() -> None:
        while not finished.wait(0.1):
            if cancel is not None and cancel.cancelled:
                executor.terminate()
                return

    thread = threading.Thread(target=watch, name="edgeslim-sweep-cancel", daemon=True)
    thread.start()
    return thread


def _close_stopped_runs(workspace: Path, sweep_id: int) -> None:
    """Runs left "running" by trial processes killed on cancel are stored as cancelled."""
    from core.store.workspace import Workspace

    with Workspace(workspace, check_interrupted=False) as ws:
        for row in ws.list_runs(status="running", sweep_id=sweep_id):
            ws.finish_run(row.id, "cancelled", error="cancelled by the user (its worker process was stopped)")


@task("sweep")
def sweep(payload: dict, ctx: TaskContext) -> dict:
    from core.pipeline.runner import RunOptions
    from core.pipeline.sweep import parse_sweep, run_sweep, trial_name

    spec = parse_sweep(payload["sweep_toml"], Path(payload.get("base_dir") or "."), source="sweep")
    total = spec.size()
    done = [0]

    def on_trial(tr) -> None:
        done[0] += 1
        ctx.post("trial", {**tr.to_dict(), "name": trial_name(spec.name, tr.point), "total": total})
        ctx.post("sweep_progress", {"done": done[0], "total": total})

    workspace = Path(payload["workspace"])
    ctx.post("sweep_progress", {"done": 0, "total": total})
    finished = threading.Event()
    with _children_allowed():
        executor = make_executor(payload.get("executor") or {}, ctx.cache)
        watcher = _terminate_on_cancel(executor, ctx.cancel, finished)
        try:
            outcome = run_sweep(
                spec, workspace, payload["model_spec"], payload["data_spec"],
                load_options=dict(payload.get("load_options") or {}), options=RunOptions(**(payload.get("options") or {})),
                executor=executor, progress=ctx.progress, cancel=ctx.cancel, on_trial=on_trial,
            )
        finally:
            finished.set()
            watcher.join(1.0)
    if outcome.status == "cancelled":
        _close_stopped_runs(workspace, outcome.sweep_id)
    return {**outcome.to_dict(), "name": spec.name, "total": total}


@task("sensitivity")
def sensitivity(payload: dict, ctx: TaskContext) -> dict:
    from core.jobs import sub_progress
    from core.metrics import check_compatible
    from core.pipeline.sensitivity import PRUNE, QUANT, prune_sensitivity, quant_sensitivity
    from core.app.execute import RunRequest, load_inputs

    technique = payload.get("technique")
    if technique not in (PRUNE, QUANT):
        raise EdgeSlimError(f"sensitivity analysis does not cover {technique!r}", f"use {PRUNE} or {QUANT}")
    s = dict(payload.get("settings") or {})
    ctx.progress(0.0, "loading the model and data")
    model, data = load_inputs(RunRequest("", payload["model_spec"], payload["data_spec"], dict(payload.get("load_options") or {})),
                              ctx.cache)
    check_compatible(model, data)
    common = {"layers": s.get("layers") or None, "eval_batches": s.get("eval_batches") or None,
              "threshold": float(s.get("threshold", 1.0)), "progress": sub_progress(ctx.progress, 0.02, 1.0), "cancel": ctx.cancel}
    if technique == PRUNE:
        report = prune_sensitivity(model, data, ratio=float(s.get("ratio", 0.5)), importance=s.get("importance", "l1"), **common)
    else:
        report = quant_sensitivity(model, data, method=s.get("method", "exclude_one"),
                                   calibration_samples=int(s.get("calibration_samples", 128)), **common)
    return {**report.to_dict(), "model": model.name, "data": data.name}
