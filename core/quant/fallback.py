"""An accuracy target for int8: keep the layers int8 hurts most in fp32 until the target is met.

NNCF's ``quantize_with_accuracy_control`` is the reference design; this one
ranks layers once, by the SQNR each loses (:mod:`core.quant.ranking`, one
pass), then finds the shortest prefix of that ranking that meets the target
by doubling and bisection (a few quantizations, not one per layer). Top-1
agreement with the input model on the validation split is the measure. A
target that needs more than :data:`MAX_FP32_SHARE` of the weights in fp32 is
not an int8 model any more: the search stops there and says what every layer
costs. ``quantize.static``'s ``max_drop`` and the sensitivity suggestion both
call :func:`meet_target`, so they keep the same layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from core.jobs import ProgressFn
from core.techniques import onnx_quant_common as oq
from core.techniques.base import StepContext, TechniqueError

MAX_DROP_IMAGES = 1024  # validation images the target is measured on (±1.5 points of sampling noise at 700)
MAX_FP32_SHARE = 0.5  # of the weights: keeping more in fp32 is no int8 model (the file would be under 2× smaller)
FP32_EXTRA_BYTES = 3  # per weight kept fp32 instead of int8
JOINS = ("Add", "Sum", "Concat")  # a kept layer's output stays fp32 only if the join reading it does too


@dataclass
class FallbackResult:
    """The layers kept in fp32 (node names, worst first), the model that met the target and what it measured."""

    kept: list[str]
    companions: list[str]  # residual joins read by the kept layers, kept fp32 with them (node names)
    proto: object
    agreement: float
    plain_agreement: float
    images: int
    costs: list[dict]  # one row per ranked layer: lost_db, params, bytes and MACs it costs in fp32
    tried: dict[int, float] = field(default_factory=dict)  # layers kept -> agreement, as measured

    def notes(self, target_pts: float) -> list[str]:
        kept = [c for c in self.costs if c["node"] in set(self.kept)]
        if not kept:
            return [f"max_drop {target_pts:g}: int8 agrees with the input model on {self.plain_agreement:.1%} of "
                    f"{self.images} validation images, within the target, so every layer stayed int8"]
        extra = sum(c["fp32_extra_bytes"] for c in kept)
        macs = sum(c["macs_share"] for c in kept)
        shown = ", ".join(f"{c['layer']} ({_db_text(c['lost_db'])})" for c in kept)
        if self.companions:
            shown += f", with the {len(self.companions)} residual join(s) they feed ({', '.join(self.companions)})"
        return [
            f"max_drop {target_pts:g}: all-int8 agreed with the input model on {self.plain_agreement:.1%} of {self.images} "
            f"validation images; keeping {len(kept)} layer(s) in fp32 brought it to {self.agreement:.1%} "
            f"({len(self.tried)} quantizations tried)",
            f"kept in fp32 (most int8 error first): {shown}; cost: +{oq.kib(extra)} in the file and {macs:.1%} of the "
            "weight layers' multiply-adds run in fp32",
        ]


def reference(ctx: StepContext, src: Path) -> tuple[np.ndarray, np.ndarray]:
    """The validation images the target is measured on and the input model's top-1 on them."""
    from core.techniques.quant_guard import predictions

    dataset = ctx.data.val if len(ctx.data.val) else ctx.data.calib  # type: ignore[arg-type]
    n = min(len(dataset), MAX_DROP_IMAGES)  # type: ignore[arg-type]
    if not n:
        raise TechniqueError("max_drop needs validation images to measure the drop on", "use a dataset with a validation split")
    images = np.stack([np.asarray(dataset[i][0], dtype=np.float32) for i in range(n)])
    return images, predictions(src, images, ctx)


def agreement(path: Path, images: np.ndarray, ref: np.ndarray, ctx: StepContext) -> float:
    from core.techniques.quant_guard import predictions

    return float(np.mean(predictions(path, images, ctx) == ref))


def layer_costs(rows: Sequence[dict], proto) -> list[dict]:
    """Ranked rows with what keeping each layer in fp32 costs: file bytes and share of the multiply-adds."""
    macs = oq.macs_by_node(proto)
    total = max(sum(macs.values()), 1)
    return [{**r, "fp32_extra_bytes": FP32_EXTRA_BYTES * r["params"], "macs_share": round(macs.get(r["node"], 0) / total, 4)}
            for r in rows]


def prefix_limit(costs: Sequence[dict], all_params: int) -> int:
    """How many of the ranked layers may be kept fp32: a prefix under :data:`MAX_FP32_SHARE` of the weights, never all."""
    total, k = 0, 0
    for row in costs[: max(len(costs) - 1, 0)]:
        total += row["params"]
        if total > MAX_FP32_SHARE * all_params:
            break
        k += 1
    return k


