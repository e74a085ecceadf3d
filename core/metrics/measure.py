"""Every headline number for a model, and a fair side-by-side of two models.

``measure_model`` is what ``edgeslim-cli evaluate`` and the GUI's metrics table
show; ``compare_models`` measures a baseline and a compressed model in the same
process with interleaved latency runs, so the ratios between them are not
distorted by whatever else the machine did between two separate measurements.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from core.controls import ask
from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError, ShapeMismatchError
from core.jobs import CancelToken, ProgressFn, check, null_progress, sub_progress
from core.metrics.accuracy import AccuracyResult, agreement, evaluate_accuracy
from core.metrics.compat import check_compatible
from core.metrics.latency import LatencyStats, Target, TimingOptions, chunk_note, measure_latency_interleaved
from core.metrics.size import onnx_param_counts, param_counts, serialized_size
from core.models.loaded import LoadedModel

BACKENDS = ("torch", "onnxruntime")


@dataclass
class ModelMetrics:
    """One model's accuracy, size, compute and latency, measured together."""

    name: str
    input_shape: tuple[int, int, int]
    accuracy: Optional[float]  # top-1 on the validation split; None without data
    top5: Optional[float]
    n_eval: int
    params: int
    nonzero_params: int
    macs: Optional[int]  # one image; None when it could not be counted (see notes)
    size_bytes: int
    zip_bytes: int
    latency: dict[str, LatencyStats]  # backend -> stats; a backend is absent when skipped
    batch: int
    threads: int
    notes: list[str] = field(default_factory=list)
    predictions: Optional[np.ndarray] = field(default=None, repr=False)  # top-1 per validation image

    def latency_ms(self, backend: str) -> Optional[float]:
        stats = self.latency.get(backend)
        return stats.median_ms if stats else None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "accuracy": self.accuracy,
            "top5": self.top5,
            "n_eval": self.n_eval,
            "params": self.params,
            "nonzero_params": self.nonzero_params,
            "macs": self.macs,
            "size_bytes": self.size_bytes,
            "zip_bytes": self.zip_bytes,
            "latency_ms": {
                **{b: self.latency_ms(b) for b in BACKENDS},
                "batch": self.batch,
                "threads": self.threads,
                "p90": {b: (self.latency[b].p90_ms if b in self.latency else None) for b in BACKENDS},
            },
            "latency": {b: s.to_dict() for b, s in self.latency.items()},
            "notes": list(self.notes),
        }


@dataclass
class Comparison:
    """Model ``a`` (usually the baseline) against model ``b``, measured side by side.

    Every ratio is a/b: above 1 means b is smaller, cheaper or faster.
    """

    a: ModelMetrics
    b: ModelMetrics
    agreement: Optional[float]  # share of validation images with the same top-1 class; None without data
    ratios: dict[str, Optional[float]]

    def to_dict(self) -> dict:
        return {"a": self.a.to_dict(), "b": self.b.to_dict(), "agreement": self.agreement, "ratios": dict(self.ratios)}


def _ratio(x: Optional[float], y: Optional[float]) -> Optional[float]:
    return float(x) / float(y) if x is not None and y else None


def ratios_between(a: ModelMetrics, b: ModelMetrics) -> dict[str, Optional[float]]:
    return {
        "size": _ratio(a.size_bytes, b.size_bytes),
        "zip": _ratio(a.zip_bytes, b.zip_bytes),
        "params": _ratio(a.params, b.params),
        "nonzero_params": _ratio(a.nonzero_params, b.nonzero_params),
        "macs": _ratio(a.macs, b.macs),
        **{f"speedup_{bk}": _ratio(a.latency_ms(bk), b.latency_ms(bk)) for bk in BACKENDS},
    }


def _resolve_shape(model: LoadedModel, data: Optional[DatasetBundle], given: Optional[Sequence[int]]) -> tuple[int, int, int]:
    if data is not None:
        return check_compatible(model, data)
    shape = given or model.input_shape
    if shape is None and model.is_onnx:
        dims = model.runnable.input_dims  # type: ignore[union-attr]
        if len(dims) == 4 and all(isinstance(d, int) and d > 0 for d in dims[1:]):
            shape = dims[1:]
    if shape is None:
        raise ShapeMismatchError(
            f"the input shape of {model.name} is unknown", f"give it with {ask('input_shape', action=False)} C,H,W, or measure with data"
        )
    return tuple(int(d) for d in shape)  # type: ignore[return-value]


