"""What the window's worker process runs: one typed request in, typed events out.

A request is a frozen dataclass (it crosses the process boundary pickled); the
task registered for its type calls a core service and reports through
``ctx.emit`` — Progress, StageStarted, PartialResult — then returns the result.
:func:`run_task` ends every task with one Done or Failed event, whose error is
the exception itself (an :class:`EdgeSlimError` keeps its type and its fix, so
the window words the fix for its controls and knows an untrusted pickle by its
type). ``ctx.cache`` keeps loaded models, datasets and prepared export files
between tasks in the same process. Qt-free: the worker child imports it.
"""

from __future__ import annotations

import contextlib
import copyreg
import multiprocessing
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from core.app.events import Done, Emit, Failed, PartialResult, Progress
from core.app.execute import RunRequest
from core.app.export import ExportCheck, ExportJob
from core.app.sources import DataSource, ModelSource
from core.errors import EdgeSlimError
from core.jobs import Cancelled, CancelToken
from core.pipeline.runner import RunOptions

TaskFn = Callable[[Any, "WorkerContext"], Any]
TASKS: dict[type, TaskFn] = {}


@dataclass
class WorkerContext:
    emit: Emit
    cancel: CancelToken
    cache: dict = field(default_factory=dict)

    def progress(self, fraction: float, message: str) -> None:
        """A ``progress(fraction, message)`` callback for core functions that take one."""
        self.emit(Progress(float(fraction), message))


def task(request_type: type) -> Callable[[TaskFn], TaskFn]:
    """Register ``fn(request, ctx) -> result`` as what the worker does with a ``request_type``."""

    def register(fn: TaskFn) -> TaskFn:
        TASKS[request_type] = fn  # re-registering (a module imported twice under two names) replaces
        return fn

    return register


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Evaluate:
    """Measure the model as it is (accuracy, size, MACs, latency) on the data's validation split."""

    model: ModelSource
    data: DataSource
    options: RunOptions = RunOptions()


@dataclass(frozen=True)
class Run:
    """One recipe run stored in ``workspace`` (``reuse``: show an identical finished run instead)."""

    workspace: str
    request: RunRequest
    reuse: bool = True


@dataclass(frozen=True)
class ExecutorChoice:
    """Where a sweep's trials run: ``inprocess``, ``pool`` (``workers`` processes) or ``dask`` (``address``)."""

    kind: str = "inprocess"
    workers: int = 2
    address: str = ""


@dataclass(frozen=True)
class Sweep:
    workspace: str
    sweep_toml: str
    model: ModelSource
    data: DataSource
    options: RunOptions = RunOptions()
    executor: ExecutorChoice = ExecutorChoice()
    base_dir: str = "."


@dataclass(frozen=True)
class Sensitivity:
    """Per-layer sensitivity of ``technique`` (``settings``: the analysis' keywords, as the window's form gives them)."""

    model: ModelSource
    data: DataSource
    technique: str
    settings: tuple = ()  # (name, value) pairs: hashable and picklable

    def keywords(self) -> dict:
        return dict(self.settings)


def workspace_of(request: Any) -> Optional[str]:
    """The workspace a request writes runs to (runs of a killed worker are closed there)."""
    return getattr(request, "workspace", None)


def specs_of(request: Any) -> tuple[str, ...]:
    """The model and data specs a request reads (cached copies of files that changed since are dropped)."""
    if isinstance(request, Run):
        return request.request.model.spec, request.request.data.spec
    if isinstance(request, ExportCheck):
        return request.source.specs()
    if isinstance(request, ExportJob):
        return request.check.source.specs()
    return tuple(s.spec for s in (getattr(request, "model", None), getattr(request, "data", None)) if s is not None)


# --------------------------------------------------------------------------- running one


def load_sources(model: ModelSource, data: DataSource, cache: Optional[dict] = None) -> tuple:
    """(model, data in the model's label space), through the worker's cache."""
    from core.app.execute import load_inputs

    return load_inputs(RunRequest("", model, data), cache)


