"""Progress and cancellation for long work.

Long functions take ``progress(fraction, message)`` and a :class:`CancelToken`
and check the token between batches. A stage maps its own 0..1 onto a slice of
the caller's bar with :func:`sub_progress` (Orange's ``wrap_callback`` idea), so
nested work reports one monotone bar.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

ProgressFn = Callable[[float, str], None]


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
