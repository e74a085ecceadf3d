"""Runs whose process was stopped from outside: stored as cancelled, not left "running".

A run's process can be killed on purpose (the window kills its worker when a
Cancel is not obeyed within seconds; a sweep's trial processes are terminated
on Cancel). Those runs were cancelled by the user, so they are stored as such,
with their sweep; a process that died by itself is another matter
(:meth:`core.store.workspace.Workspace.mark_interrupted` finds those).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

STOPPED = "cancelled by the user (its worker process was stopped)"


def cancel_stopped_runs(workspace: Union[str, Path], *, pid: Optional[int] = None, sweep_id: Optional[int] = None) -> list[int]:
    """Store the runs still "running" of process ``pid`` and/or sweep ``sweep_id`` as cancelled; their sweeps too.

    Returns the ids of the runs changed. With neither filter nothing is touched
    (another process may be running a run in the same workspace).
    """
    if pid is None and sweep_id is None:
        return []
    from core.store.workspace import Workspace

    changed: list[int] = []
    with Workspace(workspace, check_interrupted=False) as ws:
        for row in ws.list_runs(status="running", sweep_id=sweep_id):
            if pid is not None and row.pid != pid:
                continue
            ws.finish_run(row.id, "cancelled", error=STOPPED)
            changed.append(row.id)
            if row.sweep_id is not None and sweep_id is None:
                ws.finish_sweep(row.sweep_id, "cancelled")
    return changed


def mark_dead_runs(workspace: Union[str, Path]) -> list[int]:
    """Runs left "running" by a process that died by itself (a crash) become "interrupted"; returns their ids."""
    from core.store.workspace import Workspace

    with Workspace(workspace, check_interrupted=False) as ws:
        return ws.mark_interrupted()