def companions(proto, nodes: Sequence[str]) -> list[str]:
    """The residual joins (Add, Sum, Concat) that read the output of ``nodes`` directly.

    ONNX Runtime quantizes a tensor for every quantized reader, so a layer kept
    in fp32 whose output feeds a residual Add still has that output rounded to
    int8 (the projection convolutions of MobileNet/EfficientNet blocks): the
    Add must stay fp32 with it for the layer's output to.
    """
    wanted = set(nodes)
    outputs = {out for node in proto.graph.node if node.name in wanted for out in node.output}
    return list(dict.fromkeys(n.name for n in proto.graph.node
                              if n.op_type in JOINS and n.name and n.name not in wanted and set(n.input) & outputs))


def search(limit: int, measure: Callable[[int], float], target: float) -> Optional[int]:
    """The smallest k in 1..limit with ``measure(k) >= target`` (doubling, then bisection), or None.

    Keeping more layers in fp32 nearly always helps, so the shortest passing
    prefix is found in about 2·log2(k) measurements; the k returned was
    measured to pass.
    """
    lo, k = 0, 1
    while True:
        if k > limit:
            return None
        if measure(k) >= target:
            hi = k
            break
        if k == limit:
            return None
        lo, k = k, min(2 * k, limit)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if measure(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def meet_target(
    ctx: StepContext, src: Path, proto, costs: list[dict], all_params: int, plain_path: Path,
    build: Callable[[list[str], Path], object], target_pts: float, progress: ProgressFn,
) -> FallbackResult:
    """Keep the first k ranked layers in fp32 for the smallest k that loses at most ``target_pts`` points.

    ``build(nodes, path)`` quantizes with ``nodes`` (layers and the residual
    joins they feed, see :func:`companions`) kept in fp32, writes the
    model to ``path`` and returns its graph. Raises with every layer's cost
    when the target cannot be met within :data:`MAX_FP32_SHARE` of the weights.
    """
    images, ref = reference(ctx, src)
    target = 1.0 - target_pts / 100.0
    plain = agreement(plain_path, images, ref, ctx)
    if plain >= target:
        return FallbackResult([], [], None, plain, plain, len(images), costs)
    nodes = [c["node"] for c in costs]
    limit = prefix_limit(costs, all_params)
    tried: dict[int, float] = {0: plain}
    protos: dict[int, object] = {}

    def measure(k: int) -> float:
        if k not in tried:
            ctx.check()
            progress(min(0.95, len(tried) / (2 * max(limit, 1).bit_length() + 2)),
                     f"keeping {k} layer(s) in fp32: measuring agreement")
            path = Path(ctx.workdir) / f"fallback_{k}.onnx"
            protos[k] = build([*nodes[:k], *companions(proto, nodes[:k])], path)
            tried[k] = agreement(path, images, ref, ctx)
            path.unlink(missing_ok=True)
        return tried[k]

    k = search(limit, measure, target)
    if k is None:
        raise TechniqueError(_unmet_text(target_pts, plain, limit, costs, tried, all_params, len(images)),
                             f"raise max_drop (all-int8 loses {100 * (1 - plain):.2f} points), set max_drop = 0 for plain "
                             "int8, or try equalize / bias_correction; fp16 keeps the accuracy of every layer")
    return FallbackResult(nodes[:k], companions(proto, nodes[:k]), protos[k], tried[k], plain, len(images), costs, {i: a for i, a in tried.items() if i})


def _unmet_text(target_pts: float, plain: float, limit: int, costs: list[dict], tried: dict[int, float],
                all_params: int, images: int) -> str:
    best_k = max(tried, key=lambda i: (tried[i], -i))
    share = sum(c["params"] for c in costs[:limit]) / max(all_params, 1)
    rows = "; ".join(f"{c['layer']}: {_db_text(c['lost_db'])}, +{oq.kib(c['fp32_extra_bytes'])} in fp32, "
                     f"{c['macs_share']:.1%} of the MACs" for c in costs)
    if limit == 0:
        reach = (f"the layer int8 hurts most, {costs[0]['layer']}, holds more than {MAX_FP32_SHARE:.0%} of the weights, "
                 "the most an int8 model keeps in fp32" if costs else "there is no weight layer to keep in fp32")
    else:
        reach = (f"keeping up to {limit} of the {len(costs)} weight layers in fp32 ({share:.0%} of the weights; an int8 "
                 f"model keeps at most {MAX_FP32_SHARE:.0%}) reached at best {tried[best_k]:.1%} (with {best_k} kept)")
    return (
        f"max_drop {target_pts:g} points cannot be met: all-int8 agrees with the input model on {plain:.1%} of {images} "
        f"validation images, and {reach}, so nothing was stored. What each layer costs, most int8 error first: {rows}"
    )


def _db_text(lost: Optional[float]) -> str:
    return "not compared" if lost is None else f"{lost:.1f} dB lost in int8"
