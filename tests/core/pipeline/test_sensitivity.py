"""Per-layer sensitivity: one row per layer, the right layers flagged, a valid recipe step, cancel between layers."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError
from core.jobs import CancelToken, Cancelled
from core.pipeline.recipe import make_step
from core.pipeline.sensitivity import SensitivityReport, prune_groups, prune_sensitivity, quant_sensitivity
from core.techniques.base import TechniqueError
from tests.core.small_models import loaded

SHAPE = (3, 16, 16)
FRAGILE = 50.0  # conv1's weight on a channel the data never uses (real weights are about 0.1-0.5)


def _dead_channels(net: nn.Module) -> nn.Module:
    """Half of block1.conv1's channels output exactly zero and are read by nothing: pruning them costs nothing."""
    net = copy.deepcopy(net)
    dead = slice(0, net.block1.conv1.out_channels // 2)
    with torch.no_grad():
        net.block1.conv1.weight[dead] = 0
        net.block1.bn1.weight[dead] = 0
        net.block1.bn1.bias[dead] = 0
        net.block1.conv2.weight[:, dead] = 0
    return net


def _blank_channel0(bundle: DatasetBundle) -> DatasetBundle:
    """The same images with colour channel 0 always zero."""
    def blank(ds: TensorDataset) -> TensorDataset:
        x, y = ds.tensors
        x = x.clone()
        x[:, 0] = 0
        return TensorDataset(x, y)

    return dataclasses.replace(bundle, train=blank(bundle.train), val=blank(bundle.val), calib=blank(bundle.calib))


def _int8_fragile_conv1(net: nn.Module) -> nn.Module:
    """conv1 gets huge weights on the always-zero channel 0: fp32 is unchanged, but every filter's int8 scale is so
    coarse that its real weights round to zero. Only conv1 is hurt, and keeping it fp32 really helps (its input is
    the model's, so ONNX Runtime has no int8 input to re-quantize its weights against)."""
    net = copy.deepcopy(net)
    with torch.no_grad():
        net.conv1.weight[:, 0] = FRAGILE
    return net


@pytest.fixture(scope="module")
def prune_report(trained_net, quadrants) -> SensitivityReport:
    return prune_sensitivity(loaded(_dead_channels(trained_net)), quadrants, ratio=0.5)


@pytest.fixture(scope="module")
def blank_data(quadrants) -> DatasetBundle:
    return _blank_channel0(quadrants)


@pytest.fixture(scope="module")
def fragile_onnx(trained_net, blank_data, tmp_path_factory):
    """The int8-fragile model exported once: the ONNX input every quantization test starts from."""
    from core.models.onnx_export import export_onnx
    from core.models.onnx_model import OnnxModel
    from core.techniques.base import derived

    module = _int8_fragile_conv1(trained_net).eval()
    x = torch.stack([blank_data.val[i][0] for i in range(8)])
    assert torch.allclose(module(x), trained_net(x), atol=1e-4)  # fp32 unchanged on this data
    path = export_onnx(module, SHAPE, tmp_path_factory.mktemp("fragile") / "fp32.onnx")
    return derived(loaded(module), OnnxModel(path), suffix="fp32")


# --------------------------------------------------------------------------- pruning


def test_groups_follow_the_residual_adds(trained_net):
    groups, classifier = prune_groups(trained_net, SHAPE)
    assert classifier == ["fc"]
    assert sorted(map(sorted, groups)) == sorted([
        ["block1.conv2", "conv1"], ["block1.conv1"], ["block2.conv1"], ["block2.conv2", "block2.downsample.0"],
    ])


def test_one_row_per_prunable_layer_and_only_its_group_is_pruned(prune_report):
    from core.techniques.prune_unstructured import prunable_layers
    from tests.core.small_models import BlockNet

    expected = set(prunable_layers(BlockNet())) - {"fc"}
    assert {r["layer"] for r in prune_report.rows} == expected
    for row in prune_report.rows:
        assert row["reason"] is None, row
        assert set(row["pruned"]) == set(row["group"]), row  # nothing outside the group changed
        assert row["macs_removed"] > 0 and 0 < row["macs_removed_share"] < 1
        assert 0 < row["params_share"] < 1
        assert row["drop_pt"] == pytest.approx(100 * (prune_report.baseline - row["accuracy"]), abs=1e-3)
    coupled = next(r for r in prune_report.rows if r["layer"] == "conv1")
    assert set(coupled["group"]) == {"conv1", "block1.conv2"}
    json.dumps(prune_report.to_dict())  # JSON-safe


def test_dead_channels_cost_nothing_and_the_stem_is_flagged(prune_report, trained_net, make_ctx):
    rows = {r["layer"]: r for r in prune_report.rows}
    assert rows["block1.conv1"]["drop_pt"] == 0 and rows["block1.conv1"]["agreement"] == 1.0
    assert rows["conv1"]["drop_pt"] > rows["block1.conv1"]["drop_pt"] + 5
    assert prune_report.ranked()[0]["drop_pt"] == max(r["drop_pt"] for r in prune_report.rows)

    technique, params = prune_report.suggested_step()
    assert technique == "prune.structured" and params["ratio"] == 0.5
    assert {"conv1", "block1.conv2"} <= set(params["ignore_layers"])
    assert "block1.conv1" not in params["ignore_layers"]
    step = make_step(technique, params)  # a valid recipe step...
    outcome = step.config.apply(loaded(_dead_channels(trained_net)), make_ctx())  # ...that prunes the rest
    pruned = {r["layer"] for r in outcome.layers if r["out_channels"] < r["out_channels_before"]}
    assert "block1.conv1" in pruned and not pruned & set(params["ignore_layers"])


def test_a_group_that_cannot_be_pruned_gets_a_reason(quadrants):
    torch.manual_seed(0)
    net = nn.Sequential(  # a one-channel bottleneck: half of one channel rounds to nothing
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 1), nn.ReLU(),
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )
    report = prune_sensitivity(loaded(net), quadrants, eval_batches=1)
    rows = {r["layer"]: r for r in report.rows}
    assert rows["2"]["accuracy"] is None and rows["2"]["drop_pt"] is None and rows["2"]["reason"]
    assert rows["0"]["accuracy"] is not None
    assert report.ranked()[-1]["layer"] == "2"  # unscored rows last


