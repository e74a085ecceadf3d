"""``quantize.fp16``: half-precision weights and compute for GPU and NPU targets.

Uses ONNX Runtime's own converter (``onnxruntime.transformers.float16``), which
clamps out-of-range values, keeps ops without fp16 kernels in fp32 and, with
``keep_io_types``, leaves the model's float32 input and output in place (Cast
nodes inside), so callers feed the same arrays as before. The file is about half
the size. On CPU, ONNX Runtime often runs fp16 *slower* than fp32 (few fp16 CPU
kernels, casts around the rest): this is for GPUs, NPUs and mobile runtimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.models.onnx_model import OnnxModel
from core.models.spec import first_line
from core.techniques import onnx_quant_common as oq
from core.techniques.quant_guard import check_collapse
from core.techniques.base import (
    ONNX, StepContext, StepOutcome, TechniqueConfig, TechniqueError, derived, onnx_source, param, technique,
)

_FLOAT16 = 10  # onnx.TensorProto.FLOAT16


@technique(
    "quantize.fp16",
    family="Quantization",
    label="Float16 (GPU / NPU)",
    summary="Half-precision weights and compute with float32 input and output; half the file, for GPU/NPU targets",
    side=ONNX,
    accepts_onnx=True,
)
@dataclass(frozen=True)
class QuantizeFp16(TechniqueConfig):
    keep_io_types: bool = param(
        True, label="Keep float32 input/output",
        help="Cast at the model's edges so it still takes and returns float32 arrays (turn off only if the caller feeds fp16)",
    )
    exclude_nodes: tuple[str, ...] = param(
        (), label="Keep in fp32 (layers)", help="Layer names or ONNX node names left in float32, e.g. a layer that overflows in fp16",
    )
    exclude_op_types: tuple[str, ...] = param(
        (), label="Keep in fp32 (op types)",
        help="ONNX op types left in float32, in addition to those without fp16 kernels (which always are)",
    )
    check_agreement: bool = param(
        True, label="Refuse a collapsed model",
        help="Compare top-1 predictions with the input model on up to 256 validation images and fail, naming the likely "
             "layers, instead of storing an fp16 model whose agreement fell to chance (an fp16 overflow). Costs one evaluation",
    )

    def apply(self, model, ctx: StepContext) -> StepOutcome:
        from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

        ctx.check()
        src = onnx_source(model, ctx)
        proto = oq.load_proto(src)
        oq.check_quantizable(proto, "converted to fp16")
        excluded = oq.resolve_names(proto, self.exclude_nodes, self.exclude_op_types)
        ops = oq.weight_ops(proto)
        workdir = Path(ctx.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        out_path = workdir / "model_fp16.onnx"
        ctx.progress(0.3, "converting to fp16")
        logs: list[str] = []
        try:
            with oq.quiet_ort(logs):
                half = convert_float_to_float16(
                    proto,
                    keep_io_types=self.keep_io_types,
                    op_block_list=sorted({*DEFAULT_OP_BLOCK_LIST, *self.exclude_op_types}),
                    node_block_list=excluded,
                )
        except Exception as exc:  # the converter raises many types; all mean "could not convert"
            raise TechniqueError(
                f"the model could not be converted to fp16 ({type(exc).__name__}: {first_line(exc)})",
                "keep the failing layer in fp32 with exclude_nodes or exclude_op_types",
            ) from exc
        ctx.check()
        ctx.progress(0.8, "writing the fp16 model")
        halves = {i.name for i in half.graph.initializer if i.data_type == _FLOAT16}
        layers = [
            {"layer": op.layer, "node": op.node, "op_type": op.op_type, "params": op.params,
             "fp16": op.weight in halves, "excluded": op.node in excluded}
            for op in ops
        ]
        casts = sum(node.op_type == "Cast" for node in half.graph.node)
        saved = oq.save_slim(half, out_path)
        guard = None
        if self.check_agreement:
            ctx.progress(0.9, "checking the fp16 model against the input model")
            try:  # exclusions only keep more in float32, so no reference without them is needed
                guard = check_collapse(ctx, src, out_path, what="fp16")
            except TechniqueError:
                out_path.unlink(missing_ok=True)  # a broken model is not left where a later step could pick it up
                raise
        fp32_bytes, fp16_bytes = src.stat().st_size, out_path.stat().st_size
        notes = [
            "on CPU, ONNX Runtime often runs fp16 slower than fp32 (few fp16 CPU kernels, casts around the rest): "
            "fp16 is for GPU and NPU targets; measure latency on the device",
            *[f"ONNX Runtime: {line}" for line in logs],
        ]
        done = sum(row["fp16"] for row in layers)
        ctx.progress(1.0, "converted")
        io = "float32 input/output kept" if self.keep_io_types else "fp16 input/output"
        return StepOutcome(
            model=derived(model, OnnxModel(out_path), suffix="fp16"),
            summary=(
                f"fp16 ({io}): {done} of {len(layers)} weight layers in fp16, "
                f"{oq.kib(fp32_bytes)} → {oq.kib(fp16_bytes)} ({fp32_bytes / max(fp16_bytes, 1):.1f}× smaller)"
            ),
            layers=layers,
            notes=notes,
            extra={
                "fp16_layers": done,
                "weight_layers": len(layers),
                "excluded_nodes": len(excluded),
                "cast_nodes": casts,
                "fp32_bytes": fp32_bytes,
                "fp16_bytes": fp16_bytes,
                "slimmed_bytes": saved,
                **({"input_agreement": round(guard.value, 4), "input_agreement_images": guard.images} if guard else {}),
            },
        )
