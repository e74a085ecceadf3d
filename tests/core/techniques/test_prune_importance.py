"""prune.structured's newer criteria (FPGM, LAMP, Hessian) and gradual pruning with fine-tuning between rounds."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.techniques.prune_importance import IMPORTANCES, HessianImportance, make_importance
from core.techniques.prune_structured import PruneStructured
from tests.core.techniques.prune_helpers import demo, make_ctx


def _kept(outcome) -> dict[str, int]:
    return {r["layer"]: r["out_channels"] for r in outcome.layers}


@pytest.fixture(scope="module")
def demo_data():
    from core.data import load_dataset

    return load_dataset("demo", seed=0)


@pytest.mark.parametrize("importance", ["fpgm", "lamp", "hessian"])
def test_fpgm_lamp_and_hessian_prune_the_demo(tmp_path, demo_data, importance):
    model = demo()
    scope = "global" if importance == "lamp" else "uniform"
    out = PruneStructured(ratio=0.3, importance=importance, scope=scope, taylor_batches=1).apply(model, make_ctx(tmp_path, data=demo_data))
    assert out.extra["channels_removed"] == pytest.approx(0.3, abs=0.08)
    assert out.extra["macs_after"] < out.extra["macs_before"]
    assert importance in out.summary
    assert all(p.grad is None for p in out.model.module.parameters())
    with torch.no_grad():
        assert out.model.module(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert out.extra["pruned_layers"] > 0


def test_the_criteria_choose_different_channels(tmp_path, demo_data):
    def kept_filters(importance: str) -> torch.Tensor:
        model = demo()
        original = model.module.conv1.weight.detach().clone()
        out = PruneStructured(ratio=0.3, importance=importance, taylor_batches=1).apply(model, make_ctx(tmp_path, data=demo_data))
        kept = out.model.module.conv1.weight.detach()
        return torch.tensor([next(i for i in range(len(original)) if torch.equal(original[i], k)) for k in kept])

    l2, fpgm = kept_filters("l2"), kept_filters("fpgm")
    assert len(l2) == len(fpgm) and not torch.equal(l2, fpgm)


def test_every_importance_name_has_a_torch_pruning_importance():
    import torch_pruning as tp

    assert all(isinstance(make_importance(name), tp.importance.Importance) for name in IMPORTANCES)


def test_hessian_sums_the_squared_gradient_of_every_sample():
    layer = nn.Linear(2, 1, bias=False)
    imp = HessianImportance()
    for grad in ([1.0, 2.0], [3.0, 4.0]):
        layer.weight.grad = torch.tensor([grad])
        imp.accumulate_grad(layer)
    assert torch.equal(imp._accu_grad[layer.weight], torch.tensor([[10.0, 20.0]]))
    assert imp._counter[layer.weight] == 2


def test_iterative_pruning_fine_tunes_between_its_rounds(tmp_path, demo_data):
    messages: list[str] = []
    small = torch.utils.data.Subset(demo_data.train, range(128))
    data = type(demo_data)(**{**demo_data.__dict__, "train": small, "val": torch.utils.data.Subset(demo_data.val, range(64))})
    cfg = PruneStructured(ratio=0.4, iterative_steps=3, finetune_epochs=1, finetune_lr=0.01)
    out = cfg.apply(demo(), make_ctx(tmp_path, data=data, progress=lambda f, m: messages.append(m)))
    steps = [m for m in messages if m.startswith("pruning step")]
    assert steps == ["pruning step 1/3", "pruning step 2/3", "pruning step 3/3"]
    between = [m for m in messages if m.startswith("fine-tuning between rounds") and "validation accuracy" in m]
    assert len(between) == 2  # after rounds 1 and 2, not after the last (the recipe's finetune follows)
    assert "3 steps with 1 epoch(s) of fine-tuning between them" in out.summary
    assert out.extra["channels_removed"] == pytest.approx(0.4, abs=0.05)
    assert all(p.device.type == "cpu" for p in out.model.module.parameters())
