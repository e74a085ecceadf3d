"""What distillation and plain student training share: which student, and how it trains.

``distill.kd`` and ``arch.swap`` take the same student choice and the same
training settings, so a user compares them like for like: the only difference
is the teacher's soft targets.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from core.models.loaded import LoadedModel
from core.models.students import NAMES, build_student, get_arch
from core.techniques.base import StepContext, TechniqueConfig, derived, param
from core.training import TrainConfig


@dataclass(frozen=True)
class StudentTraining(TechniqueConfig):
    """Student architecture and training settings (subclassed by distill.kd and arch.swap)."""

    student: str = param(
        "demo_w8", label="Student", choices=NAMES,
        help="Lightweight architecture to train; adapted to the data's input size and classes (stride-1 stem below 96 px)",
    )
    width: float = param(1.0, label="Width", help="Channel multiplier (MobileNets and the demo family)", min=0.1, max=4.0, step=0.05)
    epochs: int = param(30, label="Epochs", help="Passes over the training split", min=1, max=500, step=1)
    lr: float = param(0.1, label="Learning rate", help="Peak learning rate of the one-cycle schedule (SGD, Nesterov)", min=1e-6, max=2.0, step=0.01)
    batch_size: int = param(64, label="Batch size", help="Training images per step", min=1, max=4096, step=8)
    weight_decay: float = param(5e-4, label="Weight decay", help="L2 penalty on the weights", min=0.0, max=0.1, step=1e-4)
    augment: bool = param(True, label="Augment", help="Small random shifts, rotations and scaling of the training images")

    def train_config(self, ctx: StepContext) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
            augment=self.augment, seed=ctx.seed, threads=ctx.threads,
        )

    def make_student(self, model: LoadedModel, ctx: StepContext) -> tuple[nn.Module, list[str]]:
        num_classes = model.num_classes or ctx.data.num_classes
        return build_student(self.student, num_classes, ctx.input_shape, self.width, seed=ctx.seed)

    def student_model(self, model: LoadedModel, module: nn.Module, suffix: str) -> LoadedModel:
        out = derived(model, module.eval(), suffix=suffix)
        out.name = get_arch(self.student).label + (f" ×{self.width}" if self.width != 1.0 else "")
        out.arch = f"student:{self.student}"
        return out


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
