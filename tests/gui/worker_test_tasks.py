"""Worker tasks for tests only: a task that ignores Cancel, and one that crashes the worker.

Registered when this module is imported; the worker child imports it when it
unpickles one of these requests, so the registration happens there too.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from core.app.worker_tasks import WorkerContext, task


@dataclass(frozen=True)
class Sleep:
    """Holds the worker without looking at Cancel, like a long native call (tests the kill)."""

    seconds: float = 60.0
    workspace: str = ""  # where runs of a killed worker would be closed (none here)


@dataclass(frozen=True)
class Crash:
    """Dies the way a segfault in a native library does (tests that the window survives)."""


@task(Sleep)
def sleep(request: Sleep, ctx: WorkerContext) -> None:
    time.sleep(request.seconds)


@task(Crash)
def crash(request: Crash, ctx: WorkerContext) -> None:
    os.abort()
