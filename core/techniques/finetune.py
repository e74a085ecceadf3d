"""``finetune``: a few epochs of training to win back what pruning or decomposition cost.

Cross-entropy on the training split, optionally blended with Hinton's soft
targets from the recipe's input model (the uncompressed baseline) as teacher —
the cheap "distillation as recovery" that pruning papers use. Same loop as the
demo trainer (SGD + one-cycle by default, at a lower peak learning rate because
the weights are already good), on the run's training device.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.models.exported import ProgramModule
from core.techniques.prune_unstructured import frozen_sparsity
from core.techniques.base import StepContext, StepOutcome, TechniqueConfig, TechniqueError, derived, param, technique
from core.techniques.training_fields import (
    augment_param,
    augmentation_param,
    best_words,
    gamma_param,
    keep_best_param,
    label_smoothing_param,
    optimizer_param,
    schedule_param,
    settings_words,
    step_size_param,
    train_config,
    training_extra,
    training_notes,
    weight_decay_param,
)
from core.training import train_classifier


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, alpha: float, temperature: float) -> torch.Tensor:
    """(1−α)·CE(student, labels) + α·T²·KL(softmax(teacher/T) ‖ softmax(student/T))."""
    ce = F.cross_entropy(student, labels)
    if alpha <= 0:
        return ce
    t = temperature
    soft = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1), reduction="batchmean", log_target=True)
    return (1.0 - alpha) * ce + alpha * (t * t) * soft


@technique(
    "finetune",
    family="Fine-tune",
    label="Fine-tune",
    summary="Train a few epochs to recover accuracy, optionally with the original model as teacher",
)
@dataclass(frozen=True)
class Finetune(TechniqueConfig):
    epochs: int = param(2, label="Epochs", help="Passes over the training split", min=1, max=200, step=1)
    lr: float = param(0.01, label="Learning rate", help="Peak learning rate of the one-cycle schedule (the start rate of the others)", min=1e-6, max=1.0, step=0.001)
    batch_size: int = param(64, label="Batch size", help="Training images per step", min=1, max=4096, step=8)
    weight_decay: float = weight_decay_param()
    augment: bool = augment_param()
    kd_alpha: float = param(
        0.0, label="Teacher weight", min=0.0, max=1.0, step=0.05,
        help="Weight of the original model's soft targets (0 = plain cross-entropy; 0.5-0.9 helps after heavy pruning)",
    )
    temperature: float = param(4.0, label="Temperature", help="Softening of the teacher's and student's outputs for the soft loss", min=1.0, max=20.0, step=0.5)
    optimizer: str = optimizer_param()
    schedule: str = schedule_param()
    step_size: int = step_size_param()
    gamma: float = gamma_param()
    label_smoothing: float = label_smoothing_param()
    augmentation: str = augmentation_param()
    keep_best: bool = keep_best_param()

    def apply(self, model, ctx: StepContext) -> StepOutcome:
        module = model.module
        if isinstance(module, ProgramModule):
            raise TechniqueError(
                f"{model.name} is a torch.export program, which cannot be trained",
                "load the model from its architecture and state_dict (or a torchvision name) to fine-tune it",
            )
        loss_fn = None
        teacher = None
        if self.kd_alpha > 0:
            if ctx.baseline is None or ctx.baseline.is_onnx:
                raise TechniqueError("fine-tuning with a teacher needs the original PyTorch model", "set kd_alpha = 0")
            teacher = copy.deepcopy(ctx.baseline.module).eval()

            def loss_fn(logits: torch.Tensor, labels: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
                with torch.no_grad():
                    t_logits = teacher(inputs)
                return kd_loss(logits, t_logits, labels, self.kd_alpha, self.temperature)

        config = train_config(self, ctx)
        companions = (teacher,) if teacher is not None else ()
        with frozen_sparsity(module) as masked:  # pruned zeros stay zero
            result = train_classifier(module, ctx.data, config, progress=ctx.progress, cancel=ctx.cancel, loss_fn=loss_fn,
                                      companions=companions, on_epoch=ctx.on_epoch)
        history = [
            {"epoch": h.epoch, "train_loss": round(h.train_loss, 4), "val_accuracy": round(h.val_accuracy, 4)}
            for h in result.history
        ]
        how = f" with the original model as teacher (α={self.kd_alpha}, T={self.temperature})" if teacher is not None else ""
        words = settings_words(self)
        notes = [f"kept the zeros of {len(masked)} sparse layer(s) fixed while training"] if masked else []
        return StepOutcome(
            model=derived(model, module, suffix="ft"),
            summary=f"fine-tuned {self.epochs} epoch(s){how}{f' ({words})' if words else ''}: "
            f"validation accuracy {100 * result.final_val_accuracy:.2f} %{best_words(result)}",
            notes=notes + training_notes(result),
            extra={"history": history, "seconds": round(result.seconds, 2), "sparse_layers_kept": masked,
                   **training_extra(result)},
        )

