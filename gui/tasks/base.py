"""What a task in the worker process gets, and the registry of task kinds.

A task is ``fn(payload, ctx) -> result``: plain data in, plain data out (it
crosses a process boundary). ``ctx.post(event, data)`` sends a side result to
the window while the task runs (a finished recipe step, a finished sweep
trial); ``ctx.cache`` keeps loaded models and datasets between tasks. Task
modules register themselves with :func:`task`; this module imports no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from core.jobs import CancelToken, ProgressFn

TaskFn = Callable[[dict, "TaskContext"], Any]
TASKS: dict[str, TaskFn] = {}


@dataclass
class TaskContext:
    progress: ProgressFn
    cancel: CancelToken
    post: Callable[[str, Any], None]
    cache: dict


def task(kind: str) -> Callable[[TaskFn], TaskFn]:
    """Register ``fn`` as the task ``kind``."""

    def register(fn: TaskFn) -> TaskFn:
        if kind in TASKS:
            raise ValueError(f"task {kind!r} is registered twice")
        TASKS[kind] = fn
        return fn

    return register


def request_from(payload: dict):
    """The RunRequest a payload carries (see :func:`gui.run_process.request_payload`)."""
    from core.pipeline.runner import RunOptions
    from core.app.execute import RunRequest

    fields = dict(payload["request"])
    fields["options"] = RunOptions(**fields["options"])
    return RunRequest(**fields)