def run_task(request: Any, ctx: WorkerContext) -> Any:
    """Run the task for ``request``; emits Done(result), or Failed(error) and re-raises nothing."""
    try:
        fn = TASKS[type(request)]
    except KeyError:
        ctx.emit(Failed(ValueError(f"no worker task for {type(request).__name__}")))
        return None
    final = ctx.emit
    inner = WorkerContext(lambda event: None if isinstance(event, (Done, Failed)) else final(event), ctx.cancel, ctx.cache)
    try:  # a service that ends its own events with Done/Failed must not end the task early: only this one does
        result = fn(request, inner)
    except Cancelled as exc:
        ctx.emit(Failed(exc, cancelled=True))
        return None
    except EdgeSlimError as exc:
        ctx.emit(Failed(sendable(exc)))
        return None
    except BaseException as exc:  # never a traceback in the window: a short message, the trace kept with it
        first = str(exc).splitlines()[0] if str(exc) else ""
        error = RuntimeError(f"{type(exc).__name__}: {first}")
        error.trace = traceback.format_exc()  # type: ignore[attr-defined]
        ctx.emit(Failed(error))
        return None
    ctx.emit(Done(result))
    return result


def _rebuild(cls: type, problem: str, fix: str, state: dict) -> EdgeSlimError:
    exc = cls.__new__(cls)
    EdgeSlimError.__init__(exc, problem, fix)
    exc.__dict__.update(state)
    return exc


def _reduce(exc: EdgeSlimError):
    state = {k: v for k, v in exc.__dict__.items() if k not in ("problem", "fix")}
    return _rebuild, (type(exc), exc.problem, exc.fix, state)


def sendable(exc: EdgeSlimError) -> EdgeSlimError:
    """``exc``, made to cross a process boundary with its problem and fix intact (not only its CLI wording).

    An exception pickles as its class called with ``args``; EdgeSlimError's
    ``args`` is its rendered message, so its type's fix would come back in the
    CLI's words. Registering a reducer for each error class keeps both parts.
    """
    todo = [EdgeSlimError]
    while todo:
        cls = todo.pop()
        copyreg.pickle(cls, _reduce)
        todo.extend(cls.__subclasses__())
    return exc


# --------------------------------------------------------------------------- the tasks


@task(Evaluate)
def evaluate(request: Evaluate, ctx: WorkerContext) -> dict:
    from core.metrics.measure import measure_model

    model, data = load_sources(request.model, request.data, ctx.cache)
    metrics = measure_model(model, data, timing=request.options.timing, progress=ctx.progress, cancel=ctx.cancel)
    out = metrics.to_dict()
    out.pop("latency", None)
    return out


@task(Run)
def run(request: Run, ctx: WorkerContext) -> dict:
    from core.app.execute import execute_run
    from core.store.workspace import Workspace

    with Workspace(request.workspace, check_interrupted=False) as ws:
        done = execute_run(ws, request.request, reuse=request.reuse, cancel=ctx.cancel, cache=ctx.cache, emit=ctx.emit)
        return {"run_id": done.row.id, "reused": done.reused, "status": done.row.status, "note": done.note}


@task(ExportCheck)
def export_check(request: ExportCheck, ctx: WorkerContext) -> dict:
    from core.app import export

    return export.export_check(request, ctx.progress, ctx.cancel, ctx.cache, lambda m, d: load_sources(m, d, ctx.cache))


@task(ExportJob)
def export_bundle(request: ExportJob, ctx: WorkerContext) -> dict:
    from core.app import export

    return export.export(request, ctx.progress, ctx.cancel, ctx.cache, lambda m, d: load_sources(m, d, ctx.cache))


