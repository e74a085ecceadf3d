"""lowrank.svd: exact at full rank, the expected params at low rank, energy kept, skips reported, export works."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from core.models import load_model
from core.models.onnx_export import export_onnx
from core.models.onnx_model import OnnxModel
from core.models.program_io import save_pt2
from core.techniques import TechniqueError
from core.techniques.lowrank_common import lapack_threads
from core.techniques.lowrank_svd import LowRankSVD, energy_kept, factored_linear, svd_factors
from tests.core.small_models import loaded

SHAPE = (3, 16, 16)


def mlp() -> nn.Sequential:
    """768 → 128 → 64 → 4: two hidden layers worth factoring and a small classifier."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(768, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 4),
    ).eval()


def _rows(out) -> dict[str, dict]:
    return {r["layer"]: r for r in out.layers}


def _rel_error(a: nn.Module, b: nn.Module) -> float:
    x = torch.randn(32, *SHAPE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ya, yb = a(x), b(x)
    return float((ya - yb).norm() / yb.norm())


@pytest.mark.parametrize("n_in,n_out", [(40, 24), (24, 40)])
def test_full_rank_factors_reproduce_the_layer(n_in, n_out):
    torch.manual_seed(0)
    lin = nn.Linear(n_in, n_out)
    fac = svd_factors(lin.weight, lambda s: len(s))
    new = factored_linear(lin, fac)
    assert [type(m) for m in new] == [nn.Linear, nn.Linear] and new[0].bias is None
    assert (new[0].in_features, new[0].out_features, new[1].out_features) == (n_in, 24, n_out)
    x = torch.randn(8, n_in)
    torch.testing.assert_close(new(x), lin(x), rtol=1e-5, atol=1e-5)
    assert fac.energy == pytest.approx(1.0) and fac.error == pytest.approx(0.0, abs=1e-6)


def test_a_rank_deficient_weight_keeps_only_its_real_rank():
    torch.manual_seed(0)
    lin = nn.Linear(30, 20)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(20, 3) @ torch.randn(3, 30))
    fac = svd_factors(lin.weight, lambda s: len(s))
    assert fac.rank == 3  # the 17 zero singular values are not kept as noise directions
    x = torch.randn(8, 30)
    torch.testing.assert_close(factored_linear(lin, fac)(x), lin(x), rtol=1e-5, atol=1e-5)


def test_low_rank_cuts_params_as_expected_and_error_grows_as_rank_falls(make_ctx):
    net = mlp()
    errors, weight_errors = [], []
    for ratio in (0.5, 0.25, 0.1):
        out = LowRankSVD(rank_ratio=ratio).apply(loaded(copy.deepcopy(net)), make_ctx())
        rows = _rows(out)
        r1, r2 = round(ratio * 128), round(ratio * 64)
        assert rows["1"]["rank"] == r1 and rows["1"]["params_after"] == r1 * (768 + 128) + 128
        assert rows["3"]["rank"] == r2 and rows["3"]["params_after"] == r2 * (128 + 64) + 64
        saved = sum(r["params_before"] - r["params_after"] for r in out.layers)
        assert out.extra["params_before"] - out.extra["params_after"] == saved > 0
        assert out.extra["macs_ratio"] > 1
        module = out.model.module
        assert isinstance(module[1], nn.Sequential) and module[1][0].out_features == r1
        errors.append(_rel_error(module, net))
        weight_errors.append(rows["1"]["weight_error"])
    assert errors == sorted(errors) and errors[0] > 0
    assert weight_errors == sorted(weight_errors)


def test_energy_mode_keeps_at_least_the_asked_energy_with_the_smallest_rank(make_ctx):
    net = mlp()
    out = LowRankSVD(rank_mode="energy", energy=0.6).apply(loaded(copy.deepcopy(net)), make_ctx())
    for name in ("1", "3"):
        row = _rows(out)[name]
        with lapack_threads():
            s = torch.linalg.svdvals(net[int(name)].weight.detach().double())
        assert row["energy_kept"] >= 0.6
        assert energy_kept(s, row["rank"] - 1) < 0.6  # one fewer would not do
        assert row["weight_error"] == pytest.approx((1 - row["energy_kept"]) ** 0.5, abs=1e-5)


