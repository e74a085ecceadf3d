"""``quantize.static``: post-training int8 through ONNX Runtime, calibrated on real images.

The fp32 ONNX model goes through ONNX Runtime's pre-processing, then
``quantize_static`` in QDQ format (QuantizeLinear/DequantizeLinear pairs that
ONNX Runtime fuses into int8 kernels, and that other runtimes and NPUs read as
well). Weights are int8 per output channel; activations get one scale each from
the calibration images. The default U8S8 (uint8 activations, int8 weights) is
the fast path of ONNX Runtime's x86 and ARM kernels; S8S8 QDQ, the library's own
default, is barely faster than fp32 on x86. Layers kept in fp32 read the fp32
activation (:mod:`core.techniques.qdq_exclusions`), and a result whose predictions
collapsed is refused rather than stored (:mod:`core.techniques.quant_guard`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.jobs import Cancelled, ProgressFn, null_progress, sub_progress
from core.models.onnx_model import OnnxModel
from core.models.spec import first_line
from core.techniques import onnx_quant_common as oq
from core.techniques.qdq_exclusions import bypass_activation_qdq
from core.techniques.quant_guard import check_collapse
from core.techniques.base import (
    ONNX, StepContext, StepOutcome, TechniqueConfig, TechniqueError, derived, onnx_source, param, technique,
)

TYPES = ("U8S8", "S8S8", "U8U8")  # activations, weights
METHODS = ("MinMax", "Entropy", "Percentile")

_TYPE_NOTES = {
    "S8S8": "S8S8 (int8 activations) runs little faster than fp32 in ONNX Runtime on x86 CPUs; U8S8 is the fast path "
            "there. Keep S8S8 for NPUs or runtimes that require signed, symmetric int8",
    "U8U8": "U8U8 stores weights as uint8 with a zero-point; x86 int8 kernels are fastest with U8S8. Keep U8U8 for "
            "targets that require it",
}


@technique(
    "quantize.static",
    family="Quantization",
    label="Static int8 (ONNX Runtime)",
    summary="Int8 weights and activations, calibrated on sample images; about 4x smaller and faster on CPU",
    side=ONNX,
    accepts_onnx=True,
)
@dataclass(frozen=True)
class QuantizeStatic(TechniqueConfig):
    calibration_samples: int = param(
        128, label="Calibration images", min=1, max=100_000, step=32,
        help="Images from the calibration split used to measure activation ranges (all of them if the split is smaller)",
    )
    calibration_method: str = param(
        "MinMax", label="Calibration method", choices=METHODS,
        help="MinMax: full observed range (robust, fast). Entropy / Percentile clip rare outliers, which can help "
             "models with long-tailed activations; they keep every activation in memory and are slower",
    )
    types: str = param(
        "U8S8", label="Int8 types", choices=TYPES,
        help="Activations then weights: U for uint8, S for int8. U8S8 is ONNX Runtime's fast CPU path; S8S8 for NPUs "
             "that need symmetric int8; U8U8 only if your target requires it",
    )
    per_channel: bool = param(
        True, label="Per-channel weights",
        help="One scale per output channel instead of per layer: much better accuracy after BatchNorm folding, same speed",
    )
    reduce_range: bool = param(
        False, label="Reduce range (7-bit weights)",
        help="For x86 CPUs without VNNI (before AVX512-VNNI / AVX-VNNI), where U8S8 int8 products can saturate; "
             "costs a little accuracy",
    )
    exclude_nodes: tuple[str, ...] = param(
        (), label="Keep in fp32 (layers)",
        help="Layer names (e.g. fc, layer1.0.conv1) or ONNX node names left unquantized, e.g. a sensitive first or last layer",
    )
    exclude_op_types: tuple[str, ...] = param(
        (), label="Keep in fp32 (op types)", help="ONNX op types left unquantized, e.g. Gemm or ConvTranspose",
    )
    batch_size: int = param(32, label="Calibration batch", min=1, max=1024, step=8, help="Images per calibration run")
    check_agreement: bool = param(
        True, label="Refuse a collapsed model",
        help="Compare top-1 predictions with the input model on up to 256 validation images and fail, naming the likely "
             "layers, instead of storing an int8 model whose agreement fell to chance (or far below the same step without "
             "exclusions). Costs one evaluation, plus one quantization when layers are kept in fp32",
    )

    def apply(self, model, ctx: StepContext) -> StepOutcome:
        ctx.check()
        src = onnx_source(model, ctx)
        oq.check_quantizable(oq.load_proto(src), "quantized")
        workdir = Path(ctx.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        out_path = workdir / "model_int8.onnx"
        notes: list[str] = []
        logs: list[str] = []
        with tempfile.TemporaryDirectory(dir=workdir, prefix="quant-") as tmp:
            pre = Path(tmp) / "preprocessed.onnx"
            ctx.progress(0.05, "preparing the graph for quantization")
            with oq.quiet_ort(logs):
                notes += oq.preprocess(src, pre)
            pre_proto = oq.load_proto(pre)
            excluded = oq.resolve_names(pre_proto, self.exclude_nodes, self.exclude_op_types)
            ops = oq.weight_ops(pre_proto)
            reader = self._reader(pre_proto, ctx, sub_progress(ctx.progress, 0.1, 0.85))
            if reader.samples < self.calibration_samples:
                notes.append(
                    f"the calibration split has {reader.samples} usable images, fewer than the {self.calibration_samples} "
                    "asked for; all of them were used"
                )
            ctx.check()
            q_proto = self._quantize(pre, pre_proto, excluded, reader, Path(tmp) / "quantized.onnx", logs)
            ctx.progress(0.88, "writing the int8 model")
            layers = _layer_rows(ops, q_proto, set(excluded))
            counts = oq.op_counts(q_proto)
            saved = oq.save_slim(q_proto, out_path, compact_qdq=True)
            guard = None
            if self.check_agreement:
                ctx.progress(0.9, "checking the int8 model against the input model")

                def plain() -> Path:  # the same step without exclusions: the reference an exclusion must not fall far below
                    plain_reader = self._reader(pre_proto, ctx, null_progress)
                    plain_path = Path(tmp) / "plain_int8.onnx"
                    oq.save_slim(self._quantize(pre, pre_proto, [], plain_reader, Path(tmp) / "plain_raw.onnx", []), plain_path)
                    return plain_path

                names = [r["layer"] for r in layers if r["excluded"]] or list(self.exclude_nodes) + list(self.exclude_op_types)
                try:
                    guard = check_collapse(ctx, src, out_path, what="int8", excluded=names if excluded else (), plain=plain, traced=pre)
                except TechniqueError:
                    out_path.unlink(missing_ok=True)  # a broken model is not left where a later step could pick it up
                    raise
        fp32_bytes, int8_bytes = src.stat().st_size, out_path.stat().st_size
        notes += oq.left_in_fp32_note(layers)
        notes += [n for n in (_TYPE_NOTES.get(self.types),) if n]
        notes += [f"ONNX Runtime: {line}" for line in logs]
        done = sum(row["quantized"] for row in layers)
        ctx.progress(1.0, "quantized")
        return StepOutcome(
            model=derived(model, OnnxModel(out_path), suffix="int8"),
            summary=(
                f"static int8 ({self.types}, {'per-channel' if self.per_channel else 'per-tensor'}, {self.calibration_method} "
                f"on {reader.samples} images): {done} of {len(layers)} weight layers quantized, "
                f"{oq.kib(fp32_bytes)} → {oq.kib(int8_bytes)} ({fp32_bytes / max(int8_bytes, 1):.1f}× smaller)"
            ),
            layers=layers,
            notes=notes,
            extra={
                "quantize_linear": counts.get("QuantizeLinear", 0),
                "dequantize_linear": counts.get("DequantizeLinear", 0),
                "excluded_nodes": len(excluded),
                "quantized_layers": done,
                "weight_layers": len(layers),
                "calibration_samples": reader.samples,
                "fp32_bytes": fp32_bytes,
                "int8_bytes": int8_bytes,
                "slimmed_bytes": saved,
                "op_counts": counts,
                **({"input_agreement": round(guard.value, 4), "input_agreement_images": guard.images} if guard else {}),
            },
        )

    def _quantize(self, pre: Path, pre_proto, excluded: list[str], reader: oq.CalibrationReader, raw: Path,
                  logs: list[str]):
        """ONNX Runtime's ``quantize_static`` with this step's settings; the QDQ graph with exclusions made real."""
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        qtype = {"U": QuantType.QUInt8, "S": QuantType.QInt8}
        try:
            with oq.quiet_ort(logs):
                quantize_static(
                    str(pre), str(raw), reader,
                    quant_format=QuantFormat.QDQ,
                    per_channel=self.per_channel,
                    reduce_range=self.reduce_range,
                    activation_type=qtype[self.types[0]],
                    weight_type=qtype[self.types[2]],
                    nodes_to_exclude=excluded,
                    calibrate_method=getattr(CalibrationMethod, self.calibration_method),
                    extra_options=dict(oq.CALIBRATE_PER_BATCH),
                )
        except (Cancelled, TechniqueError):
            raise
        except Exception as exc:  # ONNX Runtime raises many types; all mean "could not quantize"
            raise TechniqueError(
                f"ONNX Runtime could not quantize the model ({type(exc).__name__}: {first_line(exc)})",
                "keep the failing layer in fp32 with exclude_nodes or exclude_op_types, or try calibration_method MinMax",
            ) from exc
        q_proto = oq.load_proto(raw)
        if excluded:
            bypass_activation_qdq(q_proto.graph, excluded, source=pre_proto.graph)
        return q_proto

    def _reader(self, proto, ctx: StepContext, progress: ProgressFn) -> oq.CalibrationReader:
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
        return oq.CalibrationReader(
            ctx, value.name, self.calibration_samples, self.batch_size, fixed_batch=oq.input_batch(value), progress=progress,
        )


def _layer_rows(ops: list[oq.WeightOp], q_proto, excluded: set[str]) -> list[dict]:
    """One row per weight layer: was its weight stored as int8 (fed through a DequantizeLinear)?"""
    producer = {out: node.op_type for node in q_proto.graph.node for out in node.output}
    nodes = {node.name: node for node in q_proto.graph.node if node.name}
    rows = []
    for op in ops:
        node = nodes.get(op.node)
        quantized = node is not None and len(node.input) > op.index and producer.get(node.input[op.index]) == "DequantizeLinear"
        rows.append({
            "layer": op.layer, "node": op.node, "op_type": op.op_type, "params": op.params,
            "quantized": bool(quantized), "excluded": op.node in excluded,
        })
    return rows
