"""Run core work off the GUI thread and bring the outcome back through signals.

A :class:`Job` wraps ``fn(progress, cancel) -> result``. Its signals are
delivered queued to the GUI thread, so no widget is ever touched from the
worker. Input errors (:class:`core.errors.EdgeSlimError`) come back as their
one-line message; anything else as a short message with the traceback logged.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from core.errors import EdgeSlimError
from core.jobs import Cancelled, CancelToken, ProgressFn

log = logging.getLogger("edgeslim.gui")

JobFn = Callable[[ProgressFn, CancelToken], Any]


class JobSignals(QObject):
    progress = Signal(float, str)
    finished = Signal(object)  # the result
    failed = Signal(str, object)  # a message for the user, the exception
    cancelled = Signal()
    event = Signal(str, object)  # side results while the job runs (e.g. a finished step of a recipe)
    done = Signal()  # always last, whatever happened


class Job(QRunnable):
    """One unit of long work on the global thread pool."""

    def __init__(self, title: str, fn: JobFn, kind: str = "") -> None:
        super().__init__()
        self.setAutoDelete(False)  # the JobRunner keeps it until ``done``
        self.title = title
        self.kind = kind  # what sort of work ("run", "estimate", "load"), to find or cancel it
        self.quiet = False  # True: not shown in the status bar's progress (background estimates)
        self.fn = fn
        self.token = CancelToken()
        self.signals = JobSignals()

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    def post(self, kind: str, payload: object = None) -> None:
        """Send a side result to the GUI thread (callable from the worker)."""
        self.signals.event.emit(kind, payload)

    def run(self) -> None:  # worker thread
        try:
            result = self.fn(self._progress, self.token)
        except Cancelled:
            self.signals.cancelled.emit()
        except EdgeSlimError as exc:
            self.signals.failed.emit(str(exc), exc)
        except Exception as exc:  # never let a worker take the window down
            log.error("job %r failed:\n%s", self.title, traceback.format_exc())
            first = str(exc).splitlines()[0] if str(exc) else ""
            self.signals.failed.emit(f"{self.title} failed unexpectedly: {type(exc).__name__}: {first}", exc)
        else:
            self.signals.finished.emit(result)
        finally:
            self.signals.done.emit()

    def _progress(self, fraction: float, message: str) -> None:
        self.signals.progress.emit(float(fraction), message)


class JobRunner(QObject):
    """Starts jobs and keeps them alive until they end; the window's single entry point."""

    started = Signal(object)  # Job
    ended = Signal(object)  # Job

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool.globalInstance()
        self.active: list[Job] = []

    def start(self, job: Job) -> Job:
        self.active.append(job)
        job.signals.done.connect(lambda j=job: self._finish(j))
        self.started.emit(job)
        self.pool.start(job)
        return job

    def _finish(self, job: Job) -> None:
        if job in self.active:
            self.active.remove(job)
        self.ended.emit(job)
        # The job and its connected slots form a reference cycle; if the garbage collector broke it on a worker
        # thread, the signals object would be deleted from that thread and crash Qt. Delete it here, on its own
        # (the GUI) thread, once the slots still queued for this emission have run.
        job.signals.deleteLater()

    def cancel_all(self) -> None:
        for job in list(self.active):
            job.cancel()

    def cancel_kind(self, kind: str) -> None:
        """Cancel the running jobs started with ``kind`` (e.g. every "estimate")."""
        for job in list(self.active):
            if job.kind == kind:
                job.cancel()

    def running(self, kind: str) -> list[Job]:
        return [j for j in self.active if j.kind == kind]

    def wait(self, msecs: int = 60_000) -> bool:
        return self.pool.waitForDone(msecs)