@task(Sensitivity)
def sensitivity(request: Sensitivity, ctx: WorkerContext) -> dict:
    from core.jobs import sub_progress
    from core.metrics import check_compatible
    from core.pipeline.sensitivity import PRUNE, QUANT, prune_sensitivity, quant_sensitivity

    technique = request.technique
    if technique not in (PRUNE, QUANT):
        raise EdgeSlimError(f"sensitivity analysis does not cover {technique!r}", f"use {PRUNE} or {QUANT}")
    s = request.keywords()
    ctx.progress(0.0, "loading the model and data")
    model, data = load_sources(request.model, request.data, ctx.cache)
    check_compatible(model, data)
    common = {"layers": s.get("layers") or None, "eval_batches": s.get("eval_batches") or None,
              "threshold": float(s.get("threshold", 1.0)), "progress": sub_progress(ctx.progress, 0.02, 1.0), "cancel": ctx.cancel}
    if technique == PRUNE:
        report = prune_sensitivity(model, data, ratio=float(s.get("ratio", 0.5)), importance=s.get("importance", "l1"), **common)
    else:
        report = quant_sensitivity(model, data, method=s.get("method", "exclude_one"),
                                   calibration_samples=int(s.get("calibration_samples", 128)), **common)
    return {**report.to_dict(), "model": model.name, "data": data.name}


def make_executor(choice: ExecutorChoice, cache: dict):
    """The executor ``choice`` asks for; the in-process one shares the worker's loaded model and data."""
    from core.app.executors import DaskExecutor, InProcessExecutor, ProcessPoolExecutor

    if choice.kind == "inprocess":
        return InProcessExecutor(cache=cache)
    if choice.kind == "pool":
        return ProcessPoolExecutor(int(choice.workers or 2))
    if choice.kind == "dask":
        if not choice.address.strip():
            raise EdgeSlimError("no Dask scheduler address", "give tcp://HOST:PORT, or local:N for a cluster on this machine")
        return DaskExecutor(choice.address.strip())
    raise EdgeSlimError(f"unknown executor {choice.kind!r}", "use one of: inprocess, pool, dask")


@contextlib.contextmanager
def _children_allowed():
    """Let this (daemon) process start the sweep's pool; the pool is shut down or killed before the task returns."""
    proc = multiprocessing.current_process()
    was = proc.daemon
    proc.daemon = False
    try:
        yield
    finally:
        proc.daemon = was


def _terminate_on_cancel(executor, cancel: CancelToken, finished: threading.Event) -> threading.Thread:
    """Kill local trial processes as soon as Cancel is pressed (a running trial cannot be interrupted otherwise)."""

    def watch() -> None:
        while not finished.wait(0.1):
            if cancel.cancelled:
                executor.terminate()
                return

    thread = threading.Thread(target=watch, name="edgeslim-sweep-cancel", daemon=True)
    thread.start()
    return thread


@task(Sweep)
def sweep(request: Sweep, ctx: WorkerContext) -> dict:
    """Every trial as a stored run; each finished trial is a PartialResult("trial") so plots grow while it runs."""
    from core.app.interrupted import cancel_stopped_runs
    from core.app.sweep import run_sweep
    from core.pipeline.sweep import parse_sweep, trial_name

    spec = parse_sweep(request.sweep_toml, Path(request.base_dir), source="sweep")
    total = spec.size()
    done = [0]

    def on_trial(tr) -> None:
        done[0] += 1
        ctx.emit(PartialResult("trial", {**tr.to_dict(), "name": trial_name(spec.name, tr.point), "total": total,
                                         "done": done[0]}))

    def progress(fraction: float, message: str) -> None:  # a trial reports nothing until it ends: trials done / total
        ctx.emit(Progress(max(float(fraction), done[0] / max(total, 1)), message))

    ctx.emit(PartialResult("sweep", {"name": spec.name, "total": total, "done": 0}))
    finished = threading.Event()
    with _children_allowed():
        executor = make_executor(request.executor, ctx.cache)
        watcher = _terminate_on_cancel(executor, ctx.cancel, finished)
        try:
            outcome = run_sweep(spec, Path(request.workspace), request.model, request.data, options=request.options,
                                executor=executor, progress=progress, cancel=ctx.cancel, on_trial=on_trial)
        finally:
            finished.set()
            watcher.join(1.0)
    if outcome.status == "cancelled":  # runs left "running" by trial processes killed on cancel
        cancel_stopped_runs(request.workspace, sweep_id=outcome.sweep_id)
    return {**outcome.to_dict(), "name": spec.name, "total": total}
