"""Two runs side by side, from their stored records."""

from __future__ import annotations

from core.store.run_compare import compare_runs, layer_states
from core.store.workspace import Workspace
from tests.store_runs import fill


def test_metrics_side_by_side_mark_the_better_run(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        ids = fill(ws)
        a, b = ws.get_run(ids["int8"]), ws.get_run(ids["prune50"])
    cmp = compare_runs(a, b)
    rows = {r.label: r for r in cmp.metrics}
    assert rows["Top-1 accuracy"].a == "98.90 %" and rows["Top-1 accuracy"].better == "a"
    assert rows["MACs per image"].better == "b"  # the pruned run does fewer multiply-accumulates
    assert rows["ONNX file"].better == "b"
    assert rows["Run time"].better is None  # equal


def test_per_layer_diff_shows_channels_before_and_after_each_run(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        ids = fill(ws)
        a, b = ws.get_run(ids["prune30"]), ws.get_run(ids["int8"])
    cmp = compare_runs(a, b)
    conv1 = next(layer for layer in cmp.layers if layer.name == "conv1")
    assert (conv1.original.channels, conv1.a.channels, conv1.b.channels) == (16, 11, 16)  # int8 left the layer alone
    assert conv1.a.params == int(432 * 0.7) and conv1.b.params == 432 and conv1.differs


def test_low_rank_records_show_ranks_and_later_steps_override_earlier_ones():
    steps = [
        {"layers": [{"layer": "c", "type": "Conv2d", "out_channels_before": 64, "out_channels": 32, "params_before": 100, "params": 50}]},
        {"layers": [{"layer": "c", "out": 32, "rank_out": 8, "rank_in": 4, "params_before": 50, "params_after": 20,
                     "macs_before": 10, "macs_after": 4, "skipped": None},
                    {"layer": "d", "out": 10, "rank_out": None, "rank_in": None, "params_before": 9, "params_after": 9,
                     "skipped": "1×1 convolution"}]},
    ]
    states = layer_states(steps)
    kind, original, after = states["c"]
    assert original.channels == 64 and original.params == 100
    assert after.channels == 32 and after.params == 20 and after.rank == "Tucker ranks 8×4"
    assert states["d"][2].rank is None  # skipped layers were not factored


def test_runs_without_structural_steps_say_so(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        ids = fill(ws)
        cmp = compare_runs(ws.get_run(ids["int8"]), ws.get_run(ids["fp16"]))
    assert cmp.layers == [] and "no pruning or low-rank step" in cmp.notes[0]
