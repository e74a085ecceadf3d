"""Run recipes and evaluations in a child process, so the window never waits on torch or ONNX Runtime.

Some calls inside a run hold Python's GIL for up to a second (the ONNX
exporter, creating ONNX Runtime sessions): on a thread of the GUI process they
would freeze the window. A spawned child process has its own interpreter, so
the window stays responsive whatever the run does; a crash in a native library
ends the child, not the window; and Cancel is immediate even inside a call
that cannot be interrupted — the token is set first (the run stops at the end
of the batch and stores what it finished), and a child that has not stopped a
few seconds later is killed and its run stored as cancelled.

The child is started once (on first use) and kept, with the loaded model and
dataset cached between tasks. The request is plain data — the same
:class:`core.app.execute.RunRequest` the CLI and the sweeps use — and
results land in the workspace from the child; the window reads them back from
there. This module does not import Qt (the child imports it).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import threading
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Optional

from core.errors import EdgeSlimError
from core.jobs import Cancelled, CancelToken, ProgressFn
from gui.tasks.base import TaskContext

log = logging.getLogger("edgeslim.gui")

KILL_AFTER_S = 4.0  # after Cancel, a child that has not stopped by then is killed
PROGRESS_EVERY_S = 0.05  # progress messages from the child, at most this often (unless the text changes)
EventFn = Callable[[str, Any], None]


class WorkerDied(EdgeSlimError):
    """The child process ended without reporting (a crash in a native library, or killed)."""


# --------------------------------------------------------------------------- the child


def _serve(requests, events, cancel_event) -> None:  # pragma: no cover - runs in the child process
    """The child's loop: import the engine once, then run one task per request until ``None``."""
    try:
        import torch  # noqa: F401

        import core.app.execute  # noqa: F401
        import core.techniques  # noqa: F401
        import gui.tasks  # noqa: F401
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
        _task(*item, events, cancel_event, cache, stamps)


def _task(kind: str, payload: dict, events, cancel_event, cache: dict, stamps: dict) -> None:  # pragma: no cover - child
    """One task in the child, its cancel token set from the parent's event by a watcher thread."""
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

    def progress(fraction: float, message: str) -> None:
        now = time.monotonic()
        if message != last[1] or now - last[0] >= PROGRESS_EVERY_S or fraction >= 1.0:
            last[0], last[1] = now, message
            events.put(("progress", (float(fraction), message)))

    try:
        _fresh_cache(cache, stamps, payload)
        if kind == "sleep":  # holds the worker without looking at cancel, like a long native call (tests the kill)
            time.sleep(float(payload.get("seconds", 60)))
            result = None
        elif kind == "crash":  # dies the way a segfault in a native library does (tests that the window survives)
            import os

            os.abort()
        else:
            from gui.tasks import run_task

            result = run_task(kind, payload, TaskContext(progress, token, lambda event, data: events.put((event, data)), cache))
        events.put(("done", result))
    except Cancelled:
        events.put(("cancelled", None))
    except EdgeSlimError as exc:
        events.put(("error", (str(exc), True)))
    except BaseException as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        events.put(("error", (f"{type(exc).__name__}: {first}\n{traceback.format_exc()}", False)))
    finally:
        finished.set()
        watcher.join(1.0)
        cancel_event.clear()


def _fresh_cache(cache: dict, stamps: dict, payload: dict) -> None:
    """Drop cached models or datasets whose files changed on disk since they were loaded."""
    for spec in (payload.get("model_spec"), payload.get("data_spec")):
        path = Path(str(spec)).expanduser() if spec else None
        if path is None or not path.exists():
            continue
        stamp = path.stat().st_mtime_ns
        if stamps.get(spec) not in (None, stamp):
            for key in [k for k in cache if k[1] == spec]:
                del cache[key]
        stamps[spec] = stamp


# --------------------------------------------------------------------------- the parent's handle


class RunWorker:
    """The window's handle on its child process. ``execute`` blocks (call it from a worker thread)."""

    def __init__(self) -> None:
        self._ctx = mp.get_context("spawn")  # never fork a process that runs Qt and torch threads
        self._proc = None
        self._requests = self._events = self._cancel = None
        self._lock = threading.Lock()  # one task at a time
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

    def execute(
        self,
        kind: str,
        payload: dict,
        *,
        progress: ProgressFn,
        cancel: CancelToken,
        on_event: Optional[EventFn] = None,
        on_kill: Optional[Callable[[int], None]] = None,
    ) -> Any:
        """Run one task in the child and return its result; raises Cancelled, EdgeSlimError or WorkerDied.

        ``on_kill(pid)`` is called after a cancelled child had to be killed (to store its run as cancelled).
        """
        while not self._lock.acquire(timeout=0.1):
            progress(0.0, "waiting for the running task to end")
            cancel.raise_if_cancelled()
        try:
            return self._execute(kind, payload, progress, cancel, on_event, on_kill)
        finally:
            self._lock.release()

    def _execute(self, kind, payload, progress, cancel, on_event, on_kill) -> Any:
        cancel.raise_if_cancelled()
        self.start()
        if not self._ready:
            progress(0.0, "starting the worker process (PyTorch)")
        self._cancel.clear()
        self._requests.put((kind, payload))
        cancel_sent_at: Optional[float] = None
        while True:
            if cancel.cancelled and cancel_sent_at is None:
                self._cancel.set()
                cancel_sent_at = time.monotonic()
            if cancel_sent_at is not None and time.monotonic() - cancel_sent_at > KILL_AFTER_S:
                log.warning("the worker did not stop %.0f s after cancel: killing it", KILL_AFTER_S)
                pid = self.pid
                self._kill()
                if on_kill is not None and pid is not None:
                    on_kill(pid)
                raise Cancelled("cancelled by the user (the worker process was stopped)")
            try:
                event, data = self._events.get(timeout=0.05)
            except queue.Empty:
                if not self.alive():
                    code = self._proc.exitcode if self._proc is not None else None
                    self._kill()
                    if cancel.cancelled:
                        raise Cancelled("cancelled by the user") from None
                    raise WorkerDied(
                        f"the worker process stopped unexpectedly (exit code {code}) — a crash in PyTorch or ONNX Runtime",
                        "the window is unaffected; try again, or run the recipe with edgeslim-cli to see the full error",
                    ) from None
                continue
            if event == "ready":
                self._ready = True
            elif event == "progress":
                progress(*data)
            elif event == "done":
                return data
            elif event == "cancelled":
                raise Cancelled("cancelled by the user")
            elif event == "error":
                message, is_input_error = data
                if is_input_error:
                    raise EdgeSlimError(message)
                first, _, trace = message.partition("\n")
                log.error("worker task %s failed:\n%s", kind, trace)
                raise RuntimeError(first)
            elif event == "fatal":
                self._kill()
                raise WorkerDied(data, "check the installation: edgeslim-cli techniques should list the techniques")
            elif on_event is not None:
                on_event(event, data)


def request_payload(request) -> dict:
    """A RunRequest as plain data for the child."""
    return {**asdict(request), "options": asdict(request.options)}
