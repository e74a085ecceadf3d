"""What distillation and plain student training share: which student, and how it trains.

``distill.kd`` and ``arch.swap`` take the same student choice and the same
training settings, so a user compares them like for like: the only difference
is the teacher's soft targets. The defaults are sized for the short CPU runs
EdgeSlim makes: width 0 fits the student to the teacher (at most half its
parameters, ``core.models.students.fit_width``), and batches of 32 give a
small data set twice the optimizer steps per epoch of 64 (MobileNetV3-Large
×0.1 on the demo: 79 % after 10 epochs at 64, 97 % at 32). A student starts
from random weights, from a state_dict file (``student_weights``) or from
torchvision's cached ImageNet weights (``pretrained``); weights fix the width
at 1, the published network they were trained as.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from torch import nn

from core.models.loaded import LoadedModel
from core.models.students import BUDGET, NAMES, build_student, count_params, fit_width, get_arch, pretrained_file, start_from
from core.techniques.base import StepContext, TechniqueConfig, TechniqueError, derived, param
from core.techniques.training_fields import (
    augment_param,
    augmentation_param,
    gamma_param,
    keep_best_param,
    label_smoothing_param,
    optimizer_param,
    schedule_param,
    step_size_param,
    train_config,
    weight_decay_param,
)
from core.training import TrainConfig


@dataclass(frozen=True)
class StudentTraining(TechniqueConfig):
    """Student architecture and training settings (subclassed by distill.kd and arch.swap)."""

    student: str = param(
        "demo_w8", label="Student", choices=NAMES,
        help="Lightweight architecture to train; adapted to the data's input size and classes (stride-1 stem below 96 px)",
    )
    width: float = param(
        0.0, label="Width", min=0.0, max=4.0, step=0.05,
        help="Channel multiplier of the student (1 = the published network); 0 = automatic: the widest that keeps "
        "the student at most half the teacher's parameters (1 when the student starts from weights)",
    )
    student_weights: str = param(
        "", label="Student weights",
        help="state_dict file the student starts from (e.g. ImageNet weights); a head for another class count is replaced",
    )
    pretrained: bool = param(
        False, label="Pretrained",
        help="Start from torchvision's ImageNet weights in its cache ($TORCH_HOME/hub/checkpoints); nothing is downloaded",
    )
    epochs: int = param(30, label="Epochs", help="Passes over the training split", min=1, max=500, step=1)
    lr: float = param(0.1, label="Learning rate", help="Peak learning rate of the one-cycle schedule (SGD, Nesterov)", min=1e-6, max=2.0, step=0.01)
    batch_size: int = param(
        32, label="Batch size", min=1, max=4096, step=8,
        help="Training images per step; small batches give a student trained from scratch more steps per epoch",
    )
    weight_decay: float = weight_decay_param()
    augment: bool = augment_param()
    optimizer: str = optimizer_param()
    schedule: str = schedule_param()
    step_size: int = step_size_param()
    gamma: float = gamma_param()
    label_smoothing: float = label_smoothing_param()
    augmentation: str = augmentation_param()
    keep_best: bool = keep_best_param()

    def train_config(self, ctx: StepContext) -> TrainConfig:
        return train_config(self, ctx)

    def weights_file(self) -> Optional[Path]:
        """The file the student starts from (student_weights, or the cached ImageNet weights), or None for random."""
        if self.student_weights and self.pretrained:
            raise TechniqueError("a student starts from student_weights or from pretrained weights, not both",
                                 "clear student_weights, or set pretrained = false")
        if self.student_weights:
            return Path(self.student_weights).expanduser()
        return pretrained_file(self.student) if self.pretrained else None

    def resolved_width(self, model: LoadedModel, ctx: StepContext) -> float:
        """``width``, or with 0 the one :func:`fit_width` picks for this teacher (``model``); 1 under weights."""
        if self.width > 0:
            return self.width
        if self.student_weights or self.pretrained:
            return 1.0
        return fit_width(self.student, self._classes(model, ctx), ctx.input_shape, n_params(model.module))

    def make_student(self, model: LoadedModel, ctx: StepContext, width: Optional[float] = None) -> tuple[nn.Module, list[str]]:
        """The student for ``model`` as teacher, at ``width`` (already resolved) or the resolved ``self.width``.

        Untrained, or started from :meth:`weights_file`.
        """
        start = self.weights_file()
        width = width or self.resolved_width(model, ctx)
        classes = self._classes(model, ctx)
        module, notes = build_student(self.student, classes, ctx.input_shape, width, seed=ctx.seed)
        if start is not None:
            notes.insert(0, start_from(module, self.student, classes, ctx.input_shape, width, start))
            if self.width <= 0:
                notes.insert(1, "width ×1: the published network, which the weights were trained as")
        elif self.width <= 0:
            notes.insert(0, _auto_width_note(width, count_params(module), n_params(model.module)))
        return module, notes

    def student_model(self, model: LoadedModel, module: nn.Module, suffix: str, width: float) -> LoadedModel:
        out = derived(model, module.eval(), suffix=suffix)
        out.name = get_arch(self.student).label + (f", width ×{width:g}" if width != 1.0 else "")
        out.arch = f"student:{self.student}"
        return out

    @staticmethod
    def _classes(model: LoadedModel, ctx: StepContext) -> int:
        return model.num_classes or ctx.data.num_classes


def n_params(module: nn.Module) -> int:
    return count_params(module)


def _auto_width_note(width: float, params: int, teacher: int) -> str:
    """What the automatic width chose, and whether it met the budget."""
    if teacher <= 0:
        return f"width ×{width:g}: the teacher's size is unknown, so the published width"
    if params <= BUDGET * teacher:
        return f"width ×{width:g} chosen automatically: {params:,} params, at most half of the teacher's {teacher:,}"
    return f"width ×{width:g} chosen automatically, the narrowest there is: {params:,} params against the teacher's {teacher:,}"
