"""Per-class accuracy of a baseline and its compressed model, their confusion matrices, and the images that changed.

One overall accuracy hides which classes paid for the compression; a class
that lost ten points can sit under a total that lost one. Both models are
scored in one pass of the one evaluation path (:func:`core.metrics.accuracy.evaluate_models`,
the batches every accuracy figure uses), so the per-class counts add up to the
accuracy the store shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch

from core.jobs import CancelToken, ProgressFn
from core.metrics.accuracy import eval_loader, evaluate_models
from core.models.loaded import LoadedModel


@dataclass(frozen=True)
class ClassRow:
    """One class: how many validation images it has and how many each model got right."""

    index: int
    name: str
    count: int
    correct_before: int
    correct_after: int

    @property
    def before(self) -> Optional[float]:
        return self.correct_before / self.count if self.count else None

    @property
    def after(self) -> Optional[float]:
        return self.correct_after / self.count if self.count else None

    @property
    def delta(self) -> Optional[float]:
        """Accuracy change in points (after − before, ×100); None for a class with no images."""
        return 100.0 * (self.correct_after - self.correct_before) / self.count if self.count else None


@dataclass(frozen=True)
class ChangedImage:
    """A validation image whose top-1 prediction differs between the two models."""

    index: int  # position in the validation split
    label: int
    before: int
    after: int

    @property
    def fixed(self) -> bool:
        return self.after == self.label

    @property
    def broken(self) -> bool:
        return self.before == self.label


@dataclass
class PerClassComparison:
    """Both models' per-class results on the same validation images (confusion rows: true class, columns: predicted)."""

    class_names: list[str]
    confusion_before: np.ndarray
    confusion_after: np.ndarray
    changed: list[ChangedImage]
    top1_before: float
    top1_after: float
    thumbnails: dict[int, np.ndarray] = field(default_factory=dict, repr=False)  # split index -> uint8 H×W×3

    @property
    def n(self) -> int:
        return int(self.confusion_before.sum())

    @property
    def rows(self) -> list[ClassRow]:
        """One row per class, in class order."""
        counts = self.confusion_before.sum(axis=1)
        before, after = np.diag(self.confusion_before), np.diag(self.confusion_after)
        return [ClassRow(i, name, int(counts[i]), int(before[i]), int(after[i])) for i, name in enumerate(self.class_names)]

    def rows_by_delta(self) -> list[ClassRow]:
        """Classes that lost most first; classes without images last."""
        return sorted(self.rows, key=lambda r: (r.delta is None, r.delta if r.delta is not None else 0.0, r.index))

    def to_dict(self) -> dict:
        """A JSON-able report (thumbnails left out)."""
        return {
            "n": self.n, "top1_before": self.top1_before, "top1_after": self.top1_after,
            "classes": [{"index": r.index, "name": r.name, "count": r.count, "correct_before": r.correct_before,
                         "correct_after": r.correct_after, "before": r.before, "after": r.after, "delta_pt": r.delta}
                        for r in self.rows],
            "confusion_before": self.confusion_before.tolist(), "confusion_after": self.confusion_after.tolist(),
            "changed": [{"index": c.index, "label": c.label, "before": c.before, "after": c.after} for c in self.changed],
        }


def confusion(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class); predictions outside the classes are refused by the caller's check."""
    flat = labels.astype(np.int64) * num_classes + predictions.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def compare_per_class(
    baseline: LoadedModel,
    compressed: LoadedModel,
    data,
    split: str = "val",
    *,
    thumbnails: int = 48,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> PerClassComparison:
    """Score both models on ``data``'s ``split`` in one pass; keep up to ``thumbnails`` changed images as pictures."""
    labels: list[np.ndarray] = []

    def keep_labels(_images: torch.Tensor, batch_labels: torch.Tensor, _logits: list[torch.Tensor]) -> None:
        labels.append(batch_labels.cpu().numpy().astype(np.int64))

    before, after = evaluate_models([baseline, compressed], eval_loader(data, split), topk=(1,),
                                    progress=progress, cancel=cancel, observe=keep_labels)
    truth = np.concatenate(labels)
    k = max(len(data.class_names), int(truth.max(initial=-1)) + 1,
            int(before.predictions.max(initial=-1)) + 1, int(after.predictions.max(initial=-1)) + 1)
    names = list(data.class_names) + [f"output {i}" for i in range(len(data.class_names), k)]
    moved = np.nonzero(before.predictions != after.predictions)[0]
    changed = [ChangedImage(int(i), int(truth[i]), int(before.predictions[i]), int(after.predictions[i])) for i in moved]
    return PerClassComparison(
        class_names=names,
        confusion_before=confusion(truth, before.predictions, k),
        confusion_after=confusion(truth, after.predictions, k),
        changed=changed,
        top1_before=before.top1,
        top1_after=after.top1,
        thumbnails=pictures(data, [c.index for c in changed[:thumbnails]], split),
    )


def pictures(data, indices: Sequence[int], split: str = "val") -> dict[int, np.ndarray]:
    """The images at ``indices`` un-normalised to uint8 H×W×3, as the dataset preview shows them."""
    ds = data.split(split)
    mean = np.asarray(data.preprocessing.mean, dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(data.preprocessing.std, dtype=np.float32).reshape(-1, 1, 1)
    out: dict[int, np.ndarray] = {}
    for i in indices:
        x = ds[int(i)][0]
        img = np.asarray(x, dtype=np.float32)
        img = img * std[: img.shape[0]] + mean[: img.shape[0]]
        img = np.clip(img * 255.0, 0, 255).astype(np.uint8).transpose(1, 2, 0)
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        out[int(i)] = np.ascontiguousarray(img)
    return out
