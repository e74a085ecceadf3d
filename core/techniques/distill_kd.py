"""``distill.kd``: Hinton knowledge distillation into a lightweight student, or into the current model.

Teacher and student see the same (augmented) batch; the loss is
(1−α)·CE + α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) (``finetune.kd_loss``).
With ``student = "current"`` the model the recipe has so far (e.g. just pruned
or decomposed) is the student and the recipe's original model is the teacher:
distillation as recovery. An optional FitNets hint adds an MSE between a
teacher feature map and a student feature map through a trained 1×1 adapter.
The summary compares sizes in words that cannot be misread ("3.3× fewer
params than the teacher", "8.7× larger than the teacher").
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from core.models.exported import ProgramModule
from core.models.students import NAMES, size_words
from core.techniques.base import StepContext, StepOutcome, TechniqueError, derived, param, technique
from core.techniques.finetune import kd_loss
from core.techniques.training_fields import best_words, training_extra, training_notes
from core.techniques.student_fields import StudentTraining, n_params
from core.training import train_classifier

CURRENT = "current"


class FeatureTap:
    """Keeps the latest output of one module (a forward hook), found by name or as the last 4-D feature map."""

    def __init__(self, module: nn.Module, name: str, example: torch.Tensor) -> None:
        modules = dict(module.named_modules())
        if not name:
            name = last_feature_map(module, example)
        if name not in modules:
            import difflib

            close = difflib.get_close_matches(name, list(modules), n=3, cutoff=0.5)
            raise TechniqueError(f"no layer named {name!r} for the feature hint", f"did you mean {', '.join(close) or 'a module name'}?")
        self.name = name
        self.value: Optional[torch.Tensor] = None
        self._handle = modules[name].register_forward_hook(self._keep)

    def _keep(self, _module, _inputs, output) -> None:
        self.value = output

    def remove(self) -> None:
        self._handle.remove()


@torch.no_grad()
def last_feature_map(module: nn.Module, example: torch.Tensor) -> str:
    """Name of the last leaf module whose output is a spatial 4-D map (the final features before pooling)."""
    seen: list[tuple[str, bool]] = []  # (name, has more than one pixel)
    handles = []
    for name, m in module.named_modules():
        if name and not list(m.children()):
            handles.append(m.register_forward_hook(lambda _m, _i, out, n=name: seen.append((n, out.shape[-1] * out.shape[-2] > 1)) if isinstance(out, torch.Tensor) and out.dim() == 4 else None))
    was = module.training
    module.eval()
    try:
        module(example)
    finally:
        module.train(was)
        for h in handles:
            h.remove()
    if not seen:
        raise TechniqueError("the model has no 4-D feature map for a hint", "turn the feature loss off")
    spatial = [n for n, big in seen if big]
    return spatial[-1] if spatial else seen[-1][0]


class _StudentWithAdapter(nn.Module):
    """The student plus the hint adapter, so one optimizer trains both; forward is the student's."""

    def __init__(self, student: nn.Module, adapter: nn.Module) -> None:
        super().__init__()
        self.student = student
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.student(x)


