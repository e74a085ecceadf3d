"""Progress and cancellation for long work.

Long functions take ``progress(fraction, message)`` and a :class:`CancelToken`
and check the token between batches. A stage maps its own 0..1 onto a slice of
the caller's bar with :func:`sub_progress` (Orange's ``wrap_callback`` idea), so
nested work reports one monotone bar.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Sequence

ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class Stage:
    """One stage of a job: its key (``baseline``, ``step-2``, ``timing``), words for it, its share of the work."""

    key: str
    label: str
    weight: float


class StageListener(Protocol):
    """Told the stages a job plans and when each starts and ends (``core.app.events.EventReporter`` turns them into events)."""

    def planned(self, stages: Sequence[Stage]) -> None: ...

    def started(self, index: int) -> None: ...

    def finished(self, index: int, seconds: float) -> None: ...


def stage_edges(stages: Sequence[Stage]) -> list[float]:
    """Where each stage starts on a 0..1 bar (and where the last ends), from the stages' weights."""
    total = sum(s.weight for s in stages) or 1.0
    return [sum(s.weight for s in stages[:i]) / total for i in range(len(stages) + 1)]


class Cancelled(Exception):
    """Raised inside long work when its cancel token was set."""


class CancelToken:
    """A thread-safe flag that long work polls between batches."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


def null_progress(fraction: float, message: str) -> None:
    """A progress callback that ignores its reports."""


def sub_progress(progress: Optional[ProgressFn], start: float, end: float) -> ProgressFn:
    """Map a stage's 0..1 onto ``start..end`` of ``progress``."""
    outer = progress or null_progress
    span = end - start

    def inner(fraction: float, message: str) -> None:
        outer(start + span * min(max(fraction, 0.0), 1.0), message)

    return inner


def check(cancel: Optional[CancelToken]) -> None:
    """Raise :class:`Cancelled` if ``cancel`` is set; a no-op for ``None``."""
    if cancel is not None:
        cancel.raise_if_cancelled()
