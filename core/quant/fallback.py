"""An accuracy target for int8: keep the layers int8 hurts most in fp32 until the target is met.

NNCF's ``quantize_with_accuracy_control`` is the reference design; this one
ranks layers once, by the SQNR each loses (:mod:`core.quant.ranking`, one
pass), then finds the shortest prefix of that ranking that meets the target
by doubling and bisection (a few quantizations, not one per layer). When one
layer is not enough, the graph-order prefix (the first layers of the network)
is searched too and the one with fewer fp32 weights wins: in a deep network
int8's error is spread over every layer and grows through the layers after
it, which a per-layer SQNR does not see (EfficientNet-Lite2: 21 early layers,
1.8 % of the weights, kept fp32 took agreement from 83 % to 93 %; the SQNR
ranking's 32 layers, 45 % of the weights, to 93 %). Top-1
agreement with the input model on the validation split is the measure.

Two budgets bound the search, because an int8 model must stay one:
:data:`MAX_FP32_SHARE` of the weights (size), and ``max_slowdown``, the
latency of each candidate over all-int8's, timed in ONNX Runtime (speed; an
fp32 layer between int8 ones also pays for the conversions around it: on
EfficientNet-Lite2, keeping the 14 depthwise convolutions after its first 21
layers fp32 as well made int8 slower than fp32). A target the budgets cannot meet ends on the most accurate
model within them, with a note that says so and what every layer costs.
``quantize.static``'s ``max_drop`` and the sensitivity suggestion both call
:func:`meet_target`, so they keep the same layers.
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
MAX_SLOWDOWN = 1.5  # default latency budget, × all-int8's: keeps most of int8's speed-up (2.35× → over 1.5×)
TIMING_BATCH = 8  # the batch each candidate is timed at
TIMING_RUNS = (3, 12)  # untimed warm-up runs, then timed runs, each model in turn
NEAR_BUDGET = 0.1  # a candidate timed within 10 % of the budget is timed again, three times longer
FP32_EXTRA_BYTES = 3  # per weight kept fp32 instead of int8
JOINS = ("Add", "Sum", "Concat")  # a kept layer's output stays fp32 only if the join reading it does too
ORDER_TEXT = {"ranked": "most int8 error first", "graph": "the network's first layers, where int8's error grows the most"}


@dataclass(frozen=True)
class Try:
    """One candidate as measured: top-1 agreement with the input model, and latency ÷ all-int8's."""

    agreement: float
    slowdown: float


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
    tried: dict[int, float] = field(default_factory=dict)  # layers kept -> agreement, as measured (the order kept)
    order: str = "ranked"  # which prefix was kept: "ranked" (most int8 error first) or "graph" (the first layers)
    quantizations: int = 0  # quantizations tried in all orders
    met: bool = True  # False: no candidate within the budgets met the target; this is the most accurate one in them
    slowdown: float = 1.0  # latency ÷ all-int8's, as timed
    max_slowdown: float = MAX_SLOWDOWN  # 0: no time budget (nothing timed, ``slowdown`` 0)
    unmet: str = ""  # why the target was not met, with every layer's cost

    def notes(self, target_pts: float) -> list[str]:
        by_node = {c["node"]: c for c in self.costs}
        kept = [by_node[n] for n in self.kept if n in by_node]  # in the order they were kept
        first = [self.unmet] if not self.met else []
        if not kept:
            if not self.met:
                return first
            return [f"max_drop {target_pts:g}: int8 agrees with the input model on {self.plain_agreement:.1%} of "
                    f"{self.images} validation images, within the target, so every layer stayed int8"]
        extra = sum(c["fp32_extra_bytes"] for c in kept)
        macs = sum(c["macs_share"] for c in kept)
        shown = ", ".join(f"{c['layer']} ({_db_text(c['lost_db'])})" for c in kept)
        if self.companions:
            shown += f", with the {len(self.companions)} residual join(s) they feed ({', '.join(self.companions)})"
        return [
            *first,
            f"max_drop {target_pts:g}: all-int8 agreed with the input model on {self.plain_agreement:.1%} of {self.images} "
            f"validation images; keeping {len(kept)} layer(s) in fp32 brought it to {self.agreement:.1%} "
            f"({self.quantizations or len(self.tried)} quantizations tried)",
            f"kept in fp32 ({ORDER_TEXT[self.order]}): {shown}; cost: +{oq.kib(extra)} in the file and {macs:.1%} of the "
            "weight layers' multiply-adds run in fp32" + (f", {self.slowdown:.2f}× all-int8's latency (ONNX Runtime, batch "
                                                         f"{TIMING_BATCH}, timed on this machine)" if self.slowdown else ""),
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


def search(limit: int, measure: Callable[[int], "Try"], target: float, max_slowdown: float = float("inf")) -> Optional[int]:
    """The smallest k in 1..limit whose try meets ``target`` within ``max_slowdown`` (doubling, then bisection), or None.

    Keeping more layers in fp32 nearly always helps, and costs more time, so
    the shortest passing prefix is found in about 2·log2(k) measurements. When
    a prefix runs over the time budget first, the largest one within it is
    bisected for (the most accurate the budget allows), stopping early on one
    that passes. The k returned was measured to pass.
    """
    lo, hi, over, k = 0, None, None, 1
    while k <= limit:
        t = measure(k)
        if t.slowdown > max_slowdown:
            over = k
            break
        if t.agreement >= target:
            hi = k
            break
        lo = k
        if k == limit:
            break
        k = min(2 * k, limit)
    while hi is None and over is not None and over - lo > 1:
        mid = (lo + over) // 2
        t = measure(mid)
        if t.slowdown > max_slowdown:
            over = mid
        elif t.agreement >= target:
            hi = mid
        else:
            lo = mid
    if hi is None:
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        t = measure(mid)
        if t.agreement >= target and t.slowdown <= max_slowdown:
            hi = mid
        else:
            lo = mid
    return hi


def graph_order(proto, costs: Sequence[dict]) -> list[dict]:
    """The ranked rows in the order their layers run (the graph's node order, topologically sorted)."""
    position = {n.name: i for i, n in enumerate(proto.graph.node) if n.name}
    return sorted(costs, key=lambda c: position.get(c["node"], len(position)))


def cheap_cuts(proto, rows: Sequence[dict]) -> list[int]:
    """Prefix lengths k whose last layer's output is no larger than its neighbours' (``rows`` in graph order).

    Where an fp32 prefix ends, its output is quantized for the int8 layers
    after it, and that conversion costs time in proportion to the tensor. In a
    MobileNet/EfficientNet block the projection's output is six times narrower
    than the expansion's, so prefixes end at block outputs (EfficientNet-Lite2:
    prefixes cut after a 144-channel expansion or depthwise convolution ran over
    1.5× all-int8's latency where the 6-layer one, cut at a block output, ran
    1.28×). Every k when the shapes are not
    known or all equal (a plain ResNet).
    """
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(proto)
    except Exception:  # noqa: BLE001 - shapes are a refinement; without them every prefix is a candidate
        return list(range(1, len(rows) + 1))
    sizes: dict[str, int] = {}
    for info in [*inferred.graph.value_info, *inferred.graph.output]:
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in info.type.tensor_type.shape.dim][1:]
        if dims and all(dims):
            sizes[info.name] = int(np.prod(dims))
    outputs = {n.name: n.output[0] for n in proto.graph.node if n.name and n.output}
    cut = [sizes.get(outputs.get(r["node"], ""), 0) for r in rows]
    if not all(cut):
        return list(range(1, len(rows) + 1))
    return [k for k in range(1, len(rows) + 1)
            if (k == 1 or cut[k - 1] <= cut[k - 2]) and (k == len(rows) or cut[k - 1] <= cut[k])]


