"""Will the export fit? The same model file, estimate and fit check as the export, without writing a bundle.

An export judges the file it ships, so a preview makes that very file in a
scratch folder (``prepare``) and runs the same estimate and fit check on it
(:func:`assess`, which :func:`core.export.bundle.export_bundle` calls too).
What the Export page and ``edgeslim-cli export --check`` show is therefore
what the export will decide. A caller that wants to export next can keep the
prepared files (``workdir``) and hand them to ``export_bundle(prepared=...)``,
so an int8 model is calibrated once, not twice.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from core.errors import EdgeSlimError
from core.export.estimate import Estimate, estimate
from core.export.fit import FitReport, check_fit, check_format
from core.export.prepare import ExportSource, PreparedModel, default_format, prepare, preparation_key
from core.export.targets import FORMATS, TargetProfile
from core.jobs import CancelToken, ProgressFn, check, null_progress, sub_progress


@dataclass
class ExportPreview:
    """The verdict an export would reach, and the numbers behind it."""

    target: str
    format: str
    precision: str  # what the model file computes in
    change: str  # what preparing the file changed: none | fp16 | int8 ("" when it could not be made)
    estimate: Optional[Estimate]  # None when the file could not be made in this format
    fit: FitReport
    notes: list[str] = field(default_factory=list)
    op_types: dict[str, int] = field(default_factory=dict)  # op type -> nodes in the file
    file_bytes: Optional[int] = None  # the model file the bundle would ship
    time_by_op: list[dict] = field(default_factory=list)  # where the estimated latency goes: op type, ms, share, bound
    prepared: Optional[PreparedModel] = field(default=None, repr=False)  # kept files (with ``workdir``)

    def to_dict(self) -> dict:
        return {
            "target": self.target, "format": self.format, "precision": self.precision, "change": self.change,
            "estimate": self.estimate.to_dict() if self.estimate is not None else None, "fit": self.fit.to_dict(),
            "notes": list(self.notes), "op_types": dict(self.op_types), "file_bytes": self.file_bytes,
            "time_by_op": [dict(t) for t in self.time_by_op],
        }


# --------------------------------------------------------------------------- shared with export_bundle


def choose_format(source: ExportSource, target: TargetProfile, fmt: Optional[str] = None,
                  prepared: Optional[PreparedModel] = None) -> str:
    """``fmt``, else the prepared files' format, else the target's default for the source; unknown names refused."""
    fmt = fmt or (prepared.format if prepared else default_format(target, source))
    if fmt not in FORMATS:
        raise EdgeSlimError(f"unknown format {fmt!r}", f"use one of: {', '.join(FORMATS)}")
    return fmt


def prepared_for(
    source: ExportSource, target: TargetProfile, fmt: str, workdir: Path, prepared: Optional[PreparedModel] = None,
    progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
) -> PreparedModel:
    """``prepared`` when it was made for this target's file, else the file made now in ``workdir``."""
    if prepared is None:
        return prepare(source, fmt, target, workdir, progress, cancel)
    if prepared.key != preparation_key(target, fmt):
        raise ValueError(f"the prepared files were made for {prepared.key}, not {preparation_key(target, fmt)}")
    return prepared


def assess(target: TargetProfile, fmt: str, onnx_file: Path, model_file: Path) -> tuple[Estimate, FitReport, Any]:
    """(estimate, fit report, ONNX proto) of the file a bundle ships; ``model_file`` is what the target stores."""
    import onnx

    est = estimate(onnx_file, target, stored_bytes=Path(model_file).stat().st_size)
    proto = onnx.load(str(onnx_file))
    fit = check_fit(target, fmt, est, (n.op_type for n in proto.graph.node), proto)
    return est, fit, proto


# --------------------------------------------------------------------------- the preview


def preview_export(
    source: ExportSource,
    target: TargetProfile,
    fmt: Optional[str] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
    *,
    prepared: Optional[PreparedModel] = None,
    workdir: Optional[Path] = None,
) -> ExportPreview:
    """The fit report and estimate an export of ``source`` for ``target`` would reach; writes no bundle.

    The model file is made in a temporary folder that is removed afterwards,
    or in ``workdir`` where it is kept (``preview.prepared``). A format the
    target does not take is reported as a problem, with the estimate when the
    file can still be made.
    """
    progress = progress or null_progress
    fmt = choose_format(source, target, fmt, prepared)
    if workdir is not None:
        return _preview(source, target, fmt, Path(workdir), prepared, progress, cancel)
    with tempfile.TemporaryDirectory(prefix="edgeslim-check-") as work:
        preview = _preview(source, target, fmt, Path(work), prepared, progress, cancel)
    if prepared is None:
        preview.prepared = None  # the files made here are gone
    return preview


def _preview(
    source: ExportSource, target: TargetProfile, fmt: str, work: Path, prepared: Optional[PreparedModel],
    progress: ProgressFn, cancel: Optional[CancelToken],
) -> ExportPreview:
    format_issues = check_format(target, fmt)
    try:
        made = prepared_for(source, target, fmt, work, prepared, sub_progress(progress, 0.0, 0.9), cancel)
    except EdgeSlimError as exc:
        if not format_issues:
            raise
        # the target does not take this format anyway: say so, and why the file could not be made either
        return ExportPreview(target.name, fmt, FORMATS[fmt], "", None, FitReport(target.name, False, format_issues), [str(exc)])
    check(cancel)
    progress(0.9, "estimating memory and latency")
    est, fit, proto = assess(target, fmt, made.onnx_file, made.model_file)
    progress(1.0, "fit checked")
    return ExportPreview(
        target=target.name, format=fmt, precision=made.precision, change=made.change, estimate=est, fit=fit,
        notes=list(made.notes), op_types=dict(sorted(Counter(n.op_type for n in proto.graph.node).items())),
        file_bytes=Path(made.model_file).stat().st_size, time_by_op=time_by_op(est), prepared=made,
    )


def time_by_op(est: Estimate) -> list[dict]:
    """The estimated latency per op type, slowest first, with the bound that dominates each."""
    ms: Counter = Counter()
    memory: Counter = Counter()
    for layer in est.layers:
        ms[layer.op_type] += layer.ms
        if layer.bound == "memory":
            memory[layer.op_type] += layer.ms
    total = sum(ms.values()) or 1.0
    return [{"op_type": op, "ms": t, "share": t / total, "bound": "memory" if memory[op] >= t / 2 else "compute"}
            for op, t in ms.most_common()]
