"""Recipe runs and baseline evaluations."""

from __future__ import annotations

from gui.tasks.base import TaskContext, request_from, task


@task("run")
def run_recipe(payload: dict, ctx: TaskContext) -> dict:
    from core.app.execute import execute_run
    from core.store.workspace import Workspace

    with Workspace(payload["workspace"], check_interrupted=False) as ws:
        done = execute_run(ws, request_from(payload), reuse=payload.get("reuse", True), progress=ctx.progress,
                           cancel=ctx.cancel, on_step=lambda record: ctx.post("step", record.to_dict()), cache=ctx.cache)
        return {"run_id": done.row.id, "reused": done.reused, "status": done.row.status}


@task("evaluate")
def evaluate(payload: dict, ctx: TaskContext) -> dict:
    from core.metrics.measure import measure_model
    from core.app.execute import load_inputs

    model, data = load_inputs(request_from(payload), ctx.cache)
    metrics = measure_model(model, data, threads=payload.get("threads", 2), repeats=payload.get("repeats", 30),
                            warmup=payload.get("warmup", 5), progress=ctx.progress, cancel=ctx.cancel)
    out = metrics.to_dict()
    out.pop("latency", None)
    return out
