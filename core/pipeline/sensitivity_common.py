"""What the per-layer sensitivity analyses share: the report, the scoring and the argument checks.

See :mod:`core.pipeline.sensitivity` for the analyses themselves.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence

from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError
from core.jobs import CancelToken
from core.metrics.accuracy import AccuracyResult, agreement, evaluate_accuracy
from core.models.loaded import LoadedModel

PRUNE = "prune.structured"
QUANT = "quantize.static"
QUANT_METHODS = ("exclude_one", "only_one", "error")
EVAL_BATCH = 128
ERROR_IMAGES = 64  # validation images the "error" method compares activations on
ERROR_BATCH = 16  # activations of every tensor are held for one batch at a time
MIN_LOST_DB = 3.0  # "error" suggests layers losing this much SQNR (noise power doubled) and half the worst one's loss
MAX_EXCLUDE = 3  # int8 that keeps more layers in fp32 than this loses its point


# --------------------------------------------------------------------------- the report


@dataclass
class SensitivityReport:
    """A per-layer table and the recipe step it suggests.

    ``key`` is the row field that ranks the layers (higher = more sensitive):
    ``drop_pt`` (points lost), ``recovered_pt`` (points won back by keeping
    the layer fp32) or ``lost_db`` (SQNR lost across the layer, int8 against fp32).
    """

    technique: str
    method: str
    baseline: float  # top-1 of the untouched model on the images evaluated
    rows: list[dict]
    seconds: float
    suggestion: dict  # {"technique": ..., **params}
    key: str
    settings: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def ranked(self) -> list[dict]:
        """Rows, most sensitive first; rows without a score (skipped layers) last."""
        scored = [r for r in self.rows if r.get(self.key) is not None]
        rest = [r for r in self.rows if r.get(self.key) is None]
        return sorted(scored, key=lambda r: -r[self.key]) + rest

    def suggested_step(self) -> tuple[str, dict]:
        """``(technique, params)`` for :func:`core.pipeline.recipe.make_step`."""
        params = {k: v for k, v in self.suggestion.items() if k != "technique"}
        return self.suggestion["technique"], params

    def to_dict(self) -> dict:
        return {
            "technique": self.technique, "method": self.method, "key": self.key,
            "baseline": self.baseline, "seconds": round(self.seconds, 2), "settings": dict(self.settings),
            "extra": dict(self.extra), "rows": self.ranked(), "suggestion": dict(self.suggestion),
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- shared helpers


class _FirstBatches:
    """The first ``n`` batches of a loader, with a length (so accuracy progress stays a fraction)."""

    def __init__(self, loader: Any, n: Optional[int]) -> None:
        self.loader, self.n = loader, n

    def __len__(self) -> int:
        total = len(self.loader)
        return total if self.n is None else min(total, self.n)

    def __iter__(self) -> Iterator:
        return itertools.islice(iter(self.loader), len(self))


def _evaluate(model: LoadedModel, data: DatasetBundle, eval_batches: Optional[int], cancel: Optional[CancelToken]) -> AccuracyResult:
    return evaluate_accuracy(model, _FirstBatches(data.loader("val", EVAL_BATCH), eval_batches), topk=(1,), cancel=cancel)


def _scored(model: LoadedModel, data: DatasetBundle, eval_batches: Optional[int], cancel: Optional[CancelToken],
            reference: AccuracyResult) -> dict:
    """Accuracy, and agreement with the reference's predictions: finer than accuracy when that barely moves."""
    result = _evaluate(model, data, eval_batches, cancel)
    return {"accuracy": result.top1, "agreement": round(agreement(result.predictions, reference.predictions), 4)}


def _points(a: float, b: float) -> float:
    """``a − b`` in accuracy points, rounded for reading."""
    return round(100.0 * (a - b), 3)


def _check_threshold(threshold: float) -> None:
    if not (isinstance(threshold, (int, float)) and threshold >= 0 and math.isfinite(threshold)):
        raise EdgeSlimError(f"threshold {threshold!r} is not a number of points ≥ 0", "use e.g. 1.0 (one accuracy point)")


def _check_eval_batches(eval_batches: Optional[int]) -> None:
    if eval_batches is not None and (isinstance(eval_batches, bool) or not isinstance(eval_batches, int) or eval_batches < 1):
        raise EdgeSlimError(f"eval_batches {eval_batches!r} must be a whole number ≥ 1", "leave it out to evaluate every validation image")


def _choose(known: Sequence[str], wanted: Optional[Sequence[str]], what: str) -> list[str]:
    """``wanted`` (in model order) after checking every name exists; all of ``known`` when None."""
    if wanted is None:
        return list(known)
    import difflib

    for name in wanted:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise EdgeSlimError(f"no {what} named {name!r} in the model", f"{hint}names look like: {', '.join(list(known)[:6])}")
    return [n for n in known if n in set(wanted)]
