"""The sensitivity service: which layers a pruning or int8 step should leave alone, as a typed request.

The measurement itself is :mod:`core.pipeline.sensitivity`; this module checks
the request (before minutes of loading), loads the model and data from their
sources and reports progress through ``emit``. The CLI and the window build a
:class:`SensitivityRequest` and show the :class:`SensitivityOutcome`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Optional

from core.controls import ask
from core.app.events import Emit, EventReporter
from core.app.sources import DataSource, ModelSource
from core.errors import EdgeSlimError
from core.jobs import CancelToken, sub_progress

TECHNIQUES = ("prune.structured", "quantize.static")


@dataclass(frozen=True)
class SensitivityRequest:
    """One sensitivity analysis; settings left None take the technique's defaults."""

    model: ModelSource
    data: DataSource
    technique: str
    ratio: Optional[float] = None  # prune.structured: channel ratio pruned per group (0.5)
    importance: Optional[str] = None  # prune.structured: channel ranking (l1)
    method: Optional[str] = None  # quantize.static: exclude_one | only_one | error
    calibration_samples: Optional[int] = None  # quantize.static (128)
    layers: Optional[tuple[str, ...]] = None  # only these layers
    max_batches: Optional[int] = None  # score on the first N validation batches
    threshold: float = 1.0  # points of accuracy above which a layer is kept

    def check(self) -> None:
        """Fail on bad names and settings of the other technique, before anything is loaded."""
        from core.pipeline.sensitivity import QUANT_METHODS

        if self.technique not in TECHNIQUES:
            close = difflib.get_close_matches(self.technique, TECHNIQUES, n=1, cutoff=0.4)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise EdgeSlimError(f"sensitivity analysis does not cover {self.technique!r}",
                                f"use {ask('technique', action=False)} {' or '.join(TECHNIQUES)}{hint}")
        if self.technique == "quantize.static":
            if self.method not in (None, *QUANT_METHODS):
                raise EdgeSlimError(f"unknown {ask('method', action=False)} {self.method!r}", f"use one of {', '.join(QUANT_METHODS)}")
            if self.ratio is not None or self.importance is not None:
                raise EdgeSlimError(f"{ask('ratio', action=False)} and {ask('importance', action=False)} apply to prune.structured",
                                    "leave them out for quantize.static")
        elif self.method is not None or self.calibration_samples is not None:
            raise EdgeSlimError(f"{ask('method', action=False)} and {ask('calibration_samples', action=False)} apply to quantize.static",
                                "leave them out for prune.structured")


@dataclass
class SensitivityOutcome:
    """The report, and the model and data it was measured on (their names head the CLI's table)."""

    report: Any  # core.pipeline.sensitivity.SensitivityReport
    model: Any  # core.models.LoadedModel
    data: Any  # core.data.DatasetBundle

    def to_dict(self) -> dict:
        return {**self.report.to_dict(), "model": self.model.name, "data": self.data.name}


def analyse_sensitivity(request: SensitivityRequest, emit: Emit, cancel: Optional[CancelToken] = None, *,
                        cache: Optional[dict] = None) -> SensitivityOutcome:
    """The sensitivity service: check, load (``cache`` keeps model and data for the next job), measure, report."""
    from core.app.execute import load_sources
    from core.metrics import check_compatible
    from core.pipeline.sensitivity import prune_sensitivity, quant_sensitivity

    request.check()
    progress = EventReporter(emit)
    progress(0.0, "loading model")
    model, data = load_sources(request.model, request.data, cache)
    progress(0.01, "loading data")
    check_compatible(model, data)
    common = {"layers": list(request.layers) if request.layers else None, "eval_batches": request.max_batches,
              "threshold": request.threshold, "progress": sub_progress(progress, 0.02, 1.0), "cancel": cancel}
    if request.technique == "prune.structured":
        report = prune_sensitivity(model, data, ratio=0.5 if request.ratio is None else request.ratio,
                                   importance=request.importance or "l1", **common)
    else:
        report = quant_sensitivity(model, data, method=request.method or "exclude_one",
                                   calibration_samples=request.calibration_samples or 128, **common)
    return SensitivityOutcome(report, model, data)
