"""Run a recipe: apply its steps, measure the baseline and every step in one process, keep everything.

The runner works on a deep copy, so the user's model stays the baseline (and the
teacher for steps that distil). After each step it takes a snapshot (accuracy,
agreement, params, MACs, ONNX file) and hands the step record to ``on_step`` at
once; latency of all snapshots is timed interleaved at the end. ``result.json``
is rewritten after every step, so a crash or a cancel leaves what was done on
disk, and the final artifact is the deployable ONNX file (plus the PyTorch
program when the last step is PyTorch-side).
"""

from __future__ import annotations

import copy
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError
from core.fileio import atomic_write_json, atomic_write_text
from core.jobs import CancelToken, Cancelled, ProgressFn, Stage, StageListener, null_progress, stage_edges, sub_progress
from core.metrics.latency import TimingOptions
from core.metrics.compat import check_compatible
from core.models.loaded import LoadedModel
from core.pipeline.recipe import Recipe, Step
from core.metrics.measure import ratios_between
from core.pipeline.snapshot import Snapshot, take_snapshot, time_snapshots
from core.techniques.base import ONNX, StepContext, StepOutcome, derived
from core.torch_device import describe_device, resolve_device

RESULT_NAME = "result.json"


@dataclass(frozen=True)
class RunOptions:
    """How a run measures: latency batch and threads, evaluation batch, timing repeats, seed."""

    batch: int = 1
    threads: int = 2
    eval_batch: int = 128
    warmup: int = 10
    repeats: int = 50
    seed: int = 0
    device: str = "auto"  # training device: auto (CUDA when PyTorch sees a GPU) | cpu | cuda[:N]

    @property
    def timing(self) -> TimingOptions:
        """The latency settings as one object (the stored keys stay batch/threads/warmup/repeats)."""
        return TimingOptions(batch=self.batch, threads=self.threads, warmup=self.warmup, repeats=self.repeats)


@dataclass
class StepRecord:
    """What one step did and the model it left, measured."""

    index: int  # 1-based position among the enabled steps
    technique: str
    params: dict
    outcome: StepOutcome
    snapshot: Snapshot
    seconds: float

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "technique": self.technique,
            "params": dict(self.params),
            **self.outcome.to_dict(),
            "metrics": self.snapshot.to_dict(),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class RunResult:
    """Everything a run produced; serialises to ``result.json``."""

    recipe: Recipe
    model_spec: str
    data_spec: str
    out_dir: Path
    options: RunOptions
    status: str = "running"  # running | done | cancelled | failed
    baseline: Optional[Snapshot] = None
    steps: list[StepRecord] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)  # kind -> path: onnx, pt2, result, recipe
    error: Optional[str] = None
    device: str = "cpu"  # the training device as described for people: "cpu" or "cuda:0 (NVIDIA …)"
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    seconds: float = 0.0

    @property
    def final(self) -> Optional[Snapshot]:
        return self.steps[-1].snapshot if self.steps else self.baseline

    @property
    def artifact(self) -> Optional[str]:
        return self.artifacts.get("onnx") or self.artifacts.get("pt2")

    def to_dict(self) -> dict:
        final = self.final
        return {
            "status": self.status,
            "recipe": self.recipe.to_dict(),
            "model": self.model_spec,
            "data": self.data_spec,
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "final": final.to_dict() if final else None,
            "steps": [s.to_dict() for s in self.steps],
            "artifact": self.artifact,
            "artifacts": dict(self.artifacts),
            "error": self.error,
            "device": self.device,
            "started": self.started,
            "seconds": round(self.seconds, 2),
            "options": asdict(self.options),
            "versions": library_versions(),
        }

    def save(self) -> Path:
        return atomic_write_json(self.out_dir / RESULT_NAME, self.to_dict())


