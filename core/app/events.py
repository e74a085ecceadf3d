"""What a running service tells its front-end: typed events, never strings to be parsed.

A service reports through one callable, ``emit(event)``. The CLI prints events on
stderr; the window's job controller delivers them on the GUI thread. The stage
list a run announces (names and weights) is the same one the recipe estimate
reads, so the bar, the estimate and the stage labels agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, TypeVar, Union

from core.errors import EdgeSlimError
from core.jobs import Cancelled, Stage

T = TypeVar("T")


@dataclass(frozen=True)
class StagesPlanned:
    stages: tuple[Stage, ...]


@dataclass(frozen=True)
class StageStarted:
    stage: Stage
    index: int  # position in the planned list


@dataclass(frozen=True)
class StageFinished:
    stage: Stage
    index: int
    seconds: float = 0.0


@dataclass(frozen=True)
class Progress:
    """Overall fraction 0..1 of the whole job, and a line saying what is happening now."""

    fraction: float
    message: str
    stage: Optional[str] = None  # the key of the stage it belongs to


@dataclass(frozen=True)
class PartialResult:
    """A piece of the result available before the end (a measured step, a finished trial)."""

    kind: str  # "step", "baseline", "trial", "layer", ...
    payload: Any = None


@dataclass(frozen=True)
class Done:
    result: Any = None


@dataclass(frozen=True)
class Failed:
    error: Union[EdgeSlimError, BaseException]
    cancelled: bool = False
    log: Optional[str] = None  # path of a crash log for an unexpected failure


Event = Union[StagesPlanned, StageStarted, StageFinished, Progress, PartialResult, Done, Failed]
Emit = Callable[[Event], None]


def ignore(event: Event) -> None:
    """An ``emit`` that drops every event."""


@dataclass
class Recorder:
    """An ``emit`` that keeps every event (tests, and the worker process before sending)."""

    events: list = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append(event)


class EventReporter:
    """Turns the engine's ``progress(fraction, message)`` calls and stage announcements into events.

    The engine keeps its plain callbacks (a stage maps its 0..1 onto its slice of
    the bar); this object is both the progress callable and the runner's
    :class:`core.jobs.StageListener`, so every Progress event carries the key of
    the stage it belongs to.
    """

    def __init__(self, emit: "Emit") -> None:
        self.emit = emit
        self.stages: tuple[Stage, ...] = ()
        self.current: Optional[int] = None

    def __call__(self, fraction: float, message: str) -> None:
        key = self.stages[self.current].key if self.current is not None and self.current < len(self.stages) else None
        self.emit(Progress(fraction, message, key))

    def planned(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)
        self.emit(StagesPlanned(self.stages))

    def started(self, index: int) -> None:
        self.current = index
        self.emit(StageStarted(self.stages[index], index))

    def finished(self, index: int, seconds: float) -> None:
        self.emit(StageFinished(self.stages[index], index, seconds))


def reported(emit: "Emit", work: Callable[[], T]) -> T:
    """Run ``work()`` and end its events with Done, or Failed (cancelled or not) before re-raising."""
    try:
        result = work()
    except Cancelled as exc:
        emit(Failed(exc, cancelled=True))
        raise
    except BaseException as exc:
        emit(Failed(exc))
        raise
    emit(Done(result))
    return result