def slowdown(path: Path, plain_path: Path, shape: Sequence[int], ctx: StepContext, repeats: int = TIMING_RUNS[1]) -> float:
    """Latency of the model at ``path`` ÷ all-int8's: ONNX Runtime, batch :data:`TIMING_BATCH`, timed interleaved."""
    from core.metrics.latency import measure_latency_interleaved

    warmup = TIMING_RUNS[0]
    mixed, plain = measure_latency_interleaved([path, plain_path], tuple(shape), batch=TIMING_BATCH,
                                               threads=ctx.threads, warmup=warmup, repeats=repeats)
    return mixed.median_ms / max(plain.median_ms, 1e-9)


def meet_target(
    ctx: StepContext, src: Path, proto, costs: list[dict], all_params: int, plain_path: Path,
    build: Callable[[list[str], Path], object], target_pts: float, progress: ProgressFn,
    max_slowdown: float = MAX_SLOWDOWN,
) -> FallbackResult:
    """Keep the first k layers of an order in fp32 for the smallest k that loses at most ``target_pts`` points.

    The SQNR ranking (``costs``' order) is searched first; unless one layer
    meets the target, the graph-order prefix is searched too, up to the
    weights the ranking's answer keeps, and the answer with fewer fp32 weights
    is returned. ``build(nodes, path)`` quantizes with ``nodes`` (layers and
    the residual joins they feed, see :func:`companions`) kept in fp32, writes
    the model to ``path`` and returns its graph. Every candidate is timed
    against all-int8: one slower than ``max_slowdown`` is out of the budget,
    like one over :data:`MAX_FP32_SHARE` of the weights. When no candidate in
    the budget meets the target, the most accurate one in it is returned
    (``met`` False), as NNCF's accuracy control returns its last model, and
    its notes list every layer's cost.
    """
    images, ref = reference(ctx, src)
    target = 1.0 - target_pts / 100.0
    timed = max_slowdown > 0  # 0: no time budget, nothing timed
    budget = max_slowdown if timed else float("inf")
    plain = agreement(plain_path, images, ref, ctx)
    if plain >= target:
        return FallbackResult([], [], None, plain, plain, len(images), costs)
    orders = {"ranked": costs, "graph": graph_order(proto, costs)}
    limits = {name: prefix_limit(rows, all_params) for name, rows in orders.items()}
    tried: dict[str, dict[int, Try]] = {name: {0: Try(plain, 1.0)} for name in orders}
    protos: dict[tuple[str, int], object] = {}
    best: list[tuple[str, int]] = [("graph", 0)]  # the most accurate try within the budget so far
    steps = 2 * (2 * max(max(limits.values()), 1).bit_length() + 1)

    def passes(t: Try) -> bool:
        return t.agreement >= target and t.slowdown <= budget

    def measure(name: str, k: int) -> Try:
        if k not in tried[name]:
            ctx.check()
            done = sum(len(t) - 1 for t in tried.values())
            progress(min(0.95, done / steps), f"keeping {k} layer(s) in fp32 ({ORDER_TEXT[name]}): measuring agreement "
                                              "and speed")
            nodes = [c["node"] for c in orders[name][:k]]
            path = Path(ctx.workdir) / f"fallback_{name}_{k}.onnx"
            protos[name, k] = build([*nodes, *companions(proto, nodes)], path)
            slower = slowdown(path, plain_path, images.shape[1:], ctx) if timed else 0.0
            if timed and abs(slower - budget) < NEAR_BUDGET * budget:  # too close to call on a busy machine: time longer
                slower = slowdown(path, plain_path, images.shape[1:], ctx, repeats=3 * TIMING_RUNS[1])
            tried[name][k] = Try(agreement(path, images, ref, ctx), slower)
            path.unlink(missing_ok=True)
            here, top = tried[name][k], tried[best[0][0]][best[0][1]]
            if here.slowdown <= budget and (here.agreement, -_params(orders[name], k)) > (
                    top.agreement, -_params(orders[best[0][0]], best[0][1])):
                best[0] = (name, k)
            for key in [key for key in protos if key != best[0] and not passes(tried[key[0]][key[1]])]:
                del protos[key]  # memory back: only a model that can be returned stays
        return tried[name][k]

    found = {"ranked": search(limits["ranked"], lambda k: measure("ranked", k), target, budget)}
    if found["ranked"] != 1 and orders["graph"] != orders["ranked"]:
        limit = limits["graph"]
        if found["ranked"] is not None:  # only a prefix that keeps fewer weights in fp32 can win
            cap = _params(orders["ranked"], found["ranked"])
            limit = min(limit, sum(1 for i in range(1, limit + 1) if _params(orders["graph"], i) < cap))
        cuts = [k for k in cheap_cuts(proto, orders["graph"]) if k <= limit]  # the prefixes searched, by index
        j = search(len(cuts), lambda i: measure("graph", cuts[i - 1]), target, budget)
        found["graph"] = cuts[j - 1] if j else None
    passing = [(name, k) for name, k in found.items() if k is not None]
    quantizations = sum(len(t) - 1 for t in tried.values())
    met = bool(passing)
    name, k = min(passing, key=lambda nk: (_params(orders[nk[0]], nk[1]), nk[0] != "ranked")) if met else best[0]
    nodes = [c["node"] for c in orders[name][:k]]
    result = FallbackResult(nodes, companions(proto, nodes), protos.get((name, k)), tried[name][k].agreement, plain,
                            len(images), costs, {i: t.agreement for i, t in tried[name].items() if i}, name, quantizations,
                            met=met, slowdown=tried[name][k].slowdown, max_slowdown=max_slowdown)
    if not met:
        result.unmet = _unmet_text(target_pts, plain, limits, orders, tried, best[0], all_params, len(images), max_slowdown)
    return result


