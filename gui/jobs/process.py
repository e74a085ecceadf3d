"""The worker child process: runs, sweeps, exports and evaluations away from the window's interpreter.

Some calls inside a run hold Python's GIL for up to a second (the ONNX
exporter, creating ONNX Runtime sessions): on a thread of the GUI process they
would freeze the window. A spawned child has its own interpreter, so the window
stays responsive whatever the run does; a crash in a native library ends the
child, not the window; and Cancel is immediate even inside a call that cannot
be interrupted — the token is set first (the run stops at the end of the batch
and stores what it finished), and a child that has not stopped a few seconds
later is killed and its runs stored as cancelled.

The child is started once (on first use) and kept, with the loaded model and
dataset cached between tasks. Requests and events cross as the dataclasses
themselves (``core.app.worker_tasks``); the child's tasks are core's. This
module does not import Qt (the child imports it).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import pickle
import queue
import threading
import time
from pathlib import Path
from typing import Any, Optional

from core.app.events import Done, Emit, Failed, Progress
from core.errors import EdgeSlimError
from core.jobs import Cancelled, CancelToken

log = logging.getLogger("edgeslim.gui")

KILL_AFTER_S = 4.0  # after Cancel, a child that has not stopped by then is killed
PROGRESS_EVERY_S = 0.05  # progress from the child, at most this often (unless the text changes)
ENGINE = "engine"  # Progress.stage of work that reports nothing until PyTorch has been imported


class WorkerDied(EdgeSlimError):
    """The child process ended without reporting (a crash in a native library, or killed)."""


# --------------------------------------------------------------------------- the child


def _serve(requests, events, cancel_event) -> None:  # pragma: no cover - runs in the child process
    """The child's loop: import the engine once, then run one request at a time until ``None``."""
    try:
        import torch  # noqa: F401

        import core.app.worker_tasks  # noqa: F401  (registers the tasks)
        import core.techniques  # noqa: F401
    except BaseException as exc:
        events.put(("fatal", f"the worker could not start: {type(exc).__name__}: {exc}"))
        return
    events.put(("ready", None))
    cache: dict = {}
    stamps: dict = {}
    parent = mp.parent_process()
    while True:
        try:
            item = requests.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return  # the window died without saying goodbye (a crash, kill -9): do not linger holding memory
            continue
        if item is None:
            return
        _one(item, events, cancel_event, cache, stamps)


def _one(request: Any, events, cancel_event, cache: dict, stamps: dict) -> None:  # pragma: no cover - child
    """One request in the child, its cancel token set from the parent's event by a watcher thread."""
    from core.app.worker_tasks import WorkerContext, run_task, specs_of

    token = CancelToken()
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            if cancel_event.wait(0.05):
                token.cancel()
                return

    watcher = threading.Thread(target=watch, name="edgeslim-cancel-watch", daemon=True)
    watcher.start()
    last = [0.0, ""]

    def send(event: Any) -> None:
        if isinstance(event, Progress):
            now = time.monotonic()
            if event.message == last[1] and now - last[0] < PROGRESS_EVERY_S and event.fraction < 1.0:
                return
            last[0], last[1] = now, event.message
        try:
            pickle.dumps(event)
        except Exception as exc:  # a result that cannot cross: say so rather than lose the end of the task
            event = Failed(RuntimeError(f"the worker could not send {type(event).__name__}: {exc}")) \
                if isinstance(event, (Done, Failed)) else None
        if event is not None:
            events.put(("event", event))

    try:
        _fresh_cache(cache, stamps, specs_of(request))
        run_task(request, WorkerContext(send, token, cache))
    finally:
        finished.set()
        watcher.join(1.0)
        cancel_event.clear()


def _fresh_cache(cache: dict, stamps: dict, specs: tuple) -> None:
    """Drop cached models or datasets whose files changed on disk since they were loaded."""
    for spec in specs:
        path = Path(str(spec)).expanduser() if spec else None
        if path is None or not path.exists():
            continue
        stamp = path.stat().st_mtime_ns
        if stamps.get(spec) not in (None, stamp):
            for key in [k for k in cache if isinstance(k, tuple) and len(k) > 1 and getattr(k[1], "spec", k[1]) == spec]:
                del cache[key]
        stamps[spec] = stamp


# --------------------------------------------------------------------------- the parent's handle


