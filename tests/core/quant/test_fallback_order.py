"""max_drop's search over two orders: the SQNR ranking, and the network's first layers when error builds up early."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from core.quant import fallback

PARAMS = {"L0": 10, "L1": 10, "L2": 10, "L3": 100, "L4": 100, "L5": 100}  # graph order; 330 weights in all
RANKED = ["L4", "L3", "L5", "L0", "L1", "L2"]  # what a per-layer SQNR ranking might say: the big late layers first


def _chain():
    """Six nodes L0..L5 in graph order (only their names and order matter to the search)."""
    nodes, prev = [], "x"
    for name in PARAMS:
        nodes.append(helper.make_node("Relu", [prev], [f"{name}_out"], name=name))
        prev = f"{name}_out"
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 4])])
    return helper.make_model(graph)


def _costs(order):
    return [{"layer": n, "node": n, "op_type": "Conv", "params": PARAMS[n], "lost_db": 1.0,
             "fp32_extra_bytes": 3 * PARAMS[n], "macs_share": 0.1} for n in order]


def _run(tmp_path: Path, monkeypatch, passes, ranked=RANKED, target_pts: float = 2.0, slower=lambda kept: 1.0,
         score=None, max_slowdown: float = fallback.MAX_SLOWDOWN):
    """meet_target with a fake quantizer: agreement 0.99 when ``passes(kept nodes)``, else 0.8 (or ``score(kept)``);
    each candidate's latency over all-int8's is ``slower(kept nodes)``."""
    built: dict[str, list[str]] = {}
    monkeypatch.setattr(fallback, "reference", lambda ctx, src: (np.zeros((100, 1)), np.zeros(100)))
    score = score or (lambda kept: 0.99 if passes(kept) else 0.8)
    monkeypatch.setattr(fallback, "agreement",
                        lambda path, images, ref, ctx: score(set(built[str(path)])) if str(path) in built else 0.8)
    monkeypatch.setattr(fallback, "slowdown", lambda path, plain, shape, ctx, repeats=0: slower(set(built[str(path)])))

    def build(nodes, path):
        built[str(path)] = list(nodes)
        return nodes

    ctx = SimpleNamespace(check=lambda: None, workdir=tmp_path)
    return fallback.meet_target(ctx, tmp_path / "src.onnx", _chain(), _costs(ranked), sum(PARAMS.values()),
                                tmp_path / "plain.onnx", build, target_pts, lambda *a: None, max_slowdown)


def test_error_that_builds_up_early_is_cured_by_the_first_layers(tmp_path, monkeypatch):
    """The ranking's first layer is already over half the weights: only the graph-order prefix L0, L1 meets the target."""
    out = _run(tmp_path, monkeypatch, lambda kept: {"L0", "L1"} <= kept)
    assert out.kept == ["L0", "L1"] and out.order == "graph" and out.agreement >= 0.98
    assert out.proto == ["L0", "L1"]  # the model built for that prefix is the one returned
    assert out.quantizations == len(out.tried) + 1  # the ranked order was tried too (k = 1: L4), and failed
    assert "first layers" in out.notes(2.0)[1] and "L0" in out.notes(2.0)[1]


def test_the_order_that_keeps_fewer_weights_wins(tmp_path, monkeypatch):
    """Both orders can meet it; the ranking needs L1 alone (10 weights), the graph order L0 and L1 (20)."""
    out = _run(tmp_path, monkeypatch, lambda kept: "L1" in kept, ranked=["L1", "L4", "L3", "L5", "L0", "L2"])
    assert out.kept == ["L1"] and out.order == "ranked" and out.quantizations == 1  # one layer: no second search


def test_the_graph_order_is_searched_only_below_the_ranked_answers_weights(tmp_path, monkeypatch):
    """The ranking meets it with L2, L0 (20 weights); the graph order may only try prefixes under 20: L0 alone."""
    out = _run(tmp_path, monkeypatch, lambda kept: {"L0", "L2"} <= kept, ranked=["L2", "L0", "L1", "L3", "L4", "L5"])
    assert out.kept == ["L2", "L0"] and out.order == "ranked"
    assert set(out.tried) == {1, 2}  # the ranking's own tries; the graph order stopped at L0 (L0, L1 keeps 20)


def test_no_order_meets_it_ends_on_the_most_accurate_try_and_says_so(tmp_path, monkeypatch):
    """Nothing reaches 0.99: the most accurate try within the budgets is returned, met False, every layer's cost said."""
    out = _run(tmp_path, monkeypatch, lambda kept: False, score=lambda kept: 0.8 + 0.01 * len(kept & {"L0", "L1", "L2", "L3"}))
    assert not out.met and out.order == "graph" and out.kept == ["L0", "L1", "L2", "L3"]
    assert out.agreement == pytest.approx(0.84) and out.proto == out.kept  # the model built for that try is returned
    text = out.notes(2.0)[0]
    assert "max_drop 2 points NOT met" in text and "84.0%" in text and "it is the one stored" in text
    assert all(f"{name}: " in text for name in PARAMS) and "raise max_slowdown" in text


