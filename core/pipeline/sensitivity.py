"""Per-layer sensitivity: which layers a compression step should leave alone.

Compressing every layer the same way is rarely best: a few layers carry most of
the accuracy. Measuring each layer on its own tells the recipe which ones to
skip before a long run is spent finding out.

* Pruning (:func:`prune_sensitivity`): each channel group is pruned alone on a
  copy of the model (``prune.structured`` with every other group in
  ``ignore_layers``) and the validation accuracy measured. Torch-Pruning
  couples layers whose channels must go together (the convs feeding one
  residual add), so those are measured once, as a group, and each member's row
  names the group.
* Quantization (:func:`quant_sensitivity`): ``exclude_one`` quantizes all but
  one layer (the points that keeping it fp32 wins back), ``only_one``
  quantizes one layer alone (the points it costs by itself), ``error`` compares
  fp32 and int8 activations in one pass with ONNX Runtime's QDQ debugging tools
  (no accuracy per layer, but seconds instead of minutes).

The :class:`SensitivityReport` turns the table into one recipe step: the layers
whose score passes a threshold go into ``ignore_layers`` / ``exclude_nodes``.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch import nn

from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError
from core.jobs import CancelToken, ProgressFn, check, null_progress, sub_progress
from core.metrics.accuracy import AccuracyResult, agreement, evaluate_accuracy
from core.models.loaded import LoadedModel
from core.models.spec import first_line
from core.techniques.base import StepContext, TechniqueError, derived

PRUNE = "prune.structured"
QUANT = "quantize.static"
QUANT_METHODS = ("exclude_one", "only_one", "error")
EVAL_BATCH = 128
ERROR_IMAGES = 64  # validation images the "error" method compares activations on
ERROR_BATCH = 16  # activations of every tensor are held for one batch at a time
MIN_LOST_DB = 3.0  # "error" suggests layers losing this much SQNR (noise power doubled) and half the worst one's loss
MAX_EXCLUDE = 3  # int8 that keeps more layers in fp32 than this loses its point


# --------------------------------------------------------------------------- the report


@dataclass
class SensitivityReport:
    """A per-layer table and the recipe step it suggests.

    ``key`` is the row field that ranks the layers (higher = more sensitive):
    ``drop_pt`` (points lost), ``recovered_pt`` (points won back by keeping
    the layer fp32) or ``lost_db`` (SQNR lost across the layer, int8 against fp32).
    """

    technique: str
    method: str
    baseline: float  # top-1 of the untouched model on the images evaluated
    rows: list[dict]
    seconds: float
    suggestion: dict  # {"technique": ..., **params}
    key: str
    settings: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def ranked(self) -> list[dict]:
        """Rows, most sensitive first; rows without a score (skipped layers) last."""
        scored = [r for r in self.rows if r.get(self.key) is not None]
        rest = [r for r in self.rows if r.get(self.key) is None]
        return sorted(scored, key=lambda r: -r[self.key]) + rest

    def suggested_step(self) -> tuple[str, dict]:
        """``(technique, params)`` for :func:`core.pipeline.recipe.make_step`."""
        params = {k: v for k, v in self.suggestion.items() if k != "technique"}
        return self.suggestion["technique"], params

    def to_dict(self) -> dict:
        return {
            "technique": self.technique, "method": self.method, "key": self.key,
            "baseline": self.baseline, "seconds": round(self.seconds, 2), "settings": dict(self.settings),
            "extra": dict(self.extra), "rows": self.ranked(), "suggestion": dict(self.suggestion),
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- shared helpers


class _FirstBatches:
    """The first ``n`` batches of a loader, with a length (so accuracy progress stays a fraction)."""

    def __init__(self, loader: Any, n: Optional[int]) -> None:
        self.loader, self.n = loader, n

    def __len__(self) -> int:
        total = len(self.loader)
        return total if self.n is None else min(total, self.n)

    def __iter__(self) -> Iterator:
        return itertools.islice(iter(self.loader), len(self))


def _evaluate(model: LoadedModel, data: DatasetBundle, eval_batches: Optional[int], cancel: Optional[CancelToken]) -> AccuracyResult:
    return evaluate_accuracy(model, _FirstBatches(data.loader("val", EVAL_BATCH), eval_batches), topk=(1,), cancel=cancel)


def _scored(model: LoadedModel, data: DatasetBundle, eval_batches: Optional[int], cancel: Optional[CancelToken],
            reference: AccuracyResult) -> dict:
    """Accuracy, and agreement with the reference's predictions: finer than accuracy when that barely moves."""
    result = _evaluate(model, data, eval_batches, cancel)
    return {"accuracy": result.top1, "agreement": round(agreement(result.predictions, reference.predictions), 4)}