class WorkerProcess:
    """The window's handle on its child process. ``execute`` blocks (the job controller calls it from a pool thread)."""

    def __init__(self) -> None:
        self._ctx = mp.get_context("spawn")  # never fork a process that runs Qt and torch threads
        self._proc = None
        self._requests = self._events = self._cancel = None
        self._lock = threading.Lock()  # one request at a time
        self._ready = False

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def start(self) -> None:
        """Start the child if it is not running (it imports torch in the background)."""
        if self.alive():
            return
        self._requests, self._events, self._cancel = self._ctx.Queue(), self._ctx.Queue(), self._ctx.Event()
        self._ready = False
        proc = self._ctx.Process(target=_serve, args=(self._requests, self._events, self._cancel),
                                 name="edgeslim-worker", daemon=True)
        proc.start()  # raises before anything is kept when the process cannot start
        self._proc = proc

    def stop(self, timeout: float = 0.5) -> None:
        """End the child: asked to leave, then killed (an idle child holds nothing that needs closing)."""
        proc = self._proc
        if proc is None:
            return
        if proc.is_alive():
            try:
                self._cancel.set()
                self._requests.put(None)
            except (OSError, ValueError):
                pass
            proc.join(timeout)
        self._kill()

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
            for q in (self._requests, self._events):
                try:
                    q.close()
                    q.cancel_join_thread()
                except (OSError, ValueError, AttributeError):
                    pass
        self._proc = None
        self._ready = False

    def execute(self, request: Any, emit: Emit, cancel: CancelToken) -> None:
        """Run ``request`` in the child, passing its events to ``emit``; always ends with one Done or Failed.

        A child killed after a Cancel it did not obey has its runs stored as
        cancelled; a child that died by itself has them marked interrupted.
        """
        with self._lock:
            try:
                self._execute(request, emit, cancel)
            except BaseException as exc:  # the pipe to the child broke, or it could not start
                emit(Failed(exc if isinstance(exc, EdgeSlimError) else WorkerDied(
                    f"the worker process failed: {type(exc).__name__}: {exc}", "try again")))

    def _execute(self, request: Any, emit: Emit, cancel: CancelToken) -> None:
        from core.app.interrupted import cancel_stopped_runs, mark_dead_runs
        from core.app.worker_tasks import workspace_of

        if cancel.cancelled:
            emit(Failed(Cancelled("cancelled by the user"), cancelled=True))
            return
        self.start()
        if not self._ready:
            emit(Progress(0.0, "starting the worker process (PyTorch)", ENGINE))
        self._cancel.clear()
        self._requests.put(request)
        workspace = workspace_of(request)
        cancel_sent_at: Optional[float] = None
        while True:
            if cancel.cancelled and cancel_sent_at is None:
                self._cancel.set()
                cancel_sent_at = time.monotonic()
            if cancel_sent_at is not None and time.monotonic() - cancel_sent_at > KILL_AFTER_S:
                log.warning("the worker did not stop %.0f s after cancel: killing it", KILL_AFTER_S)
                pid = self.pid
                self._kill()
                if workspace and pid is not None:
                    cancel_stopped_runs(workspace, pid=pid)
                emit(Failed(Cancelled("cancelled by the user (the worker process was stopped)"), cancelled=True))
                return
            try:
                kind, data = self._events.get(timeout=0.05)
            except queue.Empty:
                if not self.alive():
                    code = self._proc.exitcode if self._proc is not None else None
                    self._kill()
                    if workspace:
                        mark_dead_runs(workspace)  # the run the dead child left "running"
                    if cancel.cancelled:
                        emit(Failed(Cancelled("cancelled by the user"), cancelled=True))
                    else:
                        emit(Failed(WorkerDied(
                            f"the worker process stopped unexpectedly (exit code {code}) — a crash in PyTorch or ONNX Runtime",
                            "the window is unaffected; try again, or run the recipe with edgeslim-cli to see the full error")))
                    return
                continue
            if kind == "ready":
                self._ready = True
            elif kind == "fatal":
                self._kill()
                emit(Failed(WorkerDied(data, "check the installation: edgeslim-cli techniques should list the techniques")))
                return
            elif kind == "event":
                if isinstance(data, Failed) and getattr(data.error, "trace", None):
                    log.error("worker task %s failed:\n%s", type(request).__name__, data.error.trace)
                emit(data)
                if isinstance(data, (Done, Failed)):
                    return
