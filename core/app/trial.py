"""One sweep trial as a plain function, so a thread, a worker process or a Dask worker can run it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from core.errors import EdgeSlimError

_CACHE: dict = {}  # model and data loaded once per worker process, reused by its later trials


@dataclass
class TrialResult:
    """One finished trial: its settings and its stored run (or why it failed)."""

    number: int
    point: dict[str, Any]
    run_id: Optional[int]
    status: str
    final: Optional[dict] = None
    baseline: Optional[dict] = None
    reused: bool = False
    error: Optional[str] = None
    feasible: bool = True

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def run_trial(workspace_path: str, number: int, point: dict, request: dict, cancel=None, cache: Optional[dict] = None) -> TrialResult:
    """Execute one trial's run request (``RunRequest.to_dict()``) in the workspace; failures come back as a result.

    ``cache`` holds loaded models and data (default: this process's own), so a
    host that already keeps them — the app's worker process — lends its own.
    """
    from core.app.execute import RunRequest, execute_run
    from core.jobs import Cancelled
    from core.store.workspace import Workspace

    req = RunRequest.from_dict(request)
    with Workspace(Path(workspace_path), check_interrupted=False) as ws:
        try:
            done = execute_run(ws, req, cancel=cancel, cache=_CACHE if cache is None else cache)
        except Cancelled:
            return TrialResult(number, point, _last_run_id(ws, req), "cancelled", error="cancelled by the user")
        except EdgeSlimError as exc:
            return TrialResult(number, point, _last_run_id(ws, req), "failed", error=str(exc))
        except Exception as exc:  # a bug in one trial must not sink the sweep; it is stored with the run
            return TrialResult(number, point, _last_run_id(ws, req), "failed", error=f"{type(exc).__name__}: {exc}")
        row = done.row
        return TrialResult(number, point, row.id, row.status, row.final, row.baseline, done.reused, row.error)


def _last_run_id(ws, req) -> Optional[int]:
    rows = [r for r in ws.list_runs(sweep_id=req.sweep_id) if r.name == req.name]
    return rows[-1].id if rows else None
