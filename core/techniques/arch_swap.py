"""``arch.swap``: train a lightweight architecture from scratch on the data, with no teacher.

The control experiment for distillation: same student, same epochs, same
schedule, only cross-entropy. What ``distill.kd`` gains over this is what the
teacher's soft targets are worth.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.models.students import size_words
from core.techniques.base import StepContext, StepOutcome, technique
from core.techniques.training_fields import best_words, training_extra, training_notes
from core.techniques.student_fields import StudentTraining, n_params
from core.training import train_classifier


@technique(
    "arch.swap",
    family="Distillation",
    label="Swap architecture (train from scratch)",
    summary="Train a lightweight architecture on the data without a teacher (the baseline for distillation)",
)
@dataclass(frozen=True)
class ArchSwap(StudentTraining):
    def apply(self, model, ctx: StepContext) -> StepOutcome:
        width = self.resolved_width(model, ctx)
        student, notes = self.make_student(model, ctx, width)
        result = train_classifier(student, ctx.data, self.train_config(ctx), progress=ctx.progress, cancel=ctx.cancel,
                                  on_epoch=ctx.on_epoch)
        out = self.student_model(model, student, self.student, width)
        before = n_params(model.module)
        after = n_params(student)
        return StepOutcome(
            model=out,
            summary=f"trained {out.name} from scratch for {self.epochs} epochs: {before:,} → {after:,} params "
            f"({size_words(before, after)}), "
            f"validation accuracy {100 * result.final_val_accuracy:.2f} %{best_words(result)}",
            notes=[f"student adapted: {n}" for n in notes] + training_notes(result),
            extra={"history": [h.__dict__ for h in result.history], "params_before": before, "params_after": after,
                   **training_extra(result)},
        )
