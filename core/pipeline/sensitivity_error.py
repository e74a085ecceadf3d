"""The one-pass quantization sensitivity: int8 against fp32 activations per layer (SQNR), no accuracy per layer."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from core.data.bundle import DatasetBundle
from core.jobs import ProgressFn, check, null_progress
from core.metrics.accuracy import AccuracyResult
from core.models.loaded import LoadedModel
from core.models.spec import first_line
from core.pipeline.sensitivity_common import ERROR_BATCH, ERROR_IMAGES, _scored
from core.techniques.base import StepContext, TechniqueError, derived

def _error_rows(
    fp32: LoadedModel, pre: Path, proto: Any, ops: list, config: Any, ctx: StepContext,
    data: DatasetBundle, eval_batches: Optional[int], reference: AccuracyResult, progress: ProgressFn,
) -> tuple[list[dict], dict]:
    """Per layer: SQNR of its input and output, int8 against fp32 activations on a few validation images.

    ORT's matching needs its own tensor names (``…_DequantizeLinear_Output``),
    which ``quantize.static`` shortens in the file it writes, so the QDQ model
    compared here is quantized directly with the same settings.
    """
    from onnxruntime.quantization import qdq_loss_debug as dbg

    from core.models.onnx_model import OnnxModel
    from core.techniques import onnx_quant_common as oq

    tmp = Path(ctx.workdir)
    qdq = tmp / "qdq.onnx"
    progress(0.0, "quantizing every layer")
    _quantize_raw(pre, qdq, proto, config, ctx)
    check(ctx.cancel)
    progress(0.4, "evaluating the int8 model")
    int8 = _scored(derived(fp32, OnnxModel(qdq), suffix="int8"), data, eval_batches, ctx.cancel, reference)
    progress(0.55, "comparing fp32 and int8 activations")
    with oq.quiet_ort():
        dbg.modify_model_output_intermediate_tensors(str(pre), str(tmp / "fp32_debug.onnx"))
        dbg.modify_model_output_intermediate_tensors(str(qdq), str(tmp / "int8_debug.onnx"))
    name = oq.first_input(proto).name
    energy: dict[str, list[float]] = {}
    for batch in _val_batches(data, name):
        check(ctx.cancel)
        with oq.quiet_ort():
            float_acts = dbg.collect_activations(str(tmp / "fp32_debug.onnx"), [batch])
            int8_acts = dbg.collect_activations(str(tmp / "int8_debug.onnx"), [batch])
        matched = {k: v for k, v in dbg.create_activation_matching(int8_acts, float_acts).items() if "float" in v}
        for tensor, errs in dbg.compute_activation_error(matched, err_func=_energies).items():
            total = energy.setdefault(tensor, [0.0, 0.0])
            total[0] += errs["xmodel_err"][0]
            total[1] += errs["xmodel_err"][1]
    sqnr = {t: _db(signal, noise) for t, (signal, noise) in energy.items()}
    rows = [_error_row(op, proto, sqnr) for op in ops]
    images = min(ERROR_IMAGES, len(data.val))  # type: ignore[arg-type]
    return rows, {"int8_accuracy": int8["accuracy"], "int8_agreement": int8["agreement"], "error_images": images}


def _quantize_raw(pre: Path, out: Path, proto: Any, config: Any, ctx: StepContext) -> None:
    """ORT's quantize_static with the settings of ``config`` (``quantize.static``'s own mapping)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from core.jobs import Cancelled
    from core.techniques import onnx_quant_common as oq

    qtype = {"U": QuantType.QUInt8, "S": QuantType.QInt8}
    value = oq.first_input(proto)
    reader = oq.CalibrationReader(ctx, value.name, config.calibration_samples, config.batch_size,
                                  fixed_batch=oq.input_batch(value), progress=null_progress)
    try:
        with oq.quiet_ort():
            quantize_static(
                str(pre), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=config.per_channel,
                reduce_range=config.reduce_range, activation_type=qtype[config.types[0]],
                weight_type=qtype[config.types[2]], calibrate_method=getattr(CalibrationMethod, config.calibration_method),
                extra_options=dict(oq.CALIBRATE_PER_BATCH),
            )
    except (Cancelled, TechniqueError):
        raise
    except Exception as exc:  # ONNX Runtime raises many types; all mean "could not quantize"
        raise TechniqueError(f"ONNX Runtime could not quantize the model ({type(exc).__name__}: {first_line(exc)})",
                             "use the exclude_one method, which reports layers one by one") from exc


def _val_batches(data: DatasetBundle, input_name: str) -> Iterable[dict[str, np.ndarray]]:
    """The first :data:`ERROR_IMAGES` validation images, a batch at a time (activations are held per batch)."""
    seen = 0
    for images, _ in data.loader("val", ERROR_BATCH):
        if seen >= ERROR_IMAGES:
            break
        batch = np.asarray(images, dtype=np.float32)[: ERROR_IMAGES - seen]
        seen += len(batch)
        yield {input_name: batch}


def _energies(x: Sequence[np.ndarray], y: Sequence[np.ndarray]) -> tuple[float, float]:
    """Signal and noise energy of ``y`` against ``x``: summed over batches, they give one SQNR."""
    a = np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in x])
    b = np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in y])
    return float(np.dot(a, a)), float(np.dot(a - b, a - b))


def _db(signal: float, noise: float) -> float:
    """Signal-to-quantization-noise ratio in dB (capped: identical tensors would be infinite)."""
    return round(10.0 * math.log10(max(signal, 1e-30) / max(noise, signal * 1e-12, 1e-30)), 2)


def _error_row(op: Any, proto: Any, sqnr: dict[str, float]) -> dict:
    """SQNR into and out of one weight layer; ``lost_db`` is what the layer itself costs.

    Both sides are measured after quantization, so a layer is charged with its
    weights and its output; its int8 input is charged to the layer before.
    """
    nodes = {n.name: n for n in proto.graph.node}
    node = nodes[op.node]
    activation = node.input[1 - op.index] if op.op_type in ("Gemm", "MatMul") and len(node.input) > 1 else node.input[0]
    inp = _traced(proto, activation, sqnr, forward=False)
    out = _traced(proto, node.output[0], sqnr, forward=True)
    lost = None if inp is None or out is None else round(inp - out, 2)
    return {"layer": op.layer, "node": op.node, "op_type": op.op_type, "params": op.params,
            "input_sqnr_db": inp, "output_sqnr_db": out, "lost_db": lost}


def _traced(proto: Any, tensor: str, sqnr: dict[str, float], forward: bool, hops: int = 3) -> Optional[float]:
    """SQNR of ``tensor``, or of the nearest compared tensor along a single-link chain.

    The int8 graph fuses a Conv's ReLU and quantizes only the ReLU's output,
    so the Conv's own output has no int8 counterpart to compare.
    """
    for _ in range(hops + 1):
        if tensor in sqnr:
            return sqnr[tensor]
        if forward:
            nxt = [n for n in proto.graph.node if tensor in n.input]
            if len(nxt) != 1:
                return None
            tensor = nxt[0].output[0]
        else:
            prev = [n for n in proto.graph.node if tensor in n.output]
            if len(prev) != 1 or not prev[0].input:
                return None
            tensor = prev[0].input[0]
    return None
