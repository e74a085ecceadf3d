"""prune.structured: smaller networks that still run, the classifier kept, every option honoured, refusals clear."""

from __future__ import annotations

import math
import time

import pytest
import torch

from core.jobs import CancelToken, Cancelled
from core.techniques import TechniqueError, get
from core.techniques.prune_structured import PruneStructured, keep_count
from tests.core.techniques.prune_helpers import DEMO_SHAPE, conv_head_net, demo, macs, make_ctx, random_bundle, wrap


def _out_channels(outcome) -> dict[str, int]:
    return {r["layer"]: r["out_channels"] for r in outcome.layers}


def test_registered_with_metadata_for_every_field():
    info = get("prune.structured")
    assert info.family == "Pruning" and info.side == "torch"
    kinds = {p.name: p.kind for p in info.params}
    assert kinds == {
        "ratio": "float", "importance": "choice", "taylor_batches": "int", "scope": "choice", "iterative_steps": "int",
        "finetune_epochs": "int", "finetune_lr": "float", "round_to": "int", "max_layer_ratio": "float", "ignore_layers": "list",
    }
    assert all(p.spec.label and p.spec.help for p in info.params)


def test_demo_at_half_ratio_is_much_cheaper_and_keeps_its_classifier(tmp_path):
    model = demo()
    before = macs(model.module)
    messages = []
    out = PruneStructured(ratio=0.5).apply(model, make_ctx(tmp_path, progress=lambda f, m: messages.append((f, m))))
    net = out.model.module
    after = macs(net)
    assert before / after >= 2.0  # theory: a conv keeps (1 - 0.5)² of its MACs, ~4x overall
    assert out.extra["macs_ratio"] == pytest.approx(before / after, rel=1e-3)
    assert out.extra["params_ratio"] > 2.0
    assert net.fc.out_features == 10 and out.extra["classifier"] == ["fc"]
    assert out.model.predict(torch.randn(3, *DEMO_SHAPE)).shape == (3, 10)
    row = {r["layer"]: r for r in out.layers}
    assert row["fc"]["role"] == "classifier (kept)" and row["fc"]["in_channels"] == 32
    assert row["layer1.0.conv1"]["out_channels_before"] == 16 and row["layer1.0.conv1"]["out_channels"] == 8
    assert row["layer3.1.conv2"]["macs"] < row["layer3.1.conv2"]["macs_before"] / 3
    assert "MACs" in out.summary and "→" in out.summary
    assert out.model.name == "DemoResNet+pruned50" and out.model.num_classes == 10
    assert messages[-1][0] == 1.0 and all(0.0 <= f <= 1.0 for f, _ in messages)


