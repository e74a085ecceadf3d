"""Top-k accuracy of a model on a labelled split, and agreement between two models.

Predictions are kept (one top-1 class per sample) so a compressed model can be
compared with its baseline sample by sample: agreement is a finer signal of
fidelity than the difference of two accuracies, which can hide swapped errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import numpy as np
import torch

from core.errors import DataError
from core.jobs import CancelToken, ProgressFn, check, null_progress
from core.models.loaded import LoadedModel


@dataclass
class AccuracyResult:
    """Accuracy on ``n`` samples; ``top5`` is None when there are fewer than 5 classes."""

    top1: float
    top5: Optional[float]
    n: int
    topk: dict[int, Optional[float]] = field(default_factory=dict)  # every k asked for
    predictions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    def to_dict(self) -> dict:
        # predictions stay out: they are per sample and only serve comparisons
        return {"top1": self.top1, "top5": self.top5, "n": self.n, "topk": {str(k): v for k, v in self.topk.items()}}


def _logits_of(output) -> torch.Tensor:
    """The logits tensor of a classifier's output, refusing outputs we cannot score."""
    if isinstance(output, torch.Tensor) and output.ndim == 2:
        return output
    shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
    raise DataError(
        f"the model's output is {shape}, not a (batch, classes) tensor of logits",
        "evaluate a classifier that returns one logits tensor per batch",
    )


def evaluate_accuracy(
    model: LoadedModel,
    loader: Iterable,
    topk: Sequence[int] = (1, 5),
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> AccuracyResult:
    """Run ``model`` over ``loader`` (batches of ``(images, labels)``) and score it.

    Progress is reported after each batch and the cancel token is checked
    before each one, so a GUI can stop a long evaluation between batches.
    """
    progress = progress or null_progress
    ks = sorted({1, *(int(k) for k in topk)})
    try:
        total_batches: Optional[int] = len(loader)  # type: ignore[arg-type]
    except TypeError:
        total_batches = None
    hits = {k: 0 for k in ks}
    n = 0
    num_classes: Optional[int] = None
    predictions: list[np.ndarray] = []
    progress(0.0, "evaluating accuracy")
    for i, (images, labels) in enumerate(loader):
        check(cancel)
        logits = _logits_of(model.predict(images)).float()
        labels = torch.as_tensor(labels).long().view(-1)
        num_classes = logits.shape[1]
        # the k highest classes per sample; k beyond the class count is scored later as None
        ranked = logits.topk(min(max(ks), num_classes), dim=1).indices
        for k in ks:
            if k <= num_classes:
                hits[k] += int((ranked[:, :k] == labels[:, None]).any(dim=1).sum())
        predictions.append(ranked[:, 0].cpu().numpy().astype(np.int64))
        n += labels.numel()
        done = (i + 1) / total_batches if total_batches else 0.0
        progress(done, f"evaluating accuracy: {n} images")
    check(cancel)
    if n == 0:
        raise DataError("the evaluation split has no images", "use a dataset whose validation split is not empty")
    scores = {k: (hits[k] / n if num_classes is not None and k <= num_classes else None) for k in ks}
    progress(1.0, f"evaluated accuracy on {n} images")
    return AccuracyResult(
        top1=scores[1],  # type: ignore[arg-type]
        top5=scores.get(5),
        n=n,
        topk=scores,
        predictions=np.concatenate(predictions),
    )


def agreement(pred_a: Sequence[int] | np.ndarray, pred_b: Sequence[int] | np.ndarray) -> float:
    """Share of samples on which two models predict the same top-1 class."""
    a = np.asarray(pred_a).reshape(-1)
    b = np.asarray(pred_b).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare predictions of {a.size} and {b.size} samples")
    if a.size == 0:
        raise ValueError("cannot compare empty predictions")
    return float(np.mean(a == b))
