"""The evaluate service: accuracy, size, MACs and latency of one model on one dataset, from a typed request.

What ``edgeslim-cli evaluate`` prints and the window's metrics table shows come
from here, through the one evaluation path (:func:`core.metrics.measure_model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from core.app.events import Emit, EventReporter
from core.app.sources import DataSource, ModelSource
from core.jobs import CancelToken, sub_progress
from core.metrics.latency import TimingOptions


@dataclass(frozen=True)
class EvaluateRequest:
    """A model measured on a dataset (None: no accuracy, only size, MACs and latency)."""

    model: ModelSource
    data: Optional[DataSource] = None
    timing: TimingOptions = TimingOptions()
    eval_batch: int = 128


@dataclass
class EvaluateOutcome:
    """The metrics, and the model and data they belong to (names and notes for the report)."""

    metrics: Any  # core.metrics.ModelMetrics
    model: Any  # core.models.LoadedModel
    data: Any = None  # core.data.DatasetBundle

    @property
    def notes(self) -> list[str]:
        return [*self.model.notes, *(self.data.notes if self.data is not None else []), *self.metrics.notes]


def evaluate(request: EvaluateRequest, emit: Emit, cancel: Optional[CancelToken] = None, *,
             cache: Optional[dict] = None) -> EvaluateOutcome:
    """Load the model (and data, mapped onto the model's outputs and checked), then measure everything."""
    from core.metrics import measure_model

    progress = EventReporter(emit)
    progress(0.0, "loading model")
    if request.data is None:
        model, data = request.model.load(), None
    else:
        from core.app.execute import load_sources
        from core.metrics import check_compatible

        model, data = load_sources(request.model, request.data, cache)
        progress(0.02, "loading data")
        check_compatible(model, data)
    metrics = measure_model(model, data, timing=request.timing, eval_batch=request.eval_batch,
                            progress=sub_progress(progress, 0.05, 1.0), cancel=cancel)
    return EvaluateOutcome(metrics, model, data)
