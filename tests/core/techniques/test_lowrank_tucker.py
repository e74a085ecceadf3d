"""lowrank.tucker: exact at full ranks, fewer MACs at lower ranks, the right skips, ranks by energy and VBMF, export."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from core.metrics import evaluate_accuracy
from core.models import load_model
from core.models.macs import count_macs
from core.models.onnx_export import export_onnx
from core.models.onnx_model import OnnxModel
from core.models.program_io import save_pt2
from core.techniques import TechniqueError
from core.techniques.finetune import Finetune
from core.techniques.lowrank_common import lapack_threads
from core.techniques.lowrank_svd import energy_kept
from core.techniques.lowrank_tucker import LowRankTucker, evbmf_rank, tucker2, tucker_conv
from tests.core.small_models import loaded

SHAPE = (3, 16, 16)
DECOMPOSABLE = ("3", "6", "13")


def convnet() -> nn.Sequential:
    """A stem too narrow to decompose, two 3×3 convs (one strided), a depthwise and a 1×1 conv, another 3×3."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1, groups=64), nn.ReLU(),
        nn.Conv2d(64, 64, 1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 4),
    ).eval()


def _rows(out) -> dict[str, dict]:
    return {r["layer"]: r for r in out.layers}


def _x(n: int = 16) -> torch.Tensor:
    return torch.randn(n, *SHAPE, generator=torch.Generator().manual_seed(1))


def _rel_error(a: nn.Module, b: nn.Module) -> float:
    with torch.no_grad():
        ya, yb = a(_x()), b(_x())
    return float((ya - yb).norm() / yb.norm())


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(dilation=2, padding=2, padding_mode="reflect", bias=False)])
def test_full_ranks_reproduce_the_conv(kw):
    torch.manual_seed(0)
    conv = nn.Conv2d(24, 32, 3, **kw)
    with lapack_threads():
        core, u_out, u_in, error = tucker2(conv.weight.detach().double(), (32, 24))
    seq = tucker_conv(conv, core, u_out, u_in)
    assert error < 1e-9
    assert [m.kernel_size for m in seq] == [(1, 1), (3, 3), (1, 1)] and seq[1].stride == conv.stride
    assert seq[0].bias is None and seq[1].bias is None and (seq[2].bias is None) == (conv.bias is None)
    x = torch.randn(2, 24, 12, 12)
    torch.testing.assert_close(seq(x), conv(x), rtol=1e-4, atol=1e-4)


def test_half_ranks_cut_macs_as_reported_and_skip_what_cannot_gain(make_ctx):
    net = convnet()
    out = LowRankTucker(rank_ratio=0.5).apply(loaded(copy.deepcopy(net)), make_ctx())
    module, rows = out.model.module, _rows(out)
    before, after = count_macs(net, SHAPE), count_macs(module, SHAPE)
    assert out.extra["macs_before"] == before and out.extra["macs_after"] == after and before / after > 2.0
    # the per-layer figures add up to what the FLOP counter sees on the whole model
    assert sum(r["macs_before"] - r["macs_after"] for r in rows.values()) == before - after
    assert sum(r["params_before"] - r["params_after"] for r in rows.values()) == out.extra["params_before"] - out.extra["params_after"]
    assert "min_channels" in rows["0"]["skipped"]
    assert "depthwise" in rows["9"]["skipped"] and "1×1" in rows["11"]["skipped"]
    for name in ("0", "9", "11"):
        assert type(module[int(name)]) is nn.Conv2d
    for name in DECOMPOSABLE:
        assert rows[name]["skipped"] is None and isinstance(module[int(name)], nn.Sequential)
    assert (rows["6"]["rank_out"], rows["6"]["rank_in"]) == (32, 16) and module[6][1].stride == (2, 2)
    assert all(isinstance(module[i], nn.BatchNorm2d) for i in (1, 4, 7))  # BatchNorm stays where it was


def test_error_grows_as_rank_falls(make_ctx):
    net = convnet()
    layer_errors, output_errors = [], []
    for ratio in (0.75, 0.5, 0.25):
        out = LowRankTucker(rank_ratio=ratio).apply(loaded(copy.deepcopy(net)), make_ctx())
        layer_errors.append(_rows(out)["13"]["rel_error"])
        output_errors.append(_rel_error(out.model.module[:14], net[:14]))  # the feature maps, before pooling averages errors out
    assert layer_errors == sorted(layer_errors) and 0 < layer_errors[0] < layer_errors[-1] < 1
    assert output_errors == sorted(output_errors)


def test_energy_mode_keeps_the_asked_energy_per_mode(make_ctx):
    net = convnet()
    out = LowRankTucker(rank_mode="energy", energy=0.6).apply(loaded(copy.deepcopy(net)), make_ctx())
    for name in DECOMPOSABLE:
        row, w = _rows(out)[name], net[int(name)].weight.detach().double()
        with lapack_threads():
            s_out = torch.linalg.svdvals(w.reshape(w.shape[0], -1))
            s_in = torch.linalg.svdvals(w.transpose(0, 1).reshape(w.shape[1], -1))
        for s, r in ((s_out, row["rank_out"]), (s_in, row["rank_in"])):
            assert energy_kept(s, r) >= 0.6 > energy_kept(s, r - 1)