def test_bad_inputs_fail_clearly(trained_net, quadrants, fragile_onnx):
    with pytest.raises(EdgeSlimError, match="block9"):
        prune_sensitivity(loaded(trained_net), quadrants, layers=["block9.conv1"])
    with pytest.raises(EdgeSlimError, match="ratio"):
        prune_sensitivity(loaded(trained_net), quadrants, ratio=1.5)
    with pytest.raises(TechniqueError, match="ONNX"):
        prune_sensitivity(fragile_onnx, quadrants)
    with pytest.raises(EdgeSlimError, match="exclude_one"):
        quant_sensitivity(fragile_onnx, quadrants, method="leave_one")


def test_cancel_between_layers(trained_net, quadrants, fragile_onnx):
    token = CancelToken()

    def progress(fraction: float, message: str) -> None:
        if message.startswith("layer 2/"):
            token.cancel()

    with pytest.raises(Cancelled):
        prune_sensitivity(loaded(trained_net), quadrants, eval_batches=1, progress=progress, cancel=token)
    token = CancelToken()
    with pytest.raises(Cancelled):
        quant_sensitivity(fragile_onnx, quadrants, calibration_samples=16, eval_batches=1, progress=progress, cancel=token)


# --------------------------------------------------------------------------- quantization


def test_error_method_finds_the_fragile_layer(fragile_onnx, blank_data):
    report = quant_sensitivity(fragile_onnx, blank_data, method="error", calibration_samples=32)
    assert {r["layer"] for r in report.rows} == {"conv1", "block1.conv1", "block1.conv2", "block2.conv1", "block2.conv2",
                                                 "block2.downsample.0", "fc"}
    assert all(r["output_sqnr_db"] is not None for r in report.rows)
    top, second = report.ranked()[:2]
    assert top["layer"] == "conv1" and top["lost_db"] > 20 > second["lost_db"]
    assert report.extra["int8_drop_pt"] > 10  # the planted weights really break int8
    technique, params = report.suggested_step()
    assert params["exclude_nodes"] == ["conv1"]
    make_step(technique, params)


def test_exclude_one_recovers_and_only_one_loses(fragile_onnx, blank_data, make_ctx):
    from core.metrics.accuracy import evaluate_accuracy

    kw = {"layers": ["conv1", "block1.conv1", "fc"], "calibration_samples": 32}
    excl = quant_sensitivity(fragile_onnx, blank_data, method="exclude_one", **kw)
    rows = {r["layer"]: r for r in excl.rows}
    assert set(rows) == {"conv1", "block1.conv1", "fc"}
    assert rows["conv1"]["recovered_pt"] > 10  # keeping conv1 in fp32 wins points back
    # conv1 is the weak layer: keeping it fp32 recovers the most (its readers kept in fp32 help less)
    # fc matters little either way (measured: within 1 of 40 images without bias correction, 2 with it)
    assert rows["conv1"]["recovered_pt"] > rows["block1.conv1"]["recovered_pt"]
    assert abs(rows["fc"]["recovered_pt"]) <= 5.0 < rows["conv1"]["recovered_pt"] / 5
    assert excl.ranked()[0]["layer"] == "conv1" and excl.suggestion["exclude_nodes"][0] == "conv1"

    only = quant_sensitivity(fragile_onnx, blank_data, method="only_one", **kw)
    rows = {r["layer"]: r for r in only.rows}
    assert rows["conv1"]["drop_pt"] > 10  # quantizing conv1 alone costs points
    assert abs(rows["block1.conv1"]["drop_pt"]) < 5 and abs(rows["fc"]["drop_pt"]) < 5
    assert only.ranked()[0]["layer"] == "conv1"

    technique, params = excl.suggested_step()  # the suggested step wins the accuracy back
    outcome = make_step(technique, params).config.apply(fragile_onnx, make_ctx(data=blank_data))
    assert {r["layer"]: r["quantized"] for r in outcome.layers}["conv1"] is False
    top1 = evaluate_accuracy(outcome.model, blank_data.loader("val", 128)).top1
    assert top1 >= excl.baseline - 0.05
