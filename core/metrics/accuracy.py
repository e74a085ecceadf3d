"""Top-k accuracy of a model on a labelled split, and agreement between two models.

Predictions are kept (one top-1 class per sample) so a compressed model can be
compared with its baseline sample by sample: agreement is a finer signal of
fidelity than the difference of two accuracies, which can hide swapped errors.

This is the one evaluation path: the runner's snapshots, ``evaluate`` and the
export's parity check all score a model here, on the validation split in
batches of :data:`EVAL_BATCH` and with a model file loaded by
:func:`load_for_evaluation`, so one file never shows two accuracies (ONNX
Runtime's int8 kernels may round one image differently at another batch size).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
import torch

from core.errors import DataError
from core.jobs import CancelToken, ProgressFn, check, null_progress
from core.models.loaded import LoadedModel

EVAL_BATCH = 128  # the batch every accuracy figure is computed at (RunOptions.eval_batch's default)
# called once per batch with the images, the labels and each model's logits (the parity check compares them)
BatchObserver = Callable[[torch.Tensor, torch.Tensor, list[torch.Tensor]], None]


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


def eval_loader(data, split: str = "val", indices: Optional[Sequence[int]] = None):
    """The validation images as every accuracy figure sees them: in order, in batches of :data:`EVAL_BATCH`.

    ``indices`` scores a subset (in that order); None is the whole split, the
    exact batches a run's snapshot and ``evaluate`` use.
    """
    if indices is None:
        return data.loader(split, EVAL_BATCH)
    from torch.utils.data import DataLoader, Subset

    return DataLoader(Subset(data.split(split), [int(i) for i in indices]), batch_size=EVAL_BATCH, shuffle=False, num_workers=0)


def load_for_evaluation(path: Path) -> LoadedModel:
    """A model file loaded the way ``evaluate`` loads it (a fixed batch made dynamic when the rewrite is checked)."""
    from core.models.load import load_model

    return load_model(str(path))


def evaluate_split(
    model: LoadedModel, data, split: str = "val", progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
) -> AccuracyResult:
    """Accuracy of ``model`` on a whole split of ``data``: the figure the store, ``evaluate`` and the export report."""
    return evaluate_accuracy(model, eval_loader(data, split), progress=progress, cancel=cancel)


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
    return evaluate_models([model], loader, topk, progress, cancel)[0]


def evaluate_models(
    models: Sequence[LoadedModel],
    loader: Iterable,
    topk: Sequence[int] = (1, 5),
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
    observe: Optional[BatchObserver] = None,
) -> list[AccuracyResult]:
    """Score several models on the same batches in one pass (each exactly as :func:`evaluate_accuracy` would)."""
    progress = progress or null_progress
    ks = sorted({1, *(int(k) for k in topk)})
    try:
        total_batches: Optional[int] = len(loader)  # type: ignore[arg-type]
    except TypeError:
        total_batches = None
    scores = [_Score(ks) for _ in models]
    n = 0
    progress(0.0, "evaluating accuracy")
    for i, (images, labels) in enumerate(loader):
        check(cancel)
        labels = torch.as_tensor(labels).long().view(-1)
        logits = [_logits_of(m.predict(images)).float() for m in models]
        for score, out in zip(scores, logits):
            score.add(out, labels)
        if observe is not None:
            observe(images, labels, logits)
        n += labels.numel()
        done = (i + 1) / total_batches if total_batches else 0.0
        progress(done, f"evaluating accuracy: {n} images")
    check(cancel)
    if n == 0:
        raise DataError("the evaluation split has no images", "use a dataset whose validation split is not empty")
    progress(1.0, f"evaluated accuracy on {n} images")
    return [score.result(n) for score in scores]


class _Score:
    """Top-k hits and top-1 predictions of one model, batch by batch."""

    def __init__(self, ks: list[int]) -> None:
        self.ks, self.hits = ks, {k: 0 for k in ks}
        self.num_classes: Optional[int] = None
        self.predictions: list[np.ndarray] = []

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        self.num_classes = logits.shape[1]
        # the k highest classes per sample; k beyond the class count is scored later as None
        ranked = logits.topk(min(max(self.ks), self.num_classes), dim=1).indices
        for k in self.ks:
            if k <= self.num_classes:
                self.hits[k] += int((ranked[:, :k] == labels[:, None]).any(dim=1).sum())
        self.predictions.append(ranked[:, 0].cpu().numpy().astype(np.int64))

    def result(self, n: int) -> AccuracyResult:
        c = self.num_classes
        scores = {k: (self.hits[k] / n if c is not None and k <= c else None) for k in self.ks}
        return AccuracyResult(top1=scores[1], top5=scores.get(5), n=n, topk=scores,  # type: ignore[arg-type]
                              predictions=np.concatenate(self.predictions))


def agreement(pred_a: Sequence[int] | np.ndarray, pred_b: Sequence[int] | np.ndarray) -> float:
    """Share of samples on which two models predict the same top-1 class."""
    a = np.asarray(pred_a).reshape(-1)
    b = np.asarray(pred_b).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare predictions of {a.size} and {b.size} samples")
    if a.size == 0:
        raise ValueError("cannot compare empty predictions")
    return float(np.mean(a == b))
