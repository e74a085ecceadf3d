"""Quantization sensitivity: what static int8 costs per weight layer, and the layers to keep in fp32."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError
from core.jobs import CancelToken, ProgressFn, check, null_progress, sub_progress
from core.metrics.accuracy import AccuracyResult
from core.models.loaded import LoadedModel
from core.pipeline.sensitivity_common import (
    MAX_EXCLUDE, MIN_LOST_DB, QUANT, QUANT_METHODS, SensitivityReport, _check_eval_batches, _check_threshold, _choose,
    _evaluate, _points, _scored,
)
from core.pipeline.sensitivity_error import _error_rows
from core.techniques.base import StepContext, TechniqueError, derived

def quant_sensitivity(
    model: LoadedModel,
    data: DatasetBundle,
    *,
    method: str = "exclude_one",
    calibration_samples: int = 128,
    layers: Optional[Sequence[str]] = None,
    eval_batches: Optional[int] = None,
    threshold: float = 1.0,
    seed: int = 0,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> SensitivityReport:
    """The accuracy effect of static int8 per weight layer (Conv, Gemm, MatMul).

    The fp32 ONNX file is exported once; every variant is ``quantize.static``
    with ``exclude_nodes`` set, so the numbers are those a recipe would get.
    The suggestion keeps in fp32 at most three layers whose score passes
    ``threshold`` (points; for ``error``, only when the int8 model loses more
    than ``threshold`` points overall).
    """
    from core.pipeline.recipe import make_step
    from core.techniques import onnx_quant_common as oq

    progress = progress or null_progress
    started = time.monotonic()
    if method not in QUANT_METHODS:
        raise EdgeSlimError(f"unknown quantization sensitivity method {method!r}", f"use one of {', '.join(QUANT_METHODS)}")
    _check_threshold(threshold)
    _check_eval_batches(eval_batches)
    config = make_step(QUANT, {"calibration_samples": calibration_samples}).config  # checks the value
    with tempfile.TemporaryDirectory(prefix="edgeslim-sensitivity-") as tmp_name:
        tmp = Path(tmp_name)
        ctx = StepContext(data=data, workdir=tmp, cancel=cancel, seed=seed)
        progress(0.0, "exporting to ONNX")
        fp32 = _fp32_model(model, data, tmp)
        pre = tmp / "preprocessed.onnx"
        with oq.quiet_ort():
            oq.preprocess(Path(fp32.runnable.path), pre)  # type: ignore[union-attr]
        proto = oq.load_proto(pre)
        oq.check_quantizable(proto, "quantized")
        ops = oq.weight_ops(proto)
        if not ops:
            raise TechniqueError(f"{model.name} has no Conv, Gemm or MatMul layer with stored weights", "nothing to analyse")
        chosen = _choose([op.layer for op in ops], layers, "weight layer")
        ops = [op for op in ops if op.layer in set(chosen)]
        check(cancel)
        progress(0.03, "evaluating the fp32 model")
        reference = _evaluate(fp32, data, eval_batches, cancel)
        baseline, n_images = reference.top1, reference.n
        total_params = sum(op.params for op in oq.weight_ops(proto)) or 1
        body = sub_progress(progress, 0.05, 0.6 if method == "error" else 1.0)
        fallback: Optional[list[str]] = None
        fallback_notes: list[str] = []
        if method == "error":
            rows, extra = _error_rows(fp32, pre, proto, ops, config, ctx, data, eval_batches, reference, body)
            if _points(baseline, extra["int8_accuracy"]) > threshold:
                fallback, fallback_notes = _fallback(fp32, config, threshold, ctx, sub_progress(progress, 0.6, 1.0))
        else:
            all_nodes = [n.name for n in proto.graph.node]
            rows, extra = _accuracy_rows(fp32, ops, all_nodes, method, config, ctx, data, eval_batches, reference, body)
    for row in rows:
        row["params_share"] = round(row["params"] / total_params, 4)
    key = {"exclude_one": "recovered_pt", "only_one": "drop_pt", "error": "lost_db"}[method]
    int8_drop = _points(baseline, extra["int8_accuracy"])
    exclude, notes = _quant_suggestion(rows, key, threshold, int8_drop, method)
    if fallback is not None:
        exclude = fallback
    notes += fallback_notes
    progress(1.0, "quantization sensitivity done")
    return SensitivityReport(
        technique=QUANT, method=method, baseline=baseline, rows=rows, seconds=time.monotonic() - started,
        suggestion={"technique": QUANT, "calibration_samples": config.calibration_samples, "exclude_nodes": exclude},
        key=key,
        settings={"calibration_samples": config.calibration_samples, "threshold": threshold,
                  "eval_images": n_images, "eval_batches": eval_batches},
        extra={**extra, "int8_drop_pt": int8_drop},
        notes=notes,
    )


def _fp32_model(model: LoadedModel, data: DatasetBundle, tmp: Path) -> LoadedModel:
    """The model as one fp32 ONNX file, exported once and reused by every variant."""
    from core.models.onnx_export import export_onnx
    from core.models.onnx_model import OnnxModel

    if model.is_onnx:
        return model
    path = export_onnx(model.module, tuple(model.input_shape or data.input_shape), tmp / "fp32.onnx")  # type: ignore[arg-type]
    return derived(model, OnnxModel(path), suffix="fp32")


def _quantize(fp32: LoadedModel, config: Any, exclude: Sequence[str], ctx: StepContext, name: str) -> LoadedModel:
    """``quantize.static`` with ``exclude`` kept in fp32, written into its own folder.

    The step's collapse guard is off: every variant is scored here anyway, and
    ``only_one`` (all layers but one excluded) is far from the all-int8 model on purpose.
    """
    step_ctx = dataclasses.replace(ctx, workdir=Path(ctx.workdir) / name)
    return dataclasses.replace(config, exclude_nodes=tuple(exclude), check_agreement=False).apply(fp32, step_ctx).model


def _fallback(fp32: LoadedModel, config: Any, threshold: float, ctx: StepContext,
              progress: ProgressFn) -> tuple[Optional[list[str]], list[str]]:
    """``quantize.static``'s ``max_drop = threshold`` fallback: the layers it keeps fp32 are the suggestion.

    Both run the same code, so applying the suggestion gives the model
    ``max_drop`` would. A target it cannot meet leaves the SQNR cut-off's
    suggestion in place, with the reason in the notes.
    """
    step_ctx = dataclasses.replace(ctx, workdir=Path(ctx.workdir) / "fallback", progress=progress)
    try:
        outcome = dataclasses.replace(config, max_drop=threshold, check_agreement=False).apply(fp32, step_ctx)
    except TechniqueError as exc:
        return None, [f"quantize.static's max_drop = {threshold:g} fallback found no list: {exc.problem.split('. What')[0]}"]
    kept = [*outcome.extra.get("kept_fp32", []), *outcome.extra.get("kept_fp32_joins", [])]
    if outcome.extra.get("target_met") is False:
        return None, [f"quantize.static's max_drop = {threshold:g} fallback did not meet it within its fp32 budget (its best "
                      f"kept {len(outcome.extra.get('kept_fp32', []))} layer(s) fp32 for "
                      f"{outcome.extra.get('target_agreement', 0):.1%} agreement), so the SQNR cut-off's suggestion stands"]
    said = next((n for n in outcome.notes if n.startswith("max_drop")), "")
    return kept, [f"the suggestion is quantize.static's max_drop = {threshold:g} fallback (the same layers, the same model): "
                  + said]


def _accuracy_rows(
    fp32: LoadedModel, ops: list, all_nodes: list[str], method: str, config: Any, ctx: StepContext,
    data: DatasetBundle, eval_batches: Optional[int], reference: AccuracyResult, progress: ProgressFn,
) -> tuple[list[dict], dict]:
    """One quantization per layer (plus the all-int8 model) and its accuracy."""
    import shutil

    progress(0.0, "quantizing every layer")
    int8 = _scored(_quantize(fp32, config, (), ctx, "all"), data, eval_batches, ctx.cancel, reference)
    shutil.rmtree(Path(ctx.workdir) / "all", ignore_errors=True)
    rows = []
    for i, op in enumerate(ops):
        check(ctx.cancel)
        verb = "keeping" if method == "exclude_one" else "quantizing only"
        progress((i + 1) / (len(ops) + 1), f"layer {i + 1}/{len(ops)}: {verb} {op.layer}")
        exclude = [op.node] if method == "exclude_one" else [n for n in all_nodes if n != op.node]
        folder = f"layer{i}"
        scores = _scored(_quantize(fp32, config, exclude, ctx, folder), data, eval_batches, ctx.cancel, reference)
        shutil.rmtree(Path(ctx.workdir) / folder, ignore_errors=True)  # int8 files add up on large models
        row = {"layer": op.layer, "node": op.node, "op_type": op.op_type, "params": op.params, **scores}
        if method == "exclude_one":
            row["recovered_pt"] = _points(scores["accuracy"], int8["accuracy"])
        else:
            row["drop_pt"] = _points(reference.top1, scores["accuracy"])
        rows.append(row)
    return rows, {"int8_accuracy": int8["accuracy"], "int8_agreement": int8["agreement"]}


def _quant_suggestion(rows: list[dict], key: str, threshold: float, int8_drop: float, method: str) -> tuple[list[str], list[str]]:
    """At most :data:`MAX_EXCLUDE` layers to keep fp32, and notes saying why (or why none)."""
    ranked = sorted((r for r in rows if r.get(key) is not None), key=lambda r: -r[key])
    notes = [f"the all-int8 model loses {int8_drop:+.2f} points against fp32"]
    if method == "error":
        notes.append("lost_db: signal-to-quantization-noise ratio lost across the layer (fp32 against int8 activations, "
                     "ONNX Runtime's qdq_loss_debug); output_sqnr_db also counts what earlier layers lost")
        if int8_drop <= threshold:
            notes.append(f"int8 costs at most {threshold:g} points here, so no layer needs to stay fp32")
            return [], notes
        # behind a layer that wrecks the signal, later layers lose a few dB on noise alone: only the big drops count
        cutoff = max(MIN_LOST_DB, ranked[0][key] / 2) if ranked else MIN_LOST_DB
        picked = [r for r in ranked if r[key] >= cutoff][:MAX_EXCLUDE]
    else:
        picked = [r for r in ranked if r[key] > threshold][:MAX_EXCLUDE]
        if not picked:
            notes.append(f"no single layer moves accuracy by more than {threshold:g} points, so none needs to stay fp32")
    if method == "only_one":
        notes.append("only_one quantizes one layer at a time: a layer's errors compound with others' in the full int8 model")
    return [r["layer"] for r in picked], notes
