"""The one-pass quantization sensitivity: int8 against fp32 activations per layer (SQNR), no accuracy per layer.

The comparison itself is :mod:`core.quant.ranking` (``quantize.static``'s
``max_drop`` fallback ranks layers with it too); this module scores the
all-int8 model and feeds the validation images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from core.data.bundle import DatasetBundle
from core.jobs import ProgressFn, check, null_progress
from core.metrics.accuracy import AccuracyResult
from core.models.loaded import LoadedModel
from core.pipeline.sensitivity_common import ERROR_BATCH, ERROR_IMAGES, _scored
from core.techniques.base import StepContext, derived


def _error_rows(
    fp32: LoadedModel, pre: Path, proto: Any, ops: list, config: Any, ctx: StepContext,
    data: DatasetBundle, eval_batches: Optional[int], reference: AccuracyResult, progress: ProgressFn,
) -> tuple[list[dict], dict]:
    """Per layer: SQNR of its input and output, int8 against fp32 activations on a few validation images.

    ORT's matching needs its own tensor names (``…_DequantizeLinear_Output``),
    which ``quantize.static`` shortens in the file it writes, so the QDQ model
    compared here is quantized directly with the same settings.
    """
    from core.models.onnx_model import OnnxModel
    from core.quant import ranking
    from core.techniques import onnx_quant_common as oq

    tmp = Path(ctx.workdir)
    qdq = tmp / "qdq.onnx"
    progress(0.0, "quantizing every layer")
    _quantize_raw(pre, qdq, proto, config, ctx)
    check(ctx.cancel)
    progress(0.4, "evaluating the int8 model")
    int8 = _scored(derived(fp32, OnnxModel(qdq), suffix="int8"), data, eval_batches, ctx.cancel, reference)
    progress(0.55, "comparing fp32 and int8 activations")
    batches = _val_batches(data, oq.first_input(proto).name)
    rows = ranking.sqnr_rows(pre, qdq, proto, ops, batches, tmp, check=ctx.check)
    images = min(ERROR_IMAGES, len(data.val))  # type: ignore[arg-type]
    return rows, {"int8_accuracy": int8["accuracy"], "int8_agreement": int8["agreement"], "error_images": images}


def _quantize_raw(pre: Path, out: Path, proto: Any, config: Any, ctx: StepContext) -> None:
    """ORT's quantize_static with the settings of ``config`` (``quantize.static``'s own mapping), names kept."""
    from core.quant import ort_backend

    reader = ort_backend.calibration_reader(proto, ctx, config.calibration_samples, config.batch_size, null_progress)
    ort_backend.quantize_qdq(pre, out, reader, config.scheme(), fix="use the exclude_one method, which reports layers one by one")


def _val_batches(data: DatasetBundle, input_name: str) -> Iterable[dict[str, np.ndarray]]:
    """The first :data:`ERROR_IMAGES` validation images, a batch at a time (activations are held per batch)."""
    seen = 0
    for images, _ in data.loader("val", ERROR_BATCH):
        if seen >= ERROR_IMAGES:
            break
        batch = np.asarray(images, dtype=np.float32)[: ERROR_IMAGES - seen]
        seen += len(batch)
        yield {input_name: batch}
