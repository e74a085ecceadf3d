"""``quantize.dynamic``: int8 weights, activations quantized on the fly, no calibration data.

ONNX Runtime's ``quantize_dynamic`` stores MatMul/Gemm weights as int8 and
quantizes each activation with its own range at run time. That suits models
whose work is in fully-connected layers (MLP heads, transformers): no
calibration set, and nothing to get wrong about activation ranges.
Convolutions are left in fp32 by default: ONNX Runtime runs a dynamically
quantized Conv as ConvInteger, which is slower than fp32 on CPU, so a
convolutional model wants ``quantize.static`` instead — the outcome says so.
Gemm nodes (what a Linear layer exports to) are rewritten by ONNX Runtime as
MatMul + Add before quantizing.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.models.onnx_model import OnnxModel
from core.quant import ort_backend
from core.techniques import onnx_quant_common as oq
from core.techniques.quant_guard import check_collapse
from core.techniques.base import (
    ONNX, StepContext, StepOutcome, TechniqueConfig, TechniqueError, derived, onnx_source, param, technique,
)

OP_TYPES = ("MatMul", "Gemm", "Conv")
CONV_WARN_SHARE = 0.5  # warn when convolutions do at least this share of the weight ops' MACs


@technique(
    "quantize.dynamic",
    family="Quantization",
    label="Dynamic int8 (ONNX Runtime)",
    summary="Int8 weights for MatMul/Gemm layers, activations quantized at run time; no calibration data",
    side=ONNX,
    accepts_onnx=True,
)
@dataclass(frozen=True)
class QuantizeDynamic(TechniqueConfig):
    weight_type: str = param(
        "QInt8", label="Weight type", choices=("QInt8", "QUInt8"),
        help="int8 (symmetric, the fast path) or uint8 weights; activations are always uint8",
    )
    per_channel: bool = param(True, label="Per-channel weights", help="One scale per output column instead of per layer: better accuracy")
    reduce_range: bool = param(
        False, label="Reduce range (7-bit weights)",
        help="For x86 CPUs without VNNI, where int8 products can saturate; costs a little accuracy",
    )
    op_types: tuple[str, ...] = param(
        ("MatMul", "Gemm"), label="Op types",
        help="Which layers to quantize: MatMul and Gemm (fully-connected). Conv is allowed but runs as ConvInteger, "
             "slower than fp32 on CPU: use quantize.static for convolutional models",
    )
    exclude_nodes: tuple[str, ...] = param(
        (), label="Keep in fp32 (layers)", help="Layer names (e.g. fc) or ONNX node names left unquantized",
    )
    check_agreement: bool = param(
        True, label="Refuse a collapsed model",
        help="Compare top-1 predictions with the input model on up to 256 validation images and fail, naming the likely "
             "layers, instead of storing an int8 model whose agreement fell to chance (or far below the same step without "
             "exclusions). Costs one evaluation, plus one quantization when layers are kept in fp32",
    )

    def apply(self, model, ctx: StepContext) -> StepOutcome:
        bad = [t for t in self.op_types if t not in OP_TYPES]
        if bad or not self.op_types:
            raise TechniqueError(
                f"dynamic quantization cannot quantize op types {', '.join(repr(t) for t in bad) or '(none given)'}",
                "choose from " + ", ".join(OP_TYPES),
            )
        ctx.check()
        src = onnx_source(model, ctx)
        oq.check_quantizable(oq.load_proto(src), "quantized")
        workdir = Path(ctx.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        out_path = workdir / "model_dynamic_int8.onnx"
        notes: list[str] = []
        logs: list[str] = []
        with tempfile.TemporaryDirectory(dir=workdir, prefix="quant-") as tmp:
            pre = Path(tmp) / "preprocessed.onnx"
            ctx.progress(0.05, "preparing the graph for quantization")
            pre_proto, pre_notes = ort_backend.prepare_graph(src, pre, logs)
            notes += pre_notes
            ops = oq.weight_ops(pre_proto)
            excluded = oq.resolve_names(pre_proto, self.exclude_nodes, ())
            chosen = [op for op in ops if op.op_type in self.op_types]
            if not chosen:
                have = oq.op_counts(pre_proto)
                found = ", ".join(f"{t} ×{have[t]}" for t in oq.WEIGHT_OPS if t in have) or "none"
                raise TechniqueError(
                    f"the model has no {' or '.join(self.op_types)} layers with weights to quantize (weight layers: {found})",
                    "use quantize.static for convolutional models, or add the op types the model has to op_types",
                )
            # ORT quantizes Gemm as the MatMul it rewrites it into, so "MatMul" and "Gemm" are told apart by node name
            skip = [op.node for op in ops if op.op_type in ("MatMul", "Gemm") and op.op_type not in self.op_types]
            skip += [f"{name}_MatMul" for name in skip]
            skip_all = [*skip, *excluded, *(f"{name}_MatMul" for name in excluded)]
            ort_types = sorted({"MatMul" if t in ("MatMul", "Gemm") else t for t in self.op_types})
            ctx.check()
            ctx.progress(0.3, "quantizing weights")
            q_proto = self._quantize(pre, Path(tmp) / "quantized.onnx", ort_types, skip_all, logs)
            ctx.progress(0.8, "writing the int8 model")
            layers = _layer_rows(ops, q_proto, set(excluded))
            counts = oq.op_counts(q_proto)
            saved = oq.save_slim(q_proto, out_path)
            guard = None
            if self.check_agreement:
                ctx.progress(0.85, "checking the int8 model against the input model")

                def plain() -> Path:  # the same step without exclusions
                    plain_path = Path(tmp) / "plain_int8.onnx"
                    oq.save_slim(self._quantize(pre, Path(tmp) / "plain_raw.onnx", ort_types, skip, []), plain_path)
                    return plain_path

                names = [r["layer"] for r in layers if r["excluded"]] or list(self.exclude_nodes)
                try:
                    guard = check_collapse(ctx, src, out_path, what="dynamic int8", excluded=names if excluded else (),
                                           plain=plain, traced=pre)
                except TechniqueError:
                    out_path.unlink(missing_ok=True)  # a broken model is not left where a later step could pick it up
                    raise
        macs = oq.macs_per_op(pre_proto)
        conv_share = macs.get("Conv", 0) / max(sum(macs.values()), 1)
        if conv_share >= CONV_WARN_SHARE:
            notes.append(
                f"convolutions do {conv_share:.0%} of this model's multiply-adds; dynamic quantization "
                + ("runs them as ConvInteger, which is slower than fp32 on CPU" if "Conv" in self.op_types else "leaves them in fp32")
                + ", so this model will not get faster: quantize.static is the right choice for convolutional models"
            )
        elif "Conv" in self.op_types and any(op.op_type == "Conv" for op in chosen):
            notes.append("dynamically quantized Conv runs as ConvInteger, often slower than fp32 on CPU; quantize.static is faster")
        notes += oq.left_in_fp32_note([r for r in layers if r["op_type"] in self.op_types])
        notes += [f"ONNX Runtime: {line}" for line in logs]
        fp32_bytes, int8_bytes = src.stat().st_size, out_path.stat().st_size
        done = sum(row["quantized"] for row in layers)
        ctx.progress(1.0, "quantized")
        return StepOutcome(
            model=derived(model, OnnxModel(out_path), suffix="dynint8"),
            summary=(
                f"dynamic int8 ({self.weight_type} weights, {'per-channel' if self.per_channel else 'per-tensor'}): "
                f"{done} of {len(layers)} weight layers quantized, {oq.kib(fp32_bytes)} → {oq.kib(int8_bytes)} "
                f"({fp32_bytes / max(int8_bytes, 1):.1f}× smaller)"
            ),
            layers=layers,
            notes=notes,
            extra={
                "quantized_layers": done,
                "weight_layers": len(layers),
                "excluded_nodes": len(excluded),
                "conv_mac_share": round(conv_share, 4),
                "fp32_bytes": fp32_bytes,
                "int8_bytes": int8_bytes,
                "slimmed_bytes": saved,
                "op_counts": counts,
                **({"input_agreement": round(guard.value, 4), "input_agreement_images": guard.images} if guard else {}),
            },
        )

    def _quantize(self, pre: Path, raw: Path, ort_types: list[str], skip: list[str], logs: list[str]):
        """ONNX Runtime's ``quantize_dynamic`` with this step's settings, skipping the nodes in ``skip``."""
        return ort_backend.quantize_weights_dynamic(
            pre, raw, op_types=ort_types, weight_type=self.weight_type, per_channel=self.per_channel,
            reduce_range=self.reduce_range, skip=skip, logs=logs,
        )


def _layer_rows(ops: list[oq.WeightOp], q_proto, excluded: set[str]) -> list[dict]:
    """One row per weight layer; a layer is still fp32 when a float op under its name (or its MatMul) remains."""
    float_ops = {node.name for node in q_proto.graph.node if node.op_type in oq.WEIGHT_OPS}
    rows = []
    for op in ops:
        quantized = op.node not in float_ops and f"{op.node}_MatMul" not in float_ops
        rows.append({
            "layer": op.layer, "node": op.node, "op_type": op.op_type, "params": op.params,
            "quantized": quantized, "excluded": op.node in excluded,
        })
    return rows
