"""Pruning sensitivity: each channel group pruned alone, and the groups a pruning step should leave alone."""

from __future__ import annotations

import copy
import dataclasses
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import nn

from core.data.bundle import DatasetBundle
from core.jobs import CancelToken, ProgressFn, check, null_progress, sub_progress
from core.metrics.accuracy import AccuracyResult
from core.models.loaded import LoadedModel
from core.models.spec import first_line
from core.pipeline.sensitivity_common import (
    PRUNE, SensitivityReport, _check_eval_batches, _check_threshold, _choose, _evaluate, _points, _scored,
)
from core.techniques.base import StepContext, TechniqueError

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