def test_vbmf_finds_the_rank_of_signal_in_noise():
    gen = torch.Generator().manual_seed(0)
    low = torch.randn(64, 5, generator=gen, dtype=torch.float64) @ torch.randn(5, 400, generator=gen, dtype=torch.float64)
    assert evbmf_rank(low + 0.1 * torch.randn(64, 400, generator=gen, dtype=torch.float64)) == 5
    assert evbmf_rank(torch.randn(400, 64, generator=gen, dtype=torch.float64)) == 0  # pure noise: nothing to keep
    # a kernel that is low-rank in its channel modes: out 48 → rank 6, in 32 → rank 4
    core = torch.randn(6, 4, 3, 3, generator=gen, dtype=torch.float64)
    a, b = torch.randn(48, 6, generator=gen, dtype=torch.float64), torch.randn(32, 4, generator=gen, dtype=torch.float64)
    w = torch.einsum("abhw,oa,ib->oihw", core, a, b)
    w = w + 0.01 * w.std() * torch.randn(w.shape, generator=gen, dtype=torch.float64)
    with lapack_threads():
        assert LowRankTucker(rank_mode="vbmf").ranks(w) == (6, 4)


def test_ignore_layers_and_unknown_names(make_ctx):
    out = LowRankTucker(ignore_layers=("13",)).apply(loaded(convnet()), make_ctx())
    assert _rows(out)["13"]["skipped"] == "in ignore_layers" and type(out.model.module[13]) is nn.Conv2d
    with pytest.raises(TechniqueError) as err:
        LowRankTucker(ignore_layers=("conv13",)).apply(loaded(convnet()), make_ctx())
    assert "'conv13'" in str(err.value) and "13" in str(err.value)
    with pytest.raises(TechniqueError, match="no Conv2d layers"):
        LowRankTucker().apply(loaded(nn.Sequential(nn.Flatten(), nn.Linear(768, 4))), make_ctx())


def test_train_mode_and_batchnorm_are_kept(make_ctx):
    net = convnet().train()
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    stats = [m.running_mean.clone() for m in bns]
    model = loaded(net)
    net.train()  # loaded() put it in eval; the step must not care either way
    module = LowRankTucker().apply(model, make_ctx()).model.module
    assert module.training and all(m.training for m in module.modules())
    assert [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)] == bns
    assert all(torch.equal(m.running_mean, s) for m, s in zip(bns, stats))


def test_decomposed_model_exports_to_onnx_and_round_trips_as_pt2(make_ctx, tmp_path):
    model = LowRankTucker().apply(loaded(convnet()), make_ctx()).model
    x = _x(3)
    expected = model.predict(x)
    onnx = OnnxModel(export_onnx(model.module, SHAPE, tmp_path / "tucker.onnx"))
    torch.testing.assert_close(torch.as_tensor(onnx(x)), expected, rtol=1e-4, atol=1e-4)
    back = load_model(str(save_pt2(model.module, SHAPE, tmp_path / "tucker.pt2")))
    torch.testing.assert_close(back.predict(x), expected, rtol=0, atol=0)


def test_trained_net_stays_accurate_after_mild_ranks_and_a_short_finetune(trained_net, quadrants, make_ctx):
    val = lambda m: evaluate_accuracy(m, quadrants.loader("val", 64), topk=(1,)).top1  # noqa: E731
    base = val(loaded(trained_net))
    out = LowRankTucker(rank_ratio=0.75, min_channels=8).apply(loaded(copy.deepcopy(trained_net)), make_ctx())
    assert out.extra["decomposed_layers"] == 4 and out.extra["macs_ratio"] > 1.1
    tuned = Finetune(epochs=2, lr=0.02, batch_size=16, augment=False).apply(out.model, make_ctx()).model
    assert val(tuned) >= base - 0.05


def test_batchnorm_re_estimation_is_opt_in_and_restores_the_layers(trained_net, quadrants, make_ctx):
    val = lambda m: evaluate_accuracy(m, quadrants.loader("val", 64), topk=(1,)).top1  # noqa: E731
    plain = LowRankTucker(rank_ratio=0.5, min_channels=8).apply(loaded(copy.deepcopy(trained_net)), make_ctx())
    assert plain.extra["bn_recalibrated"] == 0
    assert torch.equal(plain.model.module.bn1.running_var, trained_net.bn1.running_var)
    fixed = LowRankTucker(rank_ratio=0.5, min_channels=8, bn_batches=3).apply(loaded(copy.deepcopy(trained_net)), make_ctx())
    module = fixed.model.module
    assert fixed.extra["bn_recalibrated"] == 6 and any("BatchNorm" in n for n in fixed.notes)
    assert not torch.equal(module.block1.bn1.running_var, trained_net.block1.bn1.running_var)
    assert all(m.momentum == 0.1 and not m.training for m in module.modules() if isinstance(m, nn.BatchNorm2d))
    assert val(fixed.model) >= val(plain.model)
