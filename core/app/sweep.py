"""The sweep service: every trial of a sweep as a stored run, streamed as it completes, and the Pareto front.

The sweep as written (grid or Optuna search, constraints) is
:mod:`core.pipeline.sweep`; here it runs. Trials go to an executor
(:mod:`core.app.executors`: this process, a process pool or a Dask cluster),
each reaches ``on_trial`` — and ``emit`` as ``PartialResult("trial", …)`` —
in completion order so plots update live, and trials identical to a finished
run are reused.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from core.app.events import Emit, PartialResult, Progress
from core.app.execute import RunRequest
from core.app.sources import DataSource, ModelSource
from core.app.trial import TrialResult
from core.jobs import CancelToken, Cancelled, ProgressFn, null_progress
from core.pipeline.pareto import OBJECTIVES, floors_from_baselines, metric, summarise
from core.pipeline.runner import RunOptions
from core.pipeline.sweep import Sweep, apply_point, trial_name, violations

if TYPE_CHECKING:
    from core.app.executors import Executor


@dataclass(frozen=True)
class SweepRequest:
    """A sweep to run on one model and dataset into a workspace, and where its trials run."""

    sweep: Sweep
    workspace: Path
    model: ModelSource
    data: DataSource
    options: RunOptions = RunOptions()
    workers: Optional[int] = None  # local worker processes (None or 1: in this process)
    cluster: Optional[str] = None  # a Dask scheduler address, or local:N


@dataclass
class SweepOutcome:
    sweep_id: int
    trials: list[TrialResult]
    status: str  # done | cancelled
    front: list[int] = field(default_factory=list)  # run ids on the Pareto front (feasible trials)
    hypervolume: float = 0.0
    objectives: list[str] = field(default_factory=list)
    seconds: float = 0.0
    executor: str = ""  # where the trials ran, in words

    def to_dict(self) -> dict:
        return {"sweep_id": self.sweep_id, "status": self.status, "trials": [t.to_dict() for t in self.trials],
                "front": self.front, "hypervolume": self.hypervolume, "objectives": self.objectives, "seconds": round(self.seconds, 2)}


def execute_sweep(request: SweepRequest, emit: Emit, cancel: Optional[CancelToken] = None, *,
                  executor: Optional["Executor"] = None) -> SweepOutcome:
    """The sweep service: run ``request`` and report progress and each finished trial through ``emit``."""
    from core.app.executors import make_executor

    executor = executor or make_executor(request.workers, request.cluster)
    return run_sweep(request.sweep, request.workspace, request.model, request.data, options=request.options,
                     executor=executor, progress=lambda f, m: emit(Progress(f, m)), cancel=cancel,
                     on_trial=lambda tr: emit(PartialResult("trial", tr)))


def run_sweep(
    sweep: Sweep,
    workspace_path: Path,
    model: ModelSource,
    data: DataSource,
    *,
    options: RunOptions = RunOptions(),
    executor: Optional["Executor"] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
    on_trial: Optional[Callable[[TrialResult], None]] = None,
) -> SweepOutcome:
    """Run every trial of ``sweep`` as a stored run; stream each to ``on_trial``; return the front."""
    from core.app.executors import InProcessExecutor
    from core.store.workspace import Workspace

    progress = progress or null_progress
    executor = executor or InProcessExecutor()
    start = time.perf_counter()
    with Workspace(workspace_path) as ws:
        sweep_id = ws.create_sweep(sweep.name, sweep.recipe.to_toml(), {"mode": sweep.mode, "axes": [a.key for a in sweep.axes],
                                                                         "executor": executor.describe()})

    def request(point: dict[str, Any]) -> RunRequest:
        name = trial_name(sweep.name, point)
        return RunRequest(apply_point(sweep.recipe, point, name).to_toml(), model, data, options, name, sweep_id)

    results: list[TrialResult] = []
    total = sweep.size()

    def finished(tr: TrialResult) -> None:
        tr.feasible = tr.status == "done" and all(v <= 0 for v in violations(tr.final, sweep.constraints))
        results.append(tr)
        progress(len(results) / total, f"trial {len(results)}/{total}: {trial_name(sweep.name, tr.point)} {tr.status}")
        if on_trial:
            on_trial(tr)

    status = "done"
    try:
        progress(0.0, f"sweep {sweep.name}: {total} trials on {executor.describe()}")
        if sweep.mode == "grid":
            items = ((i, p, request(p)) for i, p in enumerate(sweep.iter_grid()))  # built as the executor asks
            executor.run_all(items, workspace_path, finished, cancel)  # type: ignore[arg-type]
        else:
            _run_optuna(sweep, executor, workspace_path, request, finished, cancel)
    except Cancelled:
        status = "cancelled"
    finally:
        executor.close()
    objectives = sweep.objectives if sweep.mode == "optuna" else ["accuracy", "size"]
    outcome = SweepOutcome(sweep_id, sorted(results, key=lambda t: t.number), status, objectives=objectives,
                           executor=executor.describe())
    ok = [t for t in outcome.trials if t.feasible and t.final]
    if ok:
        floors = floors_from_baselines([t.baseline for t in ok])  # trials far below the baseline are no trade-off
        summary = summarise([t.final for t in ok], ok[0].baseline or {}, objectives, floors)
        outcome.front = [ok[i].run_id for i in summary.indices]  # type: ignore[misc]
        outcome.hypervolume = summary.hypervolume
    outcome.seconds = time.perf_counter() - start
    with Workspace(workspace_path, check_interrupted=False) as ws:
        ws.finish_sweep(sweep_id, status, {"front": outcome.front, "hypervolume": outcome.hypervolume, "seconds": outcome.seconds})
    return outcome


def _run_optuna(sweep: Sweep, executor, workspace_path: Path, request, finished, cancel) -> None:
    """Ask/tell loop: keep the executor's workers busy, tell Optuna each trial as it completes."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sweep.sampler == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=0, population_size=max(4, min(20, sweep.trials // 2)))
    else:
        sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=max(2, sweep.trials // 3))
    directions = ["maximize" if OBJECTIVES[o] == "max" else "minimize" for o in sweep.objectives]
    study = optuna.create_study(directions=directions, sampler=sampler)
    asked: dict[int, Any] = {}

    def ask() -> tuple[int, dict, RunRequest]:
        trial = study.ask()
        point = {}
        for a in sweep.axes:
            if a.values:
                point[a.key] = trial.suggest_categorical(a.key, list(a.values))
            elif a.integer:
                point[a.key] = trial.suggest_int(a.key, int(a.low), int(a.high))  # type: ignore[arg-type]
            else:
                point[a.key] = trial.suggest_float(a.key, a.low, a.high)  # type: ignore[arg-type]
        asked[trial.number] = trial
        return trial.number, point, request(point)

    def tell(tr: TrialResult) -> None:
        trial = asked.pop(tr.number)
        finished(tr)
        values = [metric(tr.final or {}, o) for o in sweep.objectives]
        if tr.status != "done" or any(v is None or math.isnan(v) for v in values):
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        for key, value in zip(sweep.constraints, violations(tr.final, sweep.constraints)):
            trial.set_constraint(key, value)  # feasible when ≤ 0; both samplers steer away from the rest
        study.tell(trial, values)

    executor.run_asked(ask, sweep.trials, workspace_path, tell, cancel)

