"""The ONNX Runtime quantization backend: pre-processing, calibration reader, static / dynamic / symmetric calls.

Every call into ``onnxruntime.quantization`` goes through here, so the error
wrapping (any ONNX Runtime exception becomes one :class:`TechniqueError` with a
fix), the quiet logs, the per-batch calibration and the fp32 exclusions made
real (:func:`core.techniques.qdq_exclusions.bypass_activation_qdq`) are written
once. The graph facts and the slim file writer stay in
:mod:`core.techniques.onnx_quant_common`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

from core.jobs import Cancelled, ProgressFn
from core.models.spec import first_line
from core.techniques import onnx_quant_common as oq
from core.techniques.base import StepContext, TechniqueError
from core.techniques.qdq_exclusions import bypass_activation_qdq

STATIC_FIX = "keep the failing layer in fp32 with exclude_nodes or exclude_op_types, or try calibration_method MinMax"
DYNAMIC_FIX = "keep the failing layer in fp32 with exclude_nodes, or use quantize.static"


@dataclass(frozen=True)
class QdqScheme:
    """How a static QDQ int8 graph stores its numbers: ``types`` is activations then weights (U8S8, S8S8, U8U8)."""

    types: str = "U8S8"
    per_channel: bool = True
    reduce_range: bool = False
    method: str = "MinMax"
    symmetric: bool = False  # every zero-point 0 (TensorRT's explicit quantization)


@contextlib.contextmanager
def ort_errors(fix: str) -> Iterator[None]:
    """Any ONNX Runtime failure as one :class:`TechniqueError` (cancel and our own errors pass through)."""
    try:
        yield
    except (Cancelled, TechniqueError):
        raise
    except Exception as exc:  # ONNX Runtime raises many types; all mean "could not quantize"
        raise TechniqueError(
            f"ONNX Runtime could not quantize the model ({type(exc).__name__}: {first_line(exc)})", fix,
        ) from exc


def prepare_graph(src: Path, pre: Path, logs: list[str]) -> tuple[object, list[str]]:
    """ONNX Runtime's pre-processing of ``src`` into ``pre``; the loaded graph and any fallback notes."""
    with oq.quiet_ort(logs):
        notes = oq.preprocess(src, pre)
    return oq.load_proto(pre), notes


def calibration_reader(proto, ctx: StepContext, samples: int, batch_size: int,
                       progress: Optional[ProgressFn] = None) -> oq.CalibrationReader:
    """A reader over the calibration split, checked against the model's input first."""
    value = oq.first_input(proto)
    dims = [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
    if len(ctx.data.calib) == 0:  # type: ignore[arg-type]
        raise TechniqueError("the calibration split is empty", "use a dataset with calibration images")
    sample = tuple(ctx.data.calib[0][0].shape)
    expected = tuple(dims[1:])
    if len(expected) != len(sample) or any(e not in (None, s) for e, s in zip(expected, sample)):
        shown = "×".join(str(e) if e else "?" for e in expected)
        raise TechniqueError(
            f"the calibration images are {'×'.join(map(str, sample))} but the model expects {shown}",
            "use data prepared at the model's input size (--image-size / preset)",
        )
    return oq.CalibrationReader(ctx, value.name, samples, batch_size, fixed_batch=oq.input_batch(value),
                                progress=progress or ctx.progress)


def quantize_qdq(pre: Path, raw: Path, reader: oq.CalibrationReader, scheme: QdqScheme, *,
                 exclude: Sequence[str] = (), source=None, logs: Optional[list[str]] = None, fix: str = STATIC_FIX,
                 cache: Optional[Path] = None):
    """ONNX Runtime's ``quantize_static`` in QDQ format into ``raw``; the graph, with ``exclude`` really fp32.

    ``source`` is the graph that was quantized (``pre`` loaded): the excluded
    layers' activations ONNX Runtime folded away are restored from it.
    ``cache``: a file for the calibrated ranges; the first call writes it and
    later calls with other exclusions reuse it instead of calibrating again
    (the ranges do not depend on the exclusions, so the model is the same).
    """
    import inspect

    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    qtype = {"U": QuantType.QUInt8, "S": QuantType.QInt8}
    extra = dict(oq.CALIBRATE_PER_BATCH)
    if scheme.symmetric:
        extra.update(ActivationSymmetric=True, WeightSymmetric=True)
    cached = {"calibration_cache_path": str(cache)} if cache and "calibration_cache_path" in inspect.signature(
        quantize_static).parameters else {}  # ONNX Runtime 1.2x has no cache: it calibrates every time
    with ort_errors(fix), oq.quiet_ort(logs):
        quantize_static(
            str(pre), str(raw), reader,
            quant_format=QuantFormat.QDQ,
            per_channel=scheme.per_channel,
            reduce_range=scheme.reduce_range,
            activation_type=qtype[scheme.types[0]],
            weight_type=qtype[scheme.types[2]],
            nodes_to_exclude=list(exclude),
            calibrate_method=getattr(CalibrationMethod, scheme.method),
            extra_options=extra,
            **cached,
        )
    q_proto = oq.load_proto(raw)
    if exclude:
        bypass_activation_qdq(q_proto.graph, list(exclude), source=(source or oq.load_proto(pre)).graph)
    return q_proto


def quantize_weights_dynamic(pre: Path, raw: Path, *, op_types: Sequence[str], weight_type: str, per_channel: bool,
                             reduce_range: bool, skip: Sequence[str], logs: Optional[list[str]] = None,
                             fix: str = DYNAMIC_FIX):
    """ONNX Runtime's ``quantize_dynamic`` into ``raw`` (MatMul weights that are constants only); the graph."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with ort_errors(fix), oq.quiet_ort(logs):
        quantize_dynamic(
            str(pre), str(raw),
            op_types_to_quantize=list(op_types),
            per_channel=per_channel,
            reduce_range=reduce_range,
            weight_type=getattr(QuantType, weight_type),
            nodes_to_exclude=list(skip),
            extra_options={"MatMulConstBOnly": True},
        )
    return oq.load_proto(raw)