def test_pruning_dead_channels_leaves_the_logits_exactly_unchanged(tmp_path):
    """Correctness, not just shapes: channels that contribute nothing are the ones removed, and nothing else moves."""
    model = demo()
    net = model.module
    with torch.no_grad():
        for block in [b for stage in (net.layer1, net.layer2, net.layer3) for b in stage]:
            half = block.conv1.out_channels // 2
            block.conv1.weight[half:] = 0
            block.bn1.weight[half:] = 0
            block.bn1.bias[half:] = 0
    x = torch.randn(4, *DEMO_SHAPE)
    reference = model.predict(x)
    residual_groups = ("conv1", "layer2.0.downsample", "layer3.0.downsample")  # keep the residual streams whole
    out = PruneStructured(ratio=0.5, ignore_layers=residual_groups).apply(model, make_ctx(tmp_path))
    assert net.layer2[0].conv1.out_channels == 16 and net.layer2[0].conv2.out_channels == 32
    torch.testing.assert_close(out.model.predict(x), reference, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("importance", ["l1", "l2", "bn_scale", "taylor", "random"])
def test_every_importance_prunes(tmp_path, importance):
    model = demo()
    before = macs(model.module)
    out = PruneStructured(ratio=0.5, importance=importance, taylor_batches=2).apply(model, make_ctx(tmp_path))
    assert before / macs(out.model.module) >= 2.0
    assert out.model.predict(torch.randn(2, *DEMO_SHAPE)).shape == (2, 10)


def test_taylor_ranks_by_gradients_and_leaves_none_behind(tmp_path):
    model = demo()
    out = PruneStructured(ratio=0.3, importance="taylor", taylor_batches=1).apply(model, make_ctx(tmp_path))
    assert all(p.grad is None for p in out.model.module.parameters())


def test_random_importance_is_reproducible_with_the_seed(tmp_path):
    a = PruneStructured(ratio=0.5, importance="random").apply(demo(), make_ctx(tmp_path, seed=3)).model.module
    b = PruneStructured(ratio=0.5, importance="random").apply(demo(), make_ctx(tmp_path, seed=3)).model.module
    torch.testing.assert_close(a.layer1[0].conv1.weight, b.layer1[0].conv1.weight)


def test_round_to_gives_multiples_of_eight(tmp_path):
    out = PruneStructured(ratio=0.6, round_to=8).apply(demo(), make_ctx(tmp_path))
    assert 0.5 < out.extra["channels_removed"] < 0.8
    for row in out.layers:
        if row["role"] != "classifier (kept)":
            assert row["out_channels"] % 8 == 0, row
            assert row["out_channels"] > 0


def test_round_to_never_rounds_a_layer_away():
    assert keep_count(6, 16, 1, 8) == 8  # nearest multiple
    assert keep_count(3, 16, 1, 8) == 8  # never zero
    assert keep_count(2, 6, 1, 8) == 6  # narrower than one multiple: left whole
    assert keep_count(11, 12, 1, 8) == 8
    assert keep_count(3, 16, 4, 1) == 4  # the per-layer floor
    assert keep_count(10, 64, 12, 8) == 16  # rounding does not undercut the floor


def test_ignore_layers_keeps_their_channels(tmp_path):
    out = PruneStructured(ratio=0.5, ignore_layers=("layer2.0.conv1",)).apply(demo(), make_ctx(tmp_path))
    channels = _out_channels(out)
    assert channels["layer2.0.conv1"] == 32 and channels["layer2.1.conv1"] == 16
    assert {r["layer"]: r["role"] for r in out.layers}["layer2.0.conv1"] == "ignored"


def test_unknown_ignore_name_is_an_error_with_close_names(tmp_path):
    with pytest.raises(TechniqueError) as err:
        PruneStructured(ignore_layers=("layer2.0.conv",)).apply(demo(), make_ctx(tmp_path))
    assert "layer2.0.conv" in str(err.value) and "did you mean" in str(err.value).lower() and "layer2.0.conv1" in str(err.value)


def test_global_scope_spreads_the_cut_unevenly_and_respects_the_cap(tmp_path):
    uniform = PruneStructured(ratio=0.5, scope="uniform").apply(demo(), make_ctx(tmp_path))
    glob = PruneStructured(ratio=0.5, scope="global", max_layer_ratio=0.7).apply(demo(), make_ctx(tmp_path))
    assert _out_channels(uniform) != _out_channels(glob)
    kept = {r["out_channels"] / r["out_channels_before"] for r in glob.layers if r["role"] == ""}
    assert len(kept) > 2  # layers lose different fractions
    for row in glob.layers:
        assert row["out_channels"] >= math.ceil(row["out_channels_before"] * 0.3), row
    assert macs(demo().module) / macs(glob.model.module) >= 2.0


def test_iterative_steps_reach_the_ratio(tmp_path):
    messages = []
    one = PruneStructured(ratio=0.5).apply(demo(), make_ctx(tmp_path))
    three = PruneStructured(ratio=0.5, iterative_steps=3).apply(demo(), make_ctx(tmp_path, progress=lambda f, m: messages.append(m)))
    assert _out_channels(three) == _out_channels(one)
    assert any("step 3/3" in m for m in messages)
    assert "3 steps" in three.summary


def test_cancel_between_steps(tmp_path):
    token = CancelToken()

    def progress(fraction, message):
        if "step 2/4" in message:
            token.cancel()

    with pytest.raises(Cancelled):
        PruneStructured(ratio=0.5, iterative_steps=4).apply(demo(), make_ctx(tmp_path, progress=progress, cancel=token))


def test_cancel_during_taylor_batches(tmp_path):
    token = CancelToken()

    def progress(fraction, message):
        if "batch 1/" in message:
            token.cancel()

    with pytest.raises(Cancelled):
        PruneStructured(importance="taylor", taylor_batches=3).apply(demo(), make_ctx(tmp_path, progress=progress, cancel=token))


def test_a_conv_classifier_is_found_and_kept(tmp_path):
    """SqueezeNet-style: no Linear at all; the 1x1 Conv before the pooling sets the class count."""
    model = wrap(conv_head_net(), name="convhead")
    out = PruneStructured(ratio=0.5).apply(model, make_ctx(tmp_path))
    assert out.extra["classifier"] == ["6"]
    net = out.model.module
    assert net[6].out_channels == 10 and net[6].in_channels == 16
    assert out.model.predict(torch.randn(2, *DEMO_SHAPE)).shape == (2, 10)


def test_bn_scale_needs_batchnorm(tmp_path):
    with pytest.raises(TechniqueError, match="no BatchNorm"):
        PruneStructured(importance="bn_scale").apply(wrap(conv_head_net(bn=False)), make_ctx(tmp_path))


def test_out_of_range_values_are_refused(tmp_path):
    with pytest.raises(TechniqueError, match="ratio"):
        PruneStructured(ratio=1.5).apply(demo(), make_ctx(tmp_path))
    with pytest.raises(TechniqueError, match="importance"):
        PruneStructured(importance="l3").apply(demo(), make_ctx(tmp_path))


def test_nothing_prunable_is_an_error(tmp_path):
    with pytest.raises(TechniqueError, match="no channel"):
        PruneStructured(ratio=0.5, ignore_layers=("conv1", "layer1", "layer2", "layer3")).apply(demo(), make_ctx(tmp_path))


def test_shufflenet_channel_shuffle_is_refused_by_name(tmp_path):
    from core.models import torchvision_zoo as zoo

    shape = (3, 64, 64)
    model = wrap(zoo.build("shufflenet_v2_x0_5", 10), shape, name="shufflenet_v2_x0_5")
    weights = model.module.conv1[0].weight.clone()
    with pytest.raises(TechniqueError) as err:
        PruneStructured(ratio=0.5).apply(model, make_ctx(tmp_path, data=random_bundle(8, shape)))
    text = str(err.value)
    assert "channel shuffle" in text and "transpose" in text and "stage2.0" in text
    assert torch.equal(model.module.conv1[0].weight, weights)  # refused before anything changed


def test_compiled_programs_are_refused(tmp_path):
    from core.models import load_model
    from core.models.program_io import save_pt2

    path = save_pt2(demo().module, DEMO_SHAPE, tmp_path / "demo.pt2")
    with pytest.raises(TechniqueError, match="compiled program"):
        PruneStructured().apply(load_model(str(path)), make_ctx(tmp_path))


# --------------------------------------------------------------------------- the torchvision zoo (random init, 64x64: ~2 s for all)

ZOO = {
    "resnet18": "fc",
    "mobilenet_v2": "classifier.1",
    "mobilenet_v3_small": "classifier.3",
    "efficientnet_b0": "classifier.1",
    "squeezenet1_1": "classifier.1",
}


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_architectures_prune_to_smaller_working_networks(tmp_path, name):
    from core.models import torchvision_zoo as zoo

    shape = (3, 64, 64)
    torch.manual_seed(0)
    model = wrap(zoo.build(name, 10), shape, name=name)
    before = macs(model.module, shape)
    start = time.perf_counter()
    out = PruneStructured(ratio=0.5).apply(model, make_ctx(tmp_path, data=random_bundle(8, shape)))
    seconds = time.perf_counter() - start
    after = macs(out.model.module, shape)
    assert out.extra["classifier"] == [ZOO[name]]
    assert out.model.predict(torch.randn(2, *shape)).shape == (2, 10)
    assert before / after >= 2.0
    print(f"{name}: {before / 1e6:.1f} M -> {after / 1e6:.1f} M MACs ({before / after:.2f}x) in {seconds:.2f} s")


def test_safety_net_names_the_failing_layer_and_a_wrong_output_width():
    from torch import nn

    from core.techniques.prune_structured import check_runs

    broken = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.Flatten(), nn.Linear(5, 10)))
    with pytest.raises(TechniqueError) as err:
        check_runs(broken, DEMO_SHAPE, 10, "net")
    assert "1.1" in str(err.value) and "ignore_layers" in str(err.value)
    narrow = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 7))
    with pytest.raises(TechniqueError, match=r"\(2, 7\) instead of \(N, 10\)"):
        check_runs(narrow, DEMO_SHAPE, 10, "net")