def library_versions() -> dict[str, str]:
    """Versions that change results: recorded with every run."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("torch", "torchvision", "onnx", "onnxruntime", "torch-pruning", "edgeslim"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _cost(step: Step) -> float:
    """Rough relative duration of a step, so the progress bar moves evenly."""
    epochs = getattr(step.config, "epochs", 0) or getattr(step.config, "tune_epochs", 0) or 0
    return 1.0 + 2.0 * float(epochs) + (1.5 if step.info.side == ONNX else 0.0)


def plan_stages(recipe: Recipe) -> tuple[Stage, ...]:
    """The stages :func:`run_recipe` goes through for ``recipe``, with their weights (the estimate reads the same list).

    Baseline, one stage per enabled step (applying it and measuring the result),
    and the interleaved ONNX Runtime timing of every snapshot at the end.
    """
    steps = recipe.active_steps
    return (
        Stage("baseline", "baseline", 1.0),
        *(Stage(f"step-{i}", f"step {i}/{len(steps)}: {s.technique}", _cost(s) + 0.5) for i, s in enumerate(steps, start=1)),
        Stage("timing", "ONNX Runtime latency", 1.0 + 0.3 * len(steps)),
    )


class _Stages:
    """Announces each stage to an optional listener and times it."""

    def __init__(self, listener: Optional[StageListener], stages: tuple[Stage, ...]) -> None:
        self.listener, self.stages = listener, stages
        self._t0 = 0.0
        if listener is not None:
            listener.planned(stages)

    def start(self, index: int) -> None:
        self._t0 = time.perf_counter()
        if self.listener is not None:
            self.listener.started(index)

    def finish(self, index: int) -> None:
        if self.listener is not None:
            self.listener.finished(index, time.perf_counter() - self._t0)


def run_recipe(
    recipe: Recipe,
    model: LoadedModel,
    data: DatasetBundle,
    out_dir: Path,
    options: RunOptions = RunOptions(),
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
    on_step: Optional[Callable[[StepRecord], None]] = None,
    on_baseline: Optional[Callable[[Snapshot], None]] = None,
    on_update: Optional[Callable[[RunResult], None]] = None,
    stages: Optional[StageListener] = None,
    on_epoch: Optional[Callable[[dict], None]] = None,
) -> RunResult:
    """Apply ``recipe`` to a copy of ``model`` and measure every stage against the baseline.

    Returns the result with status ``done`` or ``cancelled``. A step that fails
    on the user's input raises its :class:`EdgeSlimError` after ``result.json``
    has recorded the failure and the steps before it. ``stages`` is told the
    plan (:func:`plan_stages`) and when each stage starts and ends. Training
    runs on ``options.device`` (resolved here; a GPU asked for and missing is an
    EdgeSlimError before anything is written).
    """
    progress = progress or null_progress
    device = resolve_device(options.device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe.check_order(input_is_onnx=model.is_onnx)
    check_compatible(model, data)
    result = RunResult(recipe=recipe, model_spec=model.spec, data_spec=data.spec, out_dir=out_dir, options=options,
                       device=describe_device(device))
    atomic_write_text(out_dir / "recipe.toml", recipe.to_toml())
    result.artifacts["recipe"] = str(out_dir / "recipe.toml")
    result.artifacts["result"] = str(out_dir / RESULT_NAME)

    def save() -> None:
        result.save()
        if on_update:
            on_update(result)

    save()
    start = time.perf_counter()

    steps = recipe.active_steps
    plan = plan_stages(recipe)
    edges = stage_edges(plan)
    announce = _Stages(stages, plan)
    measure = dict(eval_batch=options.eval_batch, timing=options.timing, cancel=cancel)

    try:
        announce.start(0)
        progress(0.0, "measuring the baseline")
        result.baseline = take_snapshot(
            "baseline", model, data, out_dir / "steps" / "00-baseline", progress=_labelled(sub_progress(progress, edges[0], edges[1]), "baseline"), **measure
        )
        save()
        announce.finish(0)
        if on_baseline:
            on_baseline(result.baseline)
        current = model if model.is_onnx else derived(model, copy.deepcopy(model.module), suffix="copy")
        current.name = model.name
        for i, step in enumerate(steps, start=1):
            announce.start(i)
            label = plan[i].label
            lo, hi = edges[i], edges[i + 1]
            split = lo + (hi - lo) * _cost(step) / (_cost(step) + 0.5)
            folder = out_dir / "steps" / f"{i:02d}-{step.technique}"
            folder.mkdir(parents=True, exist_ok=True)
            ctx = StepContext(
                data=data, workdir=folder, baseline=model, progress=_labelled(sub_progress(progress, lo, split), label),
                cancel=cancel, seed=options.seed, threads=options.threads, device=device,
                on_epoch=_epoch_reporter(on_epoch, i, step.technique),
            )
            t0 = time.perf_counter()
            ctx.check()
            outcome = step.config.apply(current, ctx)
            seconds = time.perf_counter() - t0
            current = outcome.model
            snap = take_snapshot(
                label, current, data, folder, baseline=result.baseline,
                progress=_labelled(sub_progress(progress, split, hi), label), **measure,
            )
            previous = result.steps[-1].snapshot if result.steps else result.baseline
            if step.info.side == ONNX and previous is not None and previous.metrics.macs:
                # quantization changes the arithmetic's precision, not how much of it there is; an ONNX
                # counter would read Q/DQ nodes as extra work (or fail on integer ops)
                snap.metrics.macs = previous.metrics.macs
                snap.metrics.notes.append("MACs as before quantization: int8 does the same multiply-accumulates in lower precision")
                snap.ratios = ratios_between(result.baseline.metrics, snap.metrics)
            record = StepRecord(i, step.technique, step.params(), outcome, snap, seconds)
            result.steps.append(record)
            save()
            if on_step:
                on_step(record)
            announce.finish(i)
        announce.start(len(plan) - 1)
        snaps = [result.baseline, *(s.snapshot for s in result.steps)]
        time_snapshots(
            snaps, data.input_shape, options.timing,
            progress=_labelled(sub_progress(progress, edges[-2], 0.99), plan[-1].label), cancel=cancel,
        )
        _write_artifacts(result, current, data)
        announce.finish(len(plan) - 1)
        result.status = "done"
    except Cancelled:
        result.status = "cancelled"
        result.error = "cancelled by the user"
    except EdgeSlimError as exc:
        result.status, result.error = "failed", str(exc)
        raise
    except Exception as exc:
        result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        result.seconds = time.perf_counter() - start
        save()
    progress(1.0, "done" if result.status == "done" else result.status)
    return result


def _epoch_reporter(on_epoch: Optional[Callable[[dict], None]], index: int, technique: str):
    """A step's per-epoch records as plain dicts tagged with the step, for live training curves (None: nobody listens)."""
    if on_epoch is None:
        return None
    return lambda rec: on_epoch({"step": index, "technique": technique, **asdict(rec)})


def _labelled(progress: ProgressFn, label: str) -> ProgressFn:
    return lambda f, m: progress(f, f"{label}: {m}" if m else label)


def _write_artifacts(result: RunResult, final: LoadedModel, data: DatasetBundle) -> None:
    """The deployable ONNX file, and the PyTorch program when the model is still PyTorch."""
    out = result.out_dir
    snap = result.final
    if snap is not None and snap.onnx_path is not None and snap.onnx_path.is_file():
        target = out / "model.onnx"
        shutil.copyfile(snap.onnx_path, target)
        result.artifacts["onnx"] = str(target)
    if not final.is_onnx:
        from core.models.program_io import save_pt2

        try:
            result.artifacts["pt2"] = str(save_pt2(final.module, tuple(data.input_shape), out / "model.pt2"))
        except EdgeSlimError as exc:
            if snap is not None:
                snap.metrics.notes.append(f"the PyTorch program was not saved: {exc}")
