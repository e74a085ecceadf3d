"""max_drop's search over two orders: the SQNR ranking, and the network's first layers when error builds up early."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from core.quant import fallback
from core.techniques.base import TechniqueError

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


def _run(tmp_path: Path, monkeypatch, passes, ranked=RANKED, target_pts: float = 2.0):
    """meet_target with a fake quantizer: agreement 0.99 when ``passes(kept nodes)``, else 0.8."""
    built: dict[str, list[str]] = {}
    monkeypatch.setattr(fallback, "reference", lambda ctx, src: (np.zeros((100, 1)), np.zeros(100)))
    monkeypatch.setattr(fallback, "agreement",
                        lambda path, images, ref, ctx: 0.99 if str(path) in built and passes(set(built[str(path)])) else 0.8)

    def build(nodes, path):
        built[str(path)] = list(nodes)
        return nodes

    ctx = SimpleNamespace(check=lambda: None, workdir=tmp_path)
    return fallback.meet_target(ctx, tmp_path / "src.onnx", _chain(), _costs(ranked), sum(PARAMS.values()),
                                tmp_path / "plain.onnx", build, target_pts, lambda *a: None)


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


def test_no_order_meets_it_names_the_best_try(tmp_path, monkeypatch):
    with pytest.raises(TechniqueError, match=r"cannot be met.*80\.0%.*an int8 model keeps at most 50%"):
        _run(tmp_path, monkeypatch, lambda kept: False)
