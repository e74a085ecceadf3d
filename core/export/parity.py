"""Proof that the written file computes what the model computed.

The bundle's model file is loaded back from disk — ONNX in ONNX Runtime, a
``.pt2`` program with ``torch.export.load`` — and run on validation images
beside the in-memory model. Top-1 agreement and the largest logit difference
are compared with a tolerance that depends on what the export did: a plain
export must match to rounding; a precision change made during the export
(fp16, int8) is allowed its expected error, and is still measured.

The accuracies it reports come from the one evaluation path
(:mod:`core.metrics.accuracy`): the file loaded as ``evaluate`` loads it, in
the same batches, so a stored run's accuracy, ``evaluate`` of its file and
``file_accuracy`` here are one number. A file with a fixed batch is also run
as written, in chunks of its batch, and compared with the reference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError
from core.jobs import CancelToken, ProgressFn, null_progress
from core.metrics.accuracy import EVAL_BATCH, eval_loader, evaluate_models, load_for_evaluation
from core.models.loaded import LoadedModel


@dataclass(frozen=True)
class Tolerance:
    """How far the written file may drift from the model: logits relative to their scale, and top-1 agreement."""

    max_rel_diff: float  # max |Δlogit| / max(1, max |reference logit|)
    min_agreement: float

    def to_dict(self) -> dict:
        return asdict(self)


# what the export changed -> the drift it may cause
TOLERANCES = {
    "none": Tolerance(1e-3, 0.995),  # same precision: rounding and kernel order only
    "fp16": Tolerance(2e-2, 0.98),
    "int8": Tolerance(0.5, 0.95),  # quantized during export: judged against the fp32 model
}
# an unchanged int8 or fp16 file: ONNX Runtime's int8 kernels requantize differently for some batch
# sizes (one output step on a rare image), so a copy run at another batch is not bit-identical
UNCHANGED = {"int8": Tolerance(0.05, 0.99), "fp16": Tolerance(5e-3, 0.99)}


def tolerance_for(change: str, precision: str = "fp32") -> Tolerance:
    """The tolerance for an export that made ``change`` to a file of ``precision``."""
    if change == "none":
        return UNCHANGED.get(precision, TOLERANCES["none"])
    return TOLERANCES[change]


class ParityError(EdgeSlimError):
    """The written model file does not compute what the model computed."""


@dataclass
class ParityResult:
    file: str
    reference: str  # what it was compared with
    change: str  # none | fp16 | int8
    samples: int
    agreement: float
    max_abs_diff: float
    max_abs_logit: float
    tolerance: Tolerance
    passed: bool
    file_accuracy: Optional[float] = None
    reference_accuracy: Optional[float] = None
    split_images: Optional[int] = None  # images in the validation split (the accuracies cover all of them when equal)

    @property
    def max_rel_diff(self) -> float:
        return self.max_abs_diff / max(1.0, self.max_abs_logit)

    def summary(self) -> str:
        acc = ""
        if self.file_accuracy is not None and self.reference_accuracy is not None:
            acc = f"; accuracy {100 * self.file_accuracy:.2f} % vs {100 * self.reference_accuracy:.2f} %"
        of = f" (of {self.split_images})" if self.split_images and self.split_images != self.samples else ""
        return (f"{self.file} vs {self.reference} on {self.samples} validation images{of}: top-1 agreement "
                f"{100 * self.agreement:.2f} % (needs ≥ {100 * self.tolerance.min_agreement:g} %), max |Δlogit| "
                f"{self.max_abs_diff:.3g} = {self.max_rel_diff:.3g} of the logit scale "
                f"(needs ≤ {self.tolerance.max_rel_diff:g}){acc}")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["max_rel_diff"] = self.max_rel_diff
        out["tolerance"] = self.tolerance.to_dict()
        out["summary"] = self.summary()
        return out


def file_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Logits of the file at ``path`` for a float32 batch, loaded from disk as a deployment would."""
    path = Path(path)
    if path.suffix == ".pt2":
        from core.models.exported import load_pt2

        module = load_pt2(path)[0]

        def run_torch(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return module(torch.from_numpy(x)).detach().numpy()

        return run_torch
    from core.models.onnx_model import OnnxModel

    # the file as written: a fixed batch runs in chunks of it, never rewritten
    return OnnxModel(path, threads=2).run_numpy


def check_parity(
    path: Path,
    reference: LoadedModel,
    data: DatasetBundle,
    *,
    change: str = "none",
    precision: str = "fp32",
    samples: int = 1000,
    batch: int = EVAL_BATCH,
    tolerance: Optional[Tolerance] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> ParityResult:
    """Compare the file at ``path`` (of ``precision``) with ``reference`` on up to ``samples`` validation images.

    With ``samples`` at least the split's size every image is used, in the
    batches :func:`core.metrics.accuracy.evaluate_split` uses; fewer are spread
    evenly over the split. ``batch`` is kept for callers; the evaluation batch wins.
    """
    del batch  # one evaluation path: EVAL_BATCH
    tolerance = tolerance or tolerance_for(change, precision)
    total = len(data.val)  # type: ignore[arg-type]
    if total == 0:
        raise EdgeSlimError("the validation split is empty, so the export cannot be verified", "use a dataset with validation images")
    idx = np.unique(np.linspace(0, total - 1, num=min(samples, total)).round().astype(int))
    file_model = load_for_evaluation(Path(path))
    # a fixed-batch file is evaluated through a dynamic-batch copy: run the file as written too
    as_written = file_runner(path) if _evaluated_through_copy(file_model, path) else None
    stats = {"diff": 0.0, "scale": 0.0, "agree": 0}

    def compare(images: torch.Tensor, _labels: torch.Tensor, logits: list[torch.Tensor]) -> None:
        ref = logits[0].numpy()
        outs = [logits[1].numpy()]
        if as_written is not None:
            outs.append(np.asarray(as_written(images.float().numpy()), dtype=np.float32))
        for out in outs:
            if out.shape != ref.shape:
                raise ParityError(f"{Path(path).name} returns logits of shape {out.shape}, the model {ref.shape}",
                                  "report this as a bug: the export changed the model's output")
        stats["diff"] = max([stats["diff"], *(float(np.abs(out - ref).max()) for out in outs)])
        stats["scale"] = max(stats["scale"], float(np.abs(ref).max()))
        stats["agree"] += min(int((out.argmax(1) == ref.argmax(1)).sum()) for out in outs)

    loader = eval_loader(data, "val", None if len(idx) == total else idx)
    ref_acc, file_acc = evaluate_models([reference, file_model], loader, topk=(1,), cancel=cancel, observe=compare,
                                        progress=_parity_progress(progress, len(idx)))
    n = len(idx)
    result = ParityResult(
        file=Path(path).name, reference=_describe(reference), change=change, samples=n, agreement=stats["agree"] / n,
        max_abs_diff=stats["diff"], max_abs_logit=stats["scale"], tolerance=tolerance, passed=False,
        file_accuracy=file_acc.top1, reference_accuracy=ref_acc.top1, split_images=total,
    )
    result.passed = result.agreement >= tolerance.min_agreement and result.max_rel_diff <= tolerance.max_rel_diff
    return result


def _evaluated_through_copy(model: LoadedModel, path: Path) -> bool:
    return model.is_onnx and Path(model.runnable.path).resolve() != Path(path).resolve()  # type: ignore[union-attr]


def _parity_progress(progress: Optional[ProgressFn], n: int) -> ProgressFn:
    progress = progress or null_progress

    def report(fraction: float, _text: str) -> None:
        progress(fraction, f"parity check: {min(n, round(fraction * n))} of {n} images")

    return report


def _describe(model: LoadedModel) -> str:
    if model.is_onnx:
        shown = model.file_path or model.runnable.path  # type: ignore[union-attr]  # the user's file, not a dynamic-batch copy
        return f"the ONNX model {Path(shown).name} (ONNX Runtime)"
    return f"the PyTorch model {model.name}"


def require_parity(result: ParityResult) -> None:
    """Raise :class:`ParityError` with the numbers when ``result`` is beyond its tolerance."""
    if result.passed:
        return
    fix = ("calibrate with more images or keep sensitive layers in fp32 (quantize.static exclude_nodes), "
           "or export with --format onnx" if result.change == "int8" else
           "keep the layers that overflow in fp32 (quantize.fp16 exclude_nodes), or export with --format onnx"
           if result.change == "fp16" else "report it as a bug with the model and the command")
    raise ParityError(f"the export failed its parity check: {result.summary()}", fix)
