"""The window's one way to start work: a request in, its typed events back on the GUI thread.

``jobs.start(request, on_event, title=…)`` returns a :class:`Job`. Where the
work runs follows from the request's type: a request with a worker task
(``core.app.worker_tasks``: runs, sweeps, evaluations, sensitivity, exports —
anything torch or ONNX Runtime may crash in) goes to the worker child process,
one at a time, through one queue; an :class:`InThread` (loading a model, a
dataset, the recipe estimate) runs on the thread pool. Every job ends with one
Done or Failed event (``Failed.cancelled`` after Cancel), then ``job.done``.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from core.app.events import Done, Emit, Failed
from core.errors import EdgeSlimError
from core.jobs import Cancelled, CancelToken
from gui.jobs.process import WorkerProcess

log = logging.getLogger("edgeslim.gui")

Handler = Callable[[Any], None]


@dataclass(frozen=True)
class InThread:
    """Work for a pool thread of the window's process: ``fn(emit, cancel) -> result``."""

    fn: Callable[[Emit, CancelToken], Any]


WORKER_KINDS = {"Run": "run", "Evaluate": "evaluate", "Sweep": "sweep", "Sensitivity": "sensitivity",
                "ExportCheck": "export-check", "ExportJob": "export"}  # core.app.worker_tasks' requests


def worker_kind(request: Any) -> Optional[str]:
    """The kind of a request the worker process runs ("run", "export-check", …); None for thread work.

    Anything but :class:`InThread` work is a request for the worker process
    (whose tasks are registered in ``core.app.worker_tasks``); known by its
    type's name so that the window never imports the engine to ask.
    """
    if isinstance(request, InThread):
        return None
    name = type(request).__name__
    return WORKER_KINDS.get(name, name.lower())


class _Signals(QObject):
    event = Signal(object)  # every event, in order, on the GUI thread
    done = Signal()  # after the last event's handlers have run


class Job:
    """One piece of work: its request, title and kind, its cancel token, and how it ended."""

    def __init__(self, request: Any, title: str, kind: str, quiet: bool, in_worker: bool) -> None:
        self.request, self.title, self.kind, self.quiet, self.in_worker = request, title, kind, quiet, in_worker
        self.token = CancelToken()
        self.signals = _Signals()
        self.ended = False
        self.result: Any = None
        self.error: Optional[BaseException] = None  # the Failed event's error

    @property
    def event(self):
        return self.signals.event

    @property
    def done(self):
        return self.signals.done

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    def cancel(self) -> None:
        self.token.cancel()

    def emit(self, event: Any) -> None:
        """Send an event to the GUI thread (callable from any thread)."""
        self.signals.event.emit(event)


class _Runnable(QRunnable):
    def __init__(self, job: Job, worker: Optional[WorkerProcess]) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the controller keeps it until the job ends
        self.job, self.worker = job, worker

    def run(self) -> None:  # pool thread
        job = self.job
        if self.worker is not None:
            self.worker.execute(job.request, job.emit, job.token)
            return
        try:
            result = job.request.fn(job.emit, job.token)
        except Cancelled as exc:
            job.emit(Failed(exc, cancelled=True))
        except EdgeSlimError as exc:
            job.emit(Failed(exc))
        except Exception as exc:  # never let a thread take the window down
            log.error("job %r failed:\n%s", job.title, traceback.format_exc())
            first = str(exc).splitlines()[0] if str(exc) else ""
            job.emit(Failed(RuntimeError(f"{job.title} failed unexpectedly: {type(exc).__name__}: {first}")))
        else:
            job.emit(Done(result))


class JobController(QObject):
    """Starts jobs, queues worker requests one at a time, and keeps every job alive until it ends."""

    started = Signal(object)  # Job
    ended = Signal(object)  # Job

    def __init__(self, worker: Optional[WorkerProcess] = None, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool.globalInstance()
        self.worker = worker or WorkerProcess()
        self.active: list[Job] = []  # started or waiting for the worker
        self._waiting: list[Job] = []
        self._in_worker: Optional[Job] = None
        self._runnables: dict[int, _Runnable] = {}
        self.closed = False  # after shutdown() nothing starts: a job asked for ends at once, cancelled

    # ------------------------------------------------------------------ starting

    def start(self, request: Any, on_event: Optional[Handler] = None, *, title: str = "", kind: str = "",
              quiet: bool = False, replace: bool = False) -> Job:
        """Start (or queue) ``request``; ``on_event(event)`` gets its events on the GUI thread.

        ``replace``: a newer request of the same kind supersedes the older —
        one still waiting is dropped, one running is cancelled (a fit check
        for a choice the user has already changed).
        """
        wkind = worker_kind(request)
        job = Job(request, title or kind or wkind or "work", kind or wkind or "thread", quiet, wkind is not None)
        if replace:
            self.cancel_kind(job.kind)
        if on_event is not None:
            job.event.connect(on_event)
        job.event.connect(lambda event, j=job: self._event(j, event))
        self.active.append(job)
        self.started.emit(job)
        if self.closed:
            job.cancel()
            QTimer.singleShot(0, lambda: job.emit(Failed(Cancelled("the window is closing"), cancelled=True)))
        elif job.in_worker:
            self._waiting.append(job)
            self._next()
        else:
            self._launch(job, None)
        return job

    def _launch(self, job: Job, worker: Optional[WorkerProcess]) -> None:
        runnable = _Runnable(job, worker)
        self._runnables[id(job)] = runnable
        self.pool.start(runnable)

    def _next(self) -> None:
        if self._in_worker is not None or not self._waiting:
            return
        job = self._waiting.pop(0)
        self._in_worker = job
        self._launch(job, self.worker)

    def _event(self, job: Job, event: Any) -> None:
        if job.ended or not isinstance(event, (Done, Failed)):
            return
        job.ended = True
        job.result = event.result if isinstance(event, Done) else None
        job.error = event.error if isinstance(event, Failed) else None
        self._runnables.pop(id(job), None)
        if job in self.active:
            self.active.remove(job)
        if self._in_worker is job:
            self._in_worker = None
        job.done.emit()
        self.ended.emit(job)
        # the job's slots and the job form a cycle; a collection on a pool thread would delete the signals object
        # from that thread and crash Qt: delete it here, on the GUI thread, once queued emissions have run
        job.signals.deleteLater()
        self._next()

    # ------------------------------------------------------------------ cancelling and waiting

    def cancel(self, job: Job) -> None:
        job.cancel()
        if job in self._waiting:  # never started: it ends at once, as cancelled
            self._waiting.remove(job)
            QTimer.singleShot(0, lambda: job.emit(Failed(Cancelled("cancelled by the user"), cancelled=True)))

    def shutdown(self, msecs: int = 30_000) -> bool:
        """Cancel everything, start nothing more, and wait for the running jobs (the window is closing)."""
        self.closed = True
        self.cancel_all()
        return self.wait(msecs)

    def cancel_all(self) -> None:
        for job in list(self.active):
            self.cancel(job)

    def cancel_kind(self, kind: str) -> None:
        """Cancel the jobs of ``kind`` (running or waiting for the worker)."""
        for job in list(self.active):
            if job.kind == kind:
                self.cancel(job)

    def running(self, kind: str) -> list[Job]:
        return [j for j in self.active if j.kind == kind]

    def worker_busy(self) -> bool:
        return self._in_worker is not None

    def wait(self, msecs: int = 60_000) -> bool:
        return self.pool.waitForDone(msecs)