def _points(a: float, b: float) -> float:
    """``a − b`` in accuracy points, rounded for reading."""
    return round(100.0 * (a - b), 3)


def _check_threshold(threshold: float) -> None:
    if not (isinstance(threshold, (int, float)) and threshold >= 0 and math.isfinite(threshold)):
        raise EdgeSlimError(f"threshold {threshold!r} is not a number of points ≥ 0", "use e.g. 1.0 (one accuracy point)")


def _check_eval_batches(eval_batches: Optional[int]) -> None:
    if eval_batches is not None and (isinstance(eval_batches, bool) or not isinstance(eval_batches, int) or eval_batches < 1):
        raise EdgeSlimError(f"eval_batches {eval_batches!r} must be a whole number ≥ 1", "leave it out to evaluate every validation image")


def _choose(known: Sequence[str], wanted: Optional[Sequence[str]], what: str) -> list[str]:
    """``wanted`` (in model order) after checking every name exists; all of ``known`` when None."""
    if wanted is None:
        return list(known)
    import difflib

    for name in wanted:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise EdgeSlimError(f"no {what} named {name!r} in the model", f"{hint}names look like: {', '.join(list(known)[:6])}")
    return [n for n in known if n in set(wanted)]


# --------------------------------------------------------------------------- pruning


def prune_groups(module: nn.Module, shape: Sequence[int], seed: int = 0) -> tuple[list[list[str]], list[str]]:
    """Conv/Linear layers whose output channels Torch-Pruning removes together, and the classifier layers.

    Groups are in model order; the classifier (the layers producing the
    logits, found by walking the graph back from its outputs) is in no group.
    ``prune.structured`` skips any group with a member in ``ignore_layers``,
    so a group is the smallest unit that can be pruned alone.
    """
    import torch_pruning as tp

    from core.techniques.prune_structured import LAYERS

    work = copy.deepcopy(module).eval()
    for p in work.parameters():
        p.requires_grad_(True)  # the graph is traced through autograd
    example = torch.randn(1, *shape, generator=torch.Generator().manual_seed(seed))
    try:
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = tp.DependencyGraph().build_dependency(work, example_inputs=example, verbose=False)
    except Exception as exc:  # the tracer raises many types on graphs it cannot follow
        raise TechniqueError(
            f"Torch-Pruning could not follow the layer dependencies ({type(exc).__name__}: {first_line(exc)})",
            "analyse this model with quantization sensitivity, or prune it with prune.unstructured",
        ) from exc
    names = {m: n for n, m in work.named_modules()}
    classifier = _classifier(graph, LAYERS)
    groups: list[list[str]] = []
    seen: set[str] = set()
    for name, layer in work.named_modules():
        if not isinstance(layer, LAYERS) or name in seen or layer in classifier:
            continue
        pruner = graph.get_pruner_of_module(layer)
        out = pruner.get_out_channels(layer) if pruner is not None else None
        if not out:
            continue
        group = graph.get_pruning_group(layer, pruner.prune_out_channels, list(range(out)))
        members = {names[d.target.module] for d, _ in group
                   if isinstance(d.target.module, LAYERS) and graph.is_out_channel_pruning_fn(d.handler)}
        members.add(name)
        ordered = [n for n in names.values() if n in members]
        seen.update(ordered)
        groups.append(ordered)
    return groups, sorted(names[m] for m in classifier)


def _classifier(graph: Any, layers: tuple[type, ...]) -> set[nn.Module]:
    """The Conv/Linear layers reached first when walking back from the graph's outputs."""
    stack = [node for node in graph.module2node.values() if not node.outputs]
    found: set[nn.Module] = set()
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node.module, layers):
            found.add(node.module)
        else:
            stack.extend(node.inputs)
    return found