def _match(s: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pool the larger map down to the smaller's spatial size."""
    if s.shape[-2:] == t.shape[-2:]:
        return s, t
    size = (min(s.shape[-2], t.shape[-2]), min(s.shape[-1], t.shape[-1]))
    return F.adaptive_avg_pool2d(s, size), F.adaptive_avg_pool2d(t, size)


@technique(
    "distill.kd",
    family="Distillation",
    label="Knowledge distillation",
    summary="Train a smaller student on the current model's soft targets (Hinton et al.), optionally with a feature hint",
)
@dataclass(frozen=True)
class DistillKD(StudentTraining):
    student: str = param(
        "demo_w8", label="Student", choices=(*NAMES, CURRENT),
        help="Lightweight architecture to distil into, or 'current' to distil the original model into the model as it is now "
        "(recovery after pruning or decomposition)",
    )
    temperature: float = param(4.0, label="Temperature", help="Softens both output distributions; 2-8 is usual", min=1.0, max=20.0, step=0.5)
    alpha: float = param(0.9, label="Soft-loss weight", help="Weight of the teacher's soft targets against the labels' cross-entropy", min=0.0, max=1.0, step=0.05)
    feature_loss: bool = param(False, label="Feature hint", help="Also match an intermediate feature map (FitNets) through a 1×1 adapter")
    teacher_layer: str = param("", label="Teacher layer", help="Teacher module for the hint; empty = its last feature map")
    student_layer: str = param("", label="Student layer", help="Student module for the hint; empty = its last feature map")
    hint_weight: float = param(1.0, label="Hint weight", help="Weight of the feature-map MSE", min=0.0, max=100.0, step=0.1)

    def apply(self, model, ctx: StepContext) -> StepOutcome:
        if self.student == CURRENT:
            if ctx.baseline is None or ctx.baseline.is_onnx:
                raise TechniqueError("distilling into the current model needs the original PyTorch model as teacher", "pick a student architecture")
            teacher_module, student, notes = ctx.baseline.module, model.module, []
            if isinstance(student, ProgramModule):
                raise TechniqueError(f"{model.name} is a torch.export program, which cannot be trained", "load the model from its architecture and weights")
        else:
            teacher_module = model.module
            width = self.resolved_width(model, ctx)
            student, notes = self.make_student(model, ctx, width)
        teacher = copy.deepcopy(teacher_module).eval()
        example = torch.stack([ctx.data.train[i][0] for i in range(min(2, len(ctx.data.train)))])
        trainee: nn.Module = student
        taps: list[FeatureTap] = []
        adapter: Optional[nn.Module] = None
        if self.feature_loss:
            if isinstance(teacher, ProgramModule):
                raise TechniqueError("a torch.export program has no named layers for a feature hint", "turn feature_loss off")
            t_tap, s_tap = FeatureTap(teacher, self.teacher_layer, example), FeatureTap(student, self.student_layer, example)
            taps = [t_tap, s_tap]
            with torch.no_grad():
                teacher(example)
                was = student.training
                student.eval()
                student(example)
                student.train(was)
            adapter = nn.Conv2d(s_tap.value.shape[1], t_tap.value.shape[1], 1, bias=False)  # type: ignore[union-attr]
            trainee = _StudentWithAdapter(student, adapter)
            notes.append(f"feature hint: student {s_tap.name} → 1×1 adapter → teacher {t_tap.name}")

        def loss_fn(logits: torch.Tensor, labels: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                t_logits = teacher(inputs)
            loss = kd_loss(logits, t_logits, labels, self.alpha, self.temperature)
            if adapter is not None:
                s_feat, t_feat = _match(adapter(taps[1].value), taps[0].value.detach())  # type: ignore[arg-type]
                loss = loss + self.hint_weight * F.mse_loss(s_feat, t_feat)
            return loss

        try:
            result = train_classifier(trainee, ctx.data, self.train_config(ctx), progress=ctx.progress, cancel=ctx.cancel,
                                      loss_fn=loss_fn, companions=(teacher,), on_epoch=ctx.on_epoch)
        finally:
            for tap in taps:
                tap.remove()
        before, after = n_params(teacher), n_params(student)
        out = derived(model, student.eval(), suffix="kd") if self.student == CURRENT else self.student_model(model, student, "kd", width)
        return StepOutcome(
            model=out,
            summary=f"distilled {before:,}-param teacher into {out.name} ({after:,} params, {size_words(before, after)}) "
            f"over {self.epochs} epochs (T={self.temperature}, α={self.alpha}): validation accuracy {100 * result.final_val_accuracy:.2f} %"
            f"{best_words(result)}",
            notes=[f"student adapted: {n}" for n in notes] + training_notes(result),
            extra={"history": [h.__dict__ for h in result.history], "params_teacher": before, "params_student": after,
                   **training_extra(result)},
        )