def _params(rows: Sequence[dict], k: int) -> int:
    return sum(r["params"] for r in rows[:k])


def _unmet_text(target_pts: float, plain: float, limits: dict[str, int], orders: dict[str, list[dict]],
                tried: dict[str, dict[int, Try]], best: tuple[str, int], all_params: int, images: int,
                max_slowdown: float) -> str:
    costs = orders["ranked"]
    name, best_k = best
    over = sorted({k for t in tried.values() for k, x in t.items() if max_slowdown > 0 and x.slowdown > max_slowdown})
    rows = "; ".join(f"{c['layer']}: {_db_text(c['lost_db'])}, +{oq.kib(c['fp32_extra_bytes'])} in fp32, "
                     f"{c['macs_share']:.1%} of the MACs" for c in costs)
    if max(limits.values()) == 0:
        bound = (f"the layer int8 hurts most, {costs[0]['layer']}, holds more than {MAX_FP32_SHARE:.0%} of the weights, "
                 "the most an int8 model keeps in fp32" if costs else "there is no weight layer to keep in fp32")
    else:
        bound = (f"no try within the budgets met it (at most {MAX_FP32_SHARE:.0%} of the weights in fp32" + (
                 f" and {max_slowdown:g}× all-int8's latency" if max_slowdown > 0 else "") + (f"; {len(over)} tr{'y' if len(over) == 1 else 'ies'} ran slower than "
                 "that" if over else "") + ")")
    stored = (f"the most accurate model within them keeps {best_k} layer(s) in fp32 ({ORDER_TEXT[name]}; "
              f"{_share(_params(orders[name], best_k) / max(all_params, 1))} of the weights) and agrees on "
              f"{tried[name][best_k].agreement:.1%}" + (f" at {tried[name][best_k].slowdown:.2f}× all-int8's latency"
                                                        if tried[name][best_k].slowdown else "") + ": it is the one stored"
              if best_k else "no fp32 layer within them did better than all-int8, which is the model stored")
    return (
        f"max_drop {target_pts:g} points NOT met: all-int8 agrees with the input model on {plain:.1%} of {images} "
        f"validation images, {bound}; {stored}. To get closer: raise max_slowdown (more fp32 layers), add tune_epochs "
        f"(weight tuning), or raise max_drop; fp16 keeps every layer's accuracy. What each layer costs, most int8 "
        f"error first: {rows}"
    )


def _db_text(lost: Optional[float]) -> str:
    return "not compared" if lost is None else f"{lost:.1f} dB lost in int8"


def _share(x: float) -> str:
    """A share of the weights: 0.4 % stays 0.4 %, not 0 %."""
    return f"{x:.1%}" if x < 0.1 else f"{x:.0%}"