def macs_or_note(model: LoadedModel, shape: tuple[int, int, int], notes: list[str]) -> Optional[int]:
    """MACs of one image; a failure becomes a note, since MACs are informative, not essential."""
    try:
        if model.is_onnx:
            from core.models import inspect_model  # lazy: the inspector is heavier than we need otherwise

            macs = inspect_model(model, shape).total_macs
            return int(macs) if macs is not None else None
        from core.models.exported import ProgramModule
        from core.models.macs import count_macs

        module = model.module
        fixed = module.batch if isinstance(module, ProgramModule) and module.batch else 1
        return count_macs(module, shape, batch=fixed) // fixed  # a static program runs whole batches of its size
    except Exception as exc:  # counting must not sink a measurement
        notes.append(f"MACs not counted ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})")
        return None


def _labelled(progress: ProgressFn, label: str) -> ProgressFn:
    return (lambda f, m: progress(f, f"{label}: {m}")) if label else progress


def _measure_all(
    models: Sequence[LoadedModel],
    data: Optional[DatasetBundle],
    *,
    timing: TimingOptions,
    backends: Sequence[str],
    eval_batch: int,
    input_shape: Optional[Sequence[int]],
    workdir: Optional[Path],
    progress: Optional[ProgressFn],
    cancel: Optional[CancelToken],
) -> list[ModelMetrics]:
    """Measure ``models`` together: static numbers per model, then latency interleaved across them."""
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown latency backend(s) {unknown}; expected some of {BACKENDS}")
    progress = progress or null_progress
    labels = [m.name for m in models] if len(models) > 1 else [""]
    if len(set(labels)) < len(labels):  # a model against a copy of itself: name them by position
        labels = [f"model {i + 1}" for i in range(len(models))]

    shapes = [_resolve_shape(m, data, input_shape) for m in models]
    if len(set(shapes)) > 1:
        raise ShapeMismatchError(
            "the models take different inputs (" + " vs ".join("×".join(map(str, s)) for s in shapes) + ")",
            "compare models built for the same input",
        )
    shape = shapes[0]
    exports = [m for m in models if not m.is_onnx] if "onnxruntime" in backends else []

    # slices of the bar, in proportion to how long each stage usually takes
    weights = {
        "accuracy": 4.0 * len(models) if data is not None else 0.0,
        "static": 0.5 * len(models),
        "export": 1.5 * len(exports),
        "latency": 3.0 * len(backends),
    }
    total_w = sum(weights.values()) or 1.0
    slices: dict[str, tuple[float, float]] = {}
    at = 0.0
    for stage, w in weights.items():
        slices[stage] = (at / total_w, (at + w) / total_w)
        at += w

    def stage_progress(stage: str, i: int = 0, n: int = 1) -> ProgressFn:
        lo, hi = slices[stage]
        step = (hi - lo) / n
        return sub_progress(progress, lo + i * step, lo + (i + 1) * step)

    def say(i: int, text: str) -> str:
        return f"{labels[i]}: {text}" if labels[i] else text

    notes: list[list[str]] = [[] for _ in models]
    acc: list[Optional[AccuracyResult]] = [None] * len(models)
    if data is not None:
        for i, m in enumerate(models):
            check(cancel)
            acc[i] = evaluate_accuracy(
                m,
                data.loader("val", eval_batch),
                progress=_labelled(stage_progress("accuracy", i, len(models)), labels[i]),
                cancel=cancel,
            )

    counts, sizes, macs = [], [], []
    for i, m in enumerate(models):
        check(cancel)
        stage_progress("static", i, len(models))(0.0, say(i, "counting parameters and MACs, sizing"))
        counts.append(onnx_param_counts(m.runnable.path) if m.is_onnx else param_counts(m.module))  # type: ignore[union-attr]
        macs.append(macs_or_note(m, shape, notes[i]))

    with tempfile.TemporaryDirectory(prefix="edgeslim-measure-") as tmp:
        folder = Path(workdir) if workdir is not None else Path(tmp)
        ort_targets: list[Optional[Target]] = [None] * len(models)
        if "onnxruntime" in backends:
            from core.models.onnx_export import export_onnx

            k = 0
            for i, m in enumerate(models):
                if m.is_onnx:
                    ort_targets[i] = m.runnable  # type: ignore[assignment]
                    continue
                check(cancel)
                stage_progress("export", k, len(exports))(0.0, say(i, "exporting to ONNX for ONNX Runtime"))
                name = "model.onnx" if len(models) == 1 else f"model_{i}.onnx"
                done = "exported to ONNX"
                try:
                    ort_targets[i] = export_onnx(m.module, shape, folder / name)
                except EdgeSlimError as exc:
                    # not silent: the note travels with the metrics and ONNX Runtime latency shows as missing
                    notes[i].append(f"no ONNX Runtime latency: {exc}")
                    done = "ONNX export failed; no ONNX Runtime latency"
                stage_progress("export", k, len(exports))(1.0, say(i, done))
                k += 1

        for i, m in enumerate(models):  # sized from the file just exported for ONNX Runtime: one export, not two
            exported = ort_targets[i] if not m.is_onnx and isinstance(ort_targets[i], (str, Path)) else None
            sizes.append(serialized_size(m, onnx_path=Path(exported) if exported is not None else None))

        latency: list[dict[str, LatencyStats]] = [{} for _ in models]
        for j, backend in enumerate(backends):
            check(cancel)
            if backend == "torch":
                chosen = [(i, m.module) for i, m in enumerate(models) if not m.is_onnx]
            else:
                chosen = [(i, t) for i, t in enumerate(ort_targets) if t is not None]
            bar = _labelled(stage_progress("latency", j, len(backends)), f"{backend} latency")
            if not chosen:
                continue
            stats = measure_latency_interleaved(
                [t for _, t in chosen],
                shape,
                **timing.as_kwargs(),
                progress=bar,
                cancel=cancel,
            )
            for (i, target), s in zip(chosen, stats):
                latency[i][backend] = s
                note = chunk_note(target, timing.batch)
                if note:
                    notes[i].append(note)

    results = []
    for i, m in enumerate(models):
        a = acc[i]
        results.append(
            ModelMetrics(
                name=m.name,
                input_shape=shape,
                accuracy=a.top1 if a else None,
                top5=a.top5 if a else None,
                n_eval=a.n if a else 0,
                params=counts[i].total,
                nonzero_params=counts[i].nonzero,
                macs=macs[i],
                size_bytes=sizes[i].bytes,
                zip_bytes=sizes[i].zip_bytes,
                latency=latency[i],
                batch=timing.batch,
                threads=timing.threads,
                notes=[*notes[i]],
                predictions=a.predictions if a else None,
            )
        )
    progress(1.0, "measured")
    return results


