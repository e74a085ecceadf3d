"""Measure one model state of a recipe run, now; time all of them together at the end.

After each step the runner takes a :class:`Snapshot`: accuracy and agreement on
the validation split, parameter counts, MACs, and the model as a deployable
ONNX file (exported for PyTorch-side states). Everything but latency is known
at once and streamed to the caller. Latency is measured last, with every
snapshot's ONNX file timed interleaved in one loop, so the baseline and each
step see the same machine conditions and the speed-ups are fair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError
from core.jobs import CancelToken, ProgressFn, check, null_progress, sub_progress
from core.metrics.accuracy import agreement, evaluate_accuracy
from core.metrics.latency import LatencyStats, TimingOptions, measure_latency_interleaved
from core.metrics.measure import ModelMetrics, macs_or_note, ratios_between
from core.metrics.size import onnx_file_size, onnx_param_counts, param_counts, serialized_size
from core.models.loaded import LoadedModel


@dataclass
class Snapshot:
    """A model state of a run, measured (latency is filled in by :func:`time_snapshots`)."""

    label: str  # "baseline" or "step 2: prune.structured"
    metrics: ModelMetrics
    onnx_path: Optional[Path]  # None when the ONNX export failed (then no ONNX Runtime latency)
    agreement: Optional[float] = None  # top-1 agreement with the baseline on the validation split
    ratios: dict[str, Optional[float]] = field(default_factory=dict)  # baseline / this (above 1 = better)

    def to_dict(self) -> dict:
        return {
            **self.metrics.to_dict(),
            "agreement": self.agreement,
            "onnx_path": str(self.onnx_path) if self.onnx_path else None,
            "ratios": dict(self.ratios),
        }


def take_snapshot(
    label: str,
    model: LoadedModel,
    data: DatasetBundle,
    folder: Path,
    *,
    baseline: Optional[Snapshot] = None,
    eval_batch: int = 128,
    timing: TimingOptions = TimingOptions(),
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> Snapshot:
    """Accuracy, agreement, params, MACs and the ONNX file of ``model``; sizes are those of the ONNX file.

    The ONNX file is what would be deployed, so its size is the fair one to
    compare across PyTorch-side and ONNX-side steps (a state_dict and an ONNX
    file of the same weights differ by framing and folded BatchNorms).
    """
    progress = progress or null_progress
    shape = tuple(data.input_shape)
    acc = evaluate_accuracy(model, data.loader("val", eval_batch), progress=sub_progress(progress, 0.0, 0.6), cancel=cancel)
    check(cancel)
    notes: list[str] = []
    progress(0.6, "counting parameters and MACs")
    counts = onnx_param_counts(model.runnable.path) if model.is_onnx else param_counts(model.module)  # type: ignore[union-attr]
    macs = macs_or_note(model, shape, notes)  # type: ignore[arg-type]
    onnx_path: Optional[Path]
    if model.is_onnx:
        onnx_path = Path(model.runnable.path)  # type: ignore[union-attr]
    else:
        from core.models.onnx_export import export_onnx

        progress(0.75, "exporting to ONNX")
        try:
            onnx_path = export_onnx(model.module, shape, Path(folder) / "model.onnx")  # type: ignore[arg-type]
        except EdgeSlimError as exc:
            notes.append(f"no ONNX file, so no ONNX Runtime latency or file size: {exc}")
            onnx_path = None
    info = onnx_file_size(onnx_path) if onnx_path is not None else serialized_size(model)  # with external data, as shipped
    size, zipped = info.bytes, info.zip_bytes
    metrics = ModelMetrics(
        name=model.name, input_shape=shape, accuracy=acc.top1, top5=acc.top5, n_eval=acc.n,  # type: ignore[arg-type]
        params=counts.total, nonzero_params=counts.nonzero, macs=macs, size_bytes=size, zip_bytes=zipped,
        latency={}, batch=timing.batch, threads=timing.threads, notes=notes, predictions=acc.predictions,
    )
    snap = Snapshot(label=label, metrics=metrics, onnx_path=onnx_path)
    if baseline is not None:
        snap.agreement = _agreement(baseline.metrics.predictions, acc.predictions)
        snap.ratios = ratios_between(baseline.metrics, metrics)
    else:
        snap.agreement = 1.0
    progress(1.0, "measured")
    return snap


def _agreement(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> Optional[float]:
    return agreement(a, b) if a is not None and b is not None and len(a) == len(b) and len(a) else None


def time_snapshots(
    snaps: Sequence[Snapshot],
    input_shape: Sequence[int],
    timing: TimingOptions = TimingOptions(),
    *,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> list[Optional[LatencyStats]]:
    """ONNX Runtime latency of every snapshot that has an ONNX file, timed interleaved; ratios updated."""
    timed = [s for s in snaps if s.onnx_path is not None]
    stats: dict[int, LatencyStats] = {}
    if timed:
        results = measure_latency_interleaved(
            [s.onnx_path for s in timed], input_shape, **timing.as_kwargs(), progress=progress, cancel=cancel,  # type: ignore[misc]
        )
        stats = {id(s): r for s, r in zip(timed, results)}
    for s in snaps:
        if id(s) in stats:
            s.metrics.latency["onnxruntime"] = stats[id(s)]
            s.metrics.batch, s.metrics.threads = timing.batch, timing.threads
    if snaps:
        base = snaps[0]
        for s in snaps[1:]:
            s.ratios = ratios_between(base.metrics, s.metrics)
    return [stats.get(id(s)) for s in snaps]