def test_a_layer_without_saving_is_skipped_and_reported(make_ctx):
    out = LowRankSVD(rank_ratio=0.75).apply(loaded(mlp()), make_ctx())
    rows = _rows(out)
    # 128 → 64 at rank 48 would need 48·192 = 9,216 weights, more than 8,192
    assert rows["3"]["skipped"].startswith("no saving") and rows["3"]["params_after"] == rows["3"]["params_before"]
    assert type(out.model.module[3]) is nn.Linear
    assert rows["1"]["skipped"] is None  # 768 → 128 at rank 96 still saves


def test_the_classifier_is_kept_unless_asked(make_ctx):
    out = LowRankSVD(rank_ratio=0.25).apply(loaded(mlp()), make_ctx())
    assert "classifier" in _rows(out)["5"]["skipped"] and type(out.model.module[5]) is nn.Linear
    out = LowRankSVD(rank_ratio=0.25, include_classifier=True).apply(loaded(mlp()), make_ctx())
    assert _rows(out)["5"]["skipped"] is None and isinstance(out.model.module[5], nn.Sequential)


def test_ignore_layers_takes_layers_or_blocks_and_names_unknown_ones(make_ctx):
    net = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(768, 128), nn.ReLU(), nn.Linear(128, 128)), nn.Linear(128, 4))
    out = LowRankSVD(ignore_layers=("1",)).apply(loaded(copy.deepcopy(net)), make_ctx())
    assert {r["layer"]: r["skipped"] for r in out.layers} == {"1.0": "in ignore_layers", "1.2": "in ignore_layers", "2": out.layers[2]["skipped"]}
    assert out.extra["factored_layers"] == 0 and "no Linear layer was factored" in out.notes[0]
    with pytest.raises(TechniqueError) as err:
        LowRankSVD(ignore_layers=("1.3",)).apply(loaded(copy.deepcopy(net)), make_ctx())
    assert "'1.3'" in str(err.value) and "1.2" in str(err.value)


def test_attention_projections_and_bad_values_are_refused_or_left_alone(make_ctx):
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(48, 64)
            self.attn = nn.MultiheadAttention(64, 4, batch_first=True)
            self.head = nn.Linear(64, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            t = self.embed(x.reshape(x.shape[0], 16, 48))
            return self.head(self.attn(t, t, t, need_weights=False)[0].mean(1))

    torch.manual_seed(0)
    out = LowRankSVD(rank_ratio=0.25).apply(loaded(Tokens()), make_ctx())
    assert "attn.out_proj" not in _rows(out)  # MultiheadAttention reads its weights directly
    assert isinstance(out.model.module.embed, nn.Sequential)
    with pytest.raises(TechniqueError, match="rank_ratio"):
        LowRankSVD(rank_ratio=0.0).apply(loaded(mlp()), make_ctx())
    with pytest.raises(TechniqueError, match="no Linear layers"):
        LowRankSVD().apply(loaded(nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())), make_ctx())


def test_factored_model_exports_to_onnx_and_round_trips_as_pt2(make_ctx, tmp_path):
    model = LowRankSVD(rank_ratio=0.25).apply(loaded(mlp()), make_ctx()).model
    x = torch.randn(3, *SHAPE)
    expected = model.predict(x)
    onnx = OnnxModel(export_onnx(model.module, SHAPE, tmp_path / "svd.onnx"))
    torch.testing.assert_close(torch.as_tensor(onnx(x)), expected, rtol=1e-4, atol=1e-4)
    back = load_model(str(save_pt2(model.module, SHAPE, tmp_path / "svd.pt2")))
    torch.testing.assert_close(back.predict(x), expected, rtol=0, atol=0)
    with pytest.raises(TechniqueError, match="compiled program"):
        LowRankSVD().apply(back, make_ctx())
