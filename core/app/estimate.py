"""What a recipe will do, before it runs: params and MACs after each step, where that is cheap to know.

Structural steps (the Pruning and Low-rank families) are applied to a deep copy
of the model — the same ``apply`` the runner calls, on the real weights, so the
counts are the ones the run will report; training steps keep the structure; a
distillation student is built untrained and counted (its ``describe``);
quantization keeps the parameter count and changes how many bytes each weight
takes. The progress layout of a run (which slice of the bar each stage gets) is
here too, so the app can show a bar per step.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from core.jobs import CancelToken, ProgressFn, check, null_progress, sub_progress

STRUCTURAL_FAMILIES = ("Pruning", "Low-rank")
BYTES_NOTE = {
    "quantize.static": "int8 weights and activations: file about 4× smaller",
    "quantize.dynamic": "int8 weights of MatMul/Gemm layers: smaller where the model is Linear-heavy",
    "quantize.qat": "int8 after training with simulated quantization: file about 4× smaller",
    "quantize.fp16": "float16 weights: file about 2× smaller",
}


@dataclass
class EstimateRow:
    label: str  # "before" or "1. prune.structured"
    params: Optional[int]
    nonzero: Optional[int]
    macs: Optional[int]
    note: str = ""


@dataclass
class RecipeEstimate:
    rows: list[EstimateRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def before(self) -> Optional[EstimateRow]:
        return self.rows[0] if self.rows else None

    @property
    def after(self) -> Optional[EstimateRow]:
        return self.rows[-1] if self.rows else None


def _counts(module) -> tuple[int, int]:
    from core.metrics.size import param_counts

    c = param_counts(module)
    return c.total, c.nonzero


def _macs(module, shape) -> Optional[int]:
    from core.models.macs import count_macs

    try:
        return count_macs(module, shape)
    except Exception:  # a graph the counter cannot run: say unknown rather than fail the estimate
        return None


def estimate_recipe(
    recipe,
    model,
    data,
    *,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
    seed: int = 0,
) -> RecipeEstimate:
    """Params / non-zero params / MACs of ``model`` before and after each enabled step of ``recipe``.

    ``model`` is a :class:`core.models.LoadedModel` (left untouched), ``data`` the
    :class:`core.data.DatasetBundle` the run will use (input shape, classes, and
    batches for data-driven importance). Raises what the step itself raises when
    it cannot be applied (an :class:`core.errors.EdgeSlimError` with the fix).
    """
    from core.techniques.base import ONNX, StepContext, derived

    progress = progress or null_progress
    shape = tuple(data.input_shape)
    out = RecipeEstimate()
    if model.is_onnx:
        from core.metrics.size import onnx_param_counts

        counts = onnx_param_counts(Path(model.runnable.path))
        out.rows.append(EstimateRow("before", counts.total, counts.nonzero, None))
        current = None
    else:
        total, nonzero = _counts(model.module)
        out.rows.append(EstimateRow("before", total, nonzero, _macs(model.module, shape)))
        current = model
    steps = recipe.active_steps
    copied = False
    with tempfile.TemporaryDirectory(prefix="edgeslim-estimate-") as tmp:
        for i, step in enumerate(steps, start=1):
            check(cancel)
            label = f"{i}. {step.technique}"
            prev = out.rows[-1]
            info = step.info
            step_progress = sub_progress(progress, (i - 1) / len(steps), i / len(steps))
            if info.side == ONNX:
                out.rows.append(EstimateRow(label, prev.params, prev.nonzero, prev.macs, BYTES_NOTE.get(step.technique, "ONNX-side step")))
                break
            if current is None:
                break  # an ONNX input takes no PyTorch-side step (check_order refuses it)
            config = step.config
            if hasattr(config, "make_student") and getattr(config, "student", "current") != "current":
                step_progress(0.0, f"building the student {config.student}")
                ctx = StepContext(data=data, workdir=Path(tmp) / f"{i:02d}", seed=seed, cancel=cancel)
                module, _notes = config.make_student(current, ctx)
                current = derived(current, module.eval(), suffix=config.student)
                copied = True
                total, nonzero = _counts(current.module)
                from core.models.students import size_words

                size = size_words(prev.params, total) if prev.params else "size unknown"
                out.rows.append(EstimateRow(label, total, nonzero, _macs(current.module, shape), f"untrained student, {size}"))
                continue
            if info.family not in STRUCTURAL_FAMILIES:
                out.rows.append(EstimateRow(label, prev.params, prev.nonzero, prev.macs, "structure unchanged"))
                continue
            if not copied:
                current = derived(current, copy.deepcopy(current.module), suffix="estimate")
                copied = True
            folder = Path(tmp) / f"{i:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            ctx = StepContext(data=data, workdir=folder, baseline=model, progress=step_progress, cancel=cancel, seed=seed)
            outcome = config.apply(current, ctx)
            current = outcome.model
            total, nonzero = _counts(current.module)
            out.rows.append(EstimateRow(label, total, nonzero, _macs(current.module, shape)))
    progress(1.0, "estimated")
    return out


# --------------------------------------------------------------------------- a run's progress layout


@dataclass(frozen=True)
class Stage:
    """One stage of a run and its slice ``start..end`` of the run's 0..1 progress."""

    label: str  # "baseline", "step 2/3: finetune", "ONNX Runtime latency"
    prefix: str  # how the runner's progress messages for this stage start
    start: float
    end: float
    key: str = ""  # the runner's stage key (``baseline``, ``step-2``, ``timing``), as StageStarted events carry it


def run_stages(recipe) -> list[Stage]:
    """The stages of ``core.pipeline.runner.run_recipe`` for ``recipe``, with the share of the bar each gets.

    Read from the runner's own plan (:func:`core.pipeline.runner.plan_stages`),
    so the bar, the estimate and the StageStarted events name the same stages.
    """
    from core.jobs import stage_edges
    from core.pipeline.runner import plan_stages

    plan = plan_stages(recipe)
    edges = stage_edges(plan)
    out = [Stage(s.label, s.label, edges[i], edges[i + 1], s.key) for i, s in enumerate(plan)]
    last = out[-1]
    out[-1] = Stage(last.label, last.prefix, last.start, 0.99, last.key)
    return out
