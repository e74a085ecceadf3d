"""Proof that the written file computes what the model computed.

The bundle's model file is loaded back from disk — ONNX in ONNX Runtime, a
``.pt2`` program with ``torch.export.load`` — and run on validation images
beside the in-memory model. Top-1 agreement and the largest logit difference
are compared with a tolerance that depends on what the export did: a plain
export must match to rounding; a precision change made during the export
(fp16, int8) is allowed its expected error, and is still measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError
from core.jobs import CancelToken, ProgressFn, check, null_progress
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

    @property
    def max_rel_diff(self) -> float:
        return self.max_abs_diff / max(1.0, self.max_abs_logit)

    def summary(self) -> str:
        acc = ""
        if self.file_accuracy is not None and self.reference_accuracy is not None:
            acc = f"; accuracy {100 * self.file_accuracy:.2f} % vs {100 * self.reference_accuracy:.2f} %"
        return (f"{self.file} vs {self.reference} on {self.samples} validation images: top-1 agreement "
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
    samples: int = 256,
    batch: int = 64,
    tolerance: Optional[Tolerance] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> ParityResult:
    """Compare the file at ``path`` (of ``precision``) with ``reference`` on up to ``samples`` validation images.

    The images are spread evenly over the split; the file runs on the same
    batches as the reference, in chunks of its batch when that is fixed.
    """
    progress = progress or null_progress
    tolerance = tolerance or tolerance_for(change, precision)
    val = data.val
    total = len(val)  # type: ignore[arg-type]
    if total == 0:
        raise EdgeSlimError("the validation split is empty, so the export cannot be verified", "use a dataset with validation images")
    idx = np.linspace(0, total - 1, num=min(samples, total)).round().astype(int)
    idx = np.unique(idx)
    run_file = file_runner(path)
    diffs, scale, agree, hits_file, hits_ref = 0.0, 0.0, 0, 0, 0
    for start in range(0, len(idx), batch):
        check(cancel)
        items = [val[int(i)] for i in idx[start: start + batch]]
        x = torch.stack([it[0] for it in items]).float()
        labels = np.asarray([int(it[1]) for it in items])
        ref = reference.predict(x).detach().float().numpy()
        out = np.asarray(run_file(x.numpy()), dtype=np.float32)
        if out.shape != ref.shape:
            raise ParityError(f"{Path(path).name} returns logits of shape {out.shape}, the model {ref.shape}",
                              "report this as a bug: the export changed the model's output")
        diffs = max(diffs, float(np.abs(out - ref).max()))
        scale = max(scale, float(np.abs(ref).max()))
        agree += int((out.argmax(1) == ref.argmax(1)).sum())
        hits_file += int((out.argmax(1) == labels).sum())
        hits_ref += int((ref.argmax(1) == labels).sum())
        progress(min(1.0, (start + batch) / len(idx)), f"parity check: {min(start + batch, len(idx))} of {len(idx)} images")
    n = len(idx)
    result = ParityResult(
        file=Path(path).name, reference=_describe(reference), change=change, samples=n, agreement=agree / n,
        max_abs_diff=diffs, max_abs_logit=scale, tolerance=tolerance, passed=False,
        file_accuracy=hits_file / n, reference_accuracy=hits_ref / n,
    )
    result.passed = result.agreement >= tolerance.min_agreement and result.max_rel_diff <= tolerance.max_rel_diff
    return result


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
