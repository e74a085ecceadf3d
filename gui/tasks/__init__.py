"""Tasks the worker process runs for the window: one module per kind of work.

Importing this package registers every task; :func:`run_task` runs one.
"""

from __future__ import annotations

from typing import Any

from gui.tasks import analysis, export, runs  # noqa: F401  (register their tasks)
from gui.tasks.base import TASKS, TaskContext


def run_task(kind: str, payload: dict, ctx: TaskContext) -> Any:
    try:
        fn = TASKS[kind]
    except KeyError:
        raise ValueError(f"unknown task {kind!r} (known: {', '.join(sorted(TASKS))})") from None
    return fn(payload, ctx)
