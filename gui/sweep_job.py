"""A sweep as a window job: the "sweep" task in the worker process, its trials streamed as events.

The job's progress is trials done / total (a trial reports nothing until it
ends), its title says the same, and every finished trial arrives as a
``"trial"`` event (``job.signals.event``) so plots can add the point at once.
The result is the sweep outcome as plain data — ``status`` ``"done"``, or
``"cancelled"`` with the trials that finished; the job's ``cancelled`` signal
fires only when the worker did not stop in time and was killed.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from gui.workers import Job

SWEEP_KIND = "sweep"


def sweep_payload(sweep_toml: str, executor: dict, workspace: str | Path, model_spec: str, data_spec: str,
                  load_options: Optional[dict] = None, options: Any = None, base_dir: str | Path = ".") -> dict:
    """The "sweep" task's payload; ``options`` is a :class:`core.pipeline.runner.RunOptions` or a dict of its fields."""
    if options is not None and not isinstance(options, dict):
        options = asdict(options)
    return {"workspace": str(workspace), "sweep_toml": sweep_toml, "base_dir": str(base_dir), "model_spec": model_spec,
            "data_spec": data_spec, "load_options": dict(load_options or {}), "options": dict(options or {}),
            "executor": dict(executor)}


def _name_and_total(sweep_toml: str) -> tuple[str, int]:
    """The sweep's name and trial count, for the title before the worker has parsed it (best effort)."""
    from core.pipeline.recipe import tomllib

    try:
        doc = tomllib.loads(sweep_toml)
    except tomllib.TOMLDecodeError:
        return "sweep", 0
    if doc.get("mode", "grid") == "optuna":
        return str(doc.get("name", "sweep")), int(doc.get("trials", 12) or 0)
    total = 1
    for values in (doc.get("grid") or {}).values():
        total *= len(values) if isinstance(values, list) else 1
    return str(doc.get("name", "sweep")), total


def make_sweep_job(worker, payload: dict) -> Job:
    """A :class:`gui.workers.Job` running ``payload`` (see :func:`sweep_payload`) on ``worker`` (a RunWorker)."""
    name, total = _name_and_total(payload["sweep_toml"])
    state = {"done": 0, "total": total}

    def title() -> str:
        return f"Sweep {name}: {state['done']}/{state['total']} trials"

    def killed(pid: int) -> None:  # the worker did not stop in time: its trial and the sweep end as cancelled, not "running"
        from core.store.workspace import Workspace

        with Workspace(payload["workspace"], check_interrupted=False) as ws:
            for row in ws.list_runs(status="running"):
                if row.pid == pid:
                    ws.finish_run(row.id, "cancelled", error="cancelled by the user (the worker process was stopped)")
                    if row.sweep_id is not None:
                        ws.finish_sweep(row.sweep_id, "cancelled")

    def work(progress, cancel):
        def on_event(event: str, data: Any) -> None:
            if event == "sweep_progress":
                state.update(done=int(data["done"]), total=int(data["total"]) or state["total"])
                job.title = title()
                progress(state["done"] / max(state["total"], 1), job.title)
            job.post(event, data)

        def on_progress(fraction: float, message: str) -> None:
            # the worker's own messages (starting PyTorch, "trial 3/12: …"): the bar stays at trials done / total
            progress(max(fraction, state["done"] / max(state["total"], 1)), message)

        return worker.execute("sweep", payload, progress=on_progress, cancel=cancel, on_event=on_event, on_kill=killed)

    job = Job(title(), work, kind=SWEEP_KIND)
    return job