def test_a_try_over_the_time_budget_is_never_returned(tmp_path, monkeypatch):
    """Keeping L2 (or more) in fp32 would meet the target but runs 1.8× all-int8's latency: over the 1.5× budget."""
    out = _run(tmp_path, monkeypatch, lambda kept: {"L0", "L1", "L2"} <= kept,
               slower=lambda kept: 1.8 if "L2" in kept else 1.0 + 0.1 * len(kept),
               score=lambda kept: 0.99 if {"L0", "L1", "L2"} <= kept else 0.8 + 0.01 * len(kept))
    assert not out.met and out.kept == ["L0", "L1"] and out.slowdown == pytest.approx(1.2)
    assert "1.5× all-int8's latency" in out.unmet and "ran slower than that" in out.unmet
    met = _run(tmp_path, monkeypatch, lambda kept: {"L0", "L1", "L2"} <= kept, max_slowdown=2.0,
               slower=lambda kept: 1.8 if "L2" in kept else 1.0 + 0.1 * len(kept))
    assert met.met and met.kept == ["L0", "L1", "L2"] and met.slowdown == pytest.approx(1.8)


def test_nothing_within_the_budget_helps_keeps_all_int8(tmp_path, monkeypatch):
    out = _run(tmp_path, monkeypatch, lambda kept: True, slower=lambda kept: 3.0)
    assert not out.met and out.kept == [] and out.proto is None and out.agreement == 0.8
    assert "no fp32 layer within them did better than all-int8" in out.notes(2.0)[0]


def test_graph_prefixes_end_where_the_tensor_is_narrowest():
    """expand (24 ch) → depthwise (24) → project (4) → expand (24): a prefix ends after the 4-channel projection,
    never after an expansion or the depthwise between (quantizing a six-times-wider tensor there costs time)."""
    def conv(name, x, w, cout, cin, k=1, group=1):
        return helper.make_node("Conv", [x, w], [f"{name}_out"], name=name, group=group, kernel_shape=[k, k],
                                pads=[k // 2] * 4), helper.make_tensor(w, TensorProto.FLOAT, [cout, cin // group, k, k],
                                                                       [0.1] * (cout * (cin // group) * k * k))
    parts = [conv("expand", "x", "w1", 24, 4), conv("dw", "expand_out", "w2", 24, 24, 3, 24),
             conv("project", "dw_out", "w3", 4, 24), conv("expand2", "project_out", "w4", 24, 4)]
    graph = helper.make_graph([p[0] for p in parts], "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4, 8, 8])],
                              [helper.make_tensor_value_info("expand2_out", TensorProto.FLOAT, ["n", 24, 8, 8])],
                              [p[1] for p in parts])
    rows = [{"node": p[0].name} for p in parts]
    assert fallback.cheap_cuts(helper.make_model(graph), rows) == [1, 3]
    assert fallback.cheap_cuts(_chain(), [{"node": n} for n in PARAMS]) == list(range(1, 7))  # equal sizes: every k


def test_a_candidate_timed_near_the_budget_is_timed_again_for_longer(tmp_path, monkeypatch):
    """L0 first times 1.45× (within 10 % of the 1.5× budget), then 1.6× over three times the runs: it is out."""
    calls: list[int] = []

    def timing(path, plain, shape, ctx, repeats=fallback.TIMING_RUNS[1]):
        calls.append(repeats)
        return 1.45 if repeats == fallback.TIMING_RUNS[1] else 1.6

    monkeypatch.setattr(fallback, "reference", lambda ctx, src: (np.zeros((100, 1)), np.zeros(100)))
    built: dict[str, list[str]] = {}
    monkeypatch.setattr(fallback, "agreement", lambda path, images, ref, ctx: 0.99 if str(path) in built else 0.8)
    monkeypatch.setattr(fallback, "slowdown", timing)

    def build(nodes, path):
        built[str(path)] = list(nodes)
        return nodes

    ctx = SimpleNamespace(check=lambda: None, workdir=tmp_path)
    out = fallback.meet_target(ctx, tmp_path / "src.onnx", _chain(), _costs(["L0", "L1", "L2", "L3", "L4", "L5"]),
                               sum(PARAMS.values()), tmp_path / "plain.onnx", build, 2.0, lambda *a: None)
    assert not out.met and out.kept == [] and calls[:2] == [fallback.TIMING_RUNS[1], 3 * fallback.TIMING_RUNS[1]]