def measure_model(
    model: LoadedModel,
    data: Optional[DatasetBundle],
    *,
    timing: TimingOptions = TimingOptions(),
    backends: Sequence[str] = BACKENDS,
    eval_batch: int = 128,
    input_shape: Optional[Sequence[int]] = None,
    workdir: Optional[Path] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> ModelMetrics:
    """Accuracy (with data), params, MACs, size and latency of one model.

    A PyTorch model's ONNX Runtime latency is measured on an ONNX export written
    to ``workdir`` (a temporary folder when None); an ONNX model has no PyTorch
    latency. ``input_shape`` is needed only without data, for a model that does
    not know its own.
    """
    return _measure_all(
        [model],
        data,
        timing=timing,
        backends=backends,
        eval_batch=eval_batch,
        input_shape=input_shape,
        workdir=workdir,
        progress=progress,
        cancel=cancel,
    )[0]


def compare_models(
    a: LoadedModel,
    b: LoadedModel,
    data: Optional[DatasetBundle],
    *,
    timing: TimingOptions = TimingOptions(),
    backends: Sequence[str] = BACKENDS,
    eval_batch: int = 128,
    input_shape: Optional[Sequence[int]] = None,
    workdir: Optional[Path] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> Comparison:
    """Measure ``a`` and ``b`` side by side: latency interleaved, plus top-1 agreement."""
    ma, mb = _measure_all(
        [a, b],
        data,
        timing=timing,
        backends=backends,
        eval_batch=eval_batch,
        input_shape=input_shape,
        workdir=workdir,
        progress=progress,
        cancel=cancel,
    )
    agree = agreement(ma.predictions, mb.predictions) if ma.predictions is not None and mb.predictions is not None else None
    return Comparison(a=ma, b=mb, agreement=agree, ratios=ratios_between(ma, mb))