def prune_sensitivity(
    model: LoadedModel,
    data: DatasetBundle,
    *,
    ratio: float = 0.5,
    importance: str = "l1",
    layers: Optional[Sequence[str]] = None,
    eval_batches: Optional[int] = None,
    threshold: float = 1.0,
    seed: int = 0,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> SensitivityReport:
    """Prune each channel group alone at ``ratio`` and measure what it costs in validation accuracy.

    ``layers`` limits the analysis to the groups holding those layers;
    ``eval_batches`` scores on the first N validation batches of 128 (faster,
    coarser). Groups that cannot be pruned alone get a ``reason`` instead of
    an accuracy. The suggested step leaves alone the groups whose drop
    exceeds ``threshold`` points, at most half of the model's groups so that
    it still prunes something.
    """
    from core.pipeline.recipe import make_step
    from core.techniques.prune_structured import refuse_channel_shuffles
    from core.techniques.prune_unstructured import prunable_layers

    progress = progress or null_progress
    started = time.monotonic()
    _check_threshold(threshold)
    _check_eval_batches(eval_batches)
    if model.is_onnx:
        raise TechniqueError(f"{model.name} is an ONNX model; channel pruning needs the PyTorch model",
                             "load the PyTorch model, or analyse quantization sensitivity of the ONNX file")
    config = make_step(PRUNE, {"ratio": ratio, "importance": importance}).config  # checks the values
    shape = tuple(model.input_shape or data.input_shape)
    module = model.module
    known = prunable_layers(module)
    wanted = set(_choose(list(known), layers, "prunable layer"))

    progress(0.0, "finding the channel groups")
    refuse_channel_shuffles(module, shape)
    all_groups, classifier = prune_groups(module, shape, seed)
    groups = [g for g in all_groups if wanted & set(g)]
    if not groups:
        raise TechniqueError("no layer to analyse: the ones asked for are the classifier, which is never pruned",
                             "name other layers, or leave the layer list out")
    everything = [name for g in all_groups for name in g]
    total_params = sum(p.numel() for p in module.parameters()) or 1

    progress(0.02, "evaluating the unpruned model")
    reference = _evaluate(model, data, eval_batches, cancel)
    baseline, n_images = reference.top1, reference.n
    rows: list[dict] = []
    macs_total: Optional[int] = None
    with tempfile.TemporaryDirectory(prefix="edgeslim-sensitivity-") as tmp:
        for i, group in enumerate(groups):
            check(cancel)
            label = group[0] + (f" (+{len(group) - 1} coupled)" if len(group) > 1 else "")
            step_progress = sub_progress(progress, 0.05 + 0.95 * i / len(groups), 0.05 + 0.95 * (i + 1) / len(groups))
            step_progress(0.0, f"layer {i + 1}/{len(groups)}: pruning {label}")
            others = tuple(n for n in everything if n not in group)
            result = _prune_group(model, data, dataclasses.replace(config, ignore_layers=others), group, classifier,
                                  Path(tmp), eval_batches, seed, cancel, reference)
            macs_total = result.pop("macs_total", None) or macs_total
            for name in group:
                layer = known[name]
                params = sum(p.numel() for p in layer.parameters(recurse=False))
                drop = None if result["accuracy"] is None else _points(baseline, result["accuracy"])
                rows.append({
                    "layer": name, "type": type(layer).__name__, "group": list(group),
                    "params": params, "params_share": round(params / total_params, 4),
                    **result, "drop_pt": drop,
                })
            step_progress(1.0, f"layer {i + 1}/{len(groups)}: {label} done")
    for row in rows:
        removed = row["macs_removed"]
        row["macs_removed_share"] = round(removed / macs_total, 4) if removed is not None and macs_total else None
    keep, capped = _sensitive_groups(rows, groups, len(all_groups), threshold)
    notes = _prune_notes(groups, capped, threshold)
    progress(1.0, "pruning sensitivity done")
    return SensitivityReport(
        technique=PRUNE, method="prune_one", baseline=baseline, rows=rows, seconds=time.monotonic() - started,
        suggestion={"technique": PRUNE, "ratio": config.ratio, "importance": config.importance, "ignore_layers": keep},
        key="drop_pt",
        settings={"ratio": config.ratio, "importance": config.importance, "threshold": threshold,
                  "eval_images": n_images, "eval_batches": eval_batches},
        extra={"classifier": classifier, "groups": len(groups), "macs": macs_total},
        notes=notes,
    )


def _prune_group(
    model: LoadedModel, data: DatasetBundle, config: Any, group: list[str], classifier: list[str],
    tmp: Path, eval_batches: Optional[int], seed: int, cancel: Optional[CancelToken], reference: AccuracyResult,
) -> dict:
    """Prune one group on a copy and score it; a refusal becomes a ``reason``."""
    from core.jobs import Cancelled

    work = dataclasses.replace(model, runnable=copy.deepcopy(model.module))
    ctx = StepContext(data=data, workdir=tmp, cancel=cancel, seed=seed)
    try:
        outcome = config.apply(work, ctx)
    except Cancelled:
        raise
    except TechniqueError as exc:
        coupled = sorted(set(classifier) & set(group))
        reason = f"coupled with the classifier ({', '.join(coupled)})" if coupled else exc.problem
        return {"accuracy": None, "agreement": None, "macs_removed": None, "pruned": [], "reason": reason}
    changed = [r["layer"] for r in outcome.layers if r["out_channels"] != r["out_channels_before"]]
    scores = _scored(outcome.model, data, eval_batches, cancel, reference)
    stray = sorted(set(changed) - set(group))
    return {
        **scores,
        "macs_removed": int(outcome.extra["macs_before"] - outcome.extra["macs_after"]),
        "macs_total": int(outcome.extra["macs_before"]),
        "pruned": changed,
        "reason": f"Torch-Pruning also pruned {', '.join(stray)}" if stray else None,
    }


def _sensitive_groups(rows: list[dict], groups: list[list[str]], total: int, threshold: float) -> tuple[list[str], int]:
    """The members of the groups whose drop exceeds ``threshold`` points: at most the worst half of the model's ``total``.

    Drops without fine-tuning are large: at 50 % every group of a small
    network can cost points. Leaving them all alone would prune nothing, so
    the step keeps the worst ones and prunes the sturdier rest. Also returns
    how many sensitive groups the cap left out.
    """
    drops = {g[0]: next(r["drop_pt"] for r in rows if r["layer"] == g[0]) for g in groups}
    sensitive = sorted((g for g in groups if drops[g[0]] is not None and drops[g[0]] > threshold), key=lambda g: -drops[g[0]])
    kept = sensitive[: total // 2]
    names = {n for g in kept for n in g}
    return [r["layer"] for r in rows if r["layer"] in names], len(sensitive) - len(kept)


def _prune_notes(groups: list[list[str]], capped: int, threshold: float) -> list[str]:
    notes = ["each group was pruned alone on an untouched model; pruning several at once usually costs more than the sum, "
             "and a fine-tune wins much of it back"]
    coupled = [g for g in groups if len(g) > 1]
    if coupled:
        notes.append(f"{len(coupled)} group(s) of layers are tied by residual adds and were pruned together: "
                     + "; ".join(", ".join(g) for g in coupled[:3]) + (" …" if len(coupled) > 3 else ""))
    if capped:
        notes.append(f"{capped} more group(s) lose over {threshold:g} points at this ratio; the suggestion leaves only the most "
                     "sensitive half alone so that something is pruned: fine-tune after it, or try a lower ratio")
    notes.append("per-layer ratios (pruning robust layers harder) are not yet a prune.structured parameter; "
                 "global scope does some of that")
    return notes


# --------------------------------------------------------------------------- quantization


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
        body = sub_progress(progress, 0.05, 1.0)
        if method == "error":
            rows, extra = _error_rows(fp32, pre, proto, ops, config, ctx, data, eval_batches, reference, body)
        else:
            all_nodes = [n.name for n in proto.graph.node]
            rows, extra = _accuracy_rows(fp32, ops, all_nodes, method, config, ctx, data, eval_batches, reference, body)
    for row in rows:
        row["params_share"] = round(row["params"] / total_params, 4)
    key = {"exclude_one": "recovered_pt", "only_one": "drop_pt", "error": "lost_db"}[method]
    int8_drop = _points(baseline, extra["int8_accuracy"])
    exclude, notes = _quant_suggestion(rows, key, threshold, int8_drop, method)
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
    """``quantize.static`` with ``exclude`` kept in fp32, written into its own folder."""
    step_ctx = dataclasses.replace(ctx, workdir=Path(ctx.workdir) / name)
    return dataclasses.replace(config, exclude_nodes=tuple(exclude)).apply(fp32, step_ctx).model


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


# --------------------------------------------------------------------------- quantization error (one pass)


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
