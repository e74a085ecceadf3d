"""prune.unstructured: real zeros at the target sparsity, no masks left, zeros kept through fine-tuning."""

from __future__ import annotations

import copy

import pytest
import torch

from core.metrics import param_counts
from core.techniques import TechniqueError
from core.techniques.finetune import Finetune
from core.techniques.prune_unstructured import PruneUnstructured, frozen_sparsity, prunable_layers
from tests.core.small_models import loaded


def _layer_sparsity(module) -> dict[str, float]:
    return {n: 1 - int(torch.count_nonzero(m.weight)) / m.weight.numel() for n, m in prunable_layers(module).items()}


def test_global_pruning_reaches_the_target_and_leaves_no_masks(trained_net, make_ctx):
    model = loaded(copy.deepcopy(trained_net))
    out = PruneUnstructured(sparsity=0.7).apply(model, make_ctx())
    module = out.model.module
    names = [n for n, _ in module.named_parameters()] + [n for n, _ in module.named_buffers()]
    assert not any(n.endswith(("_orig", "_mask")) for n in names)  # permanent: exports like any model
    sp = _layer_sparsity(module)
    assert sp["fc"] == 0.0  # the classifier is left dense by default
    pruned = [m.weight for n, m in prunable_layers(module).items() if n != "fc"]
    zeros = sum(int((w == 0).sum()) for w in pruned)
    assert zeros / sum(w.numel() for w in pruned) == pytest.approx(0.7, abs=0.01)
    assert out.extra["sparsity"] > 0.6
    assert any("zipped" in n for n in out.notes)  # honest: no speed-up from dense kernels
    assert {r["layer"] for r in out.layers} == set(sp)


def test_per_layer_scope_prunes_every_layer_equally_and_respects_ignores(trained_net, make_ctx):
    model = loaded(copy.deepcopy(trained_net))
    out = PruneUnstructured(sparsity=0.5, scope="per_layer", ignore_layers=("conv1",)).apply(model, make_ctx())
    sp = _layer_sparsity(out.model.module)
    assert sp["conv1"] == 0.0
    for name, s in sp.items():
        if name not in ("conv1", "fc"):
            assert s == pytest.approx(0.5, abs=0.01), name


def test_unknown_layer_name_is_named_with_close_matches(trained_net, make_ctx):
    with pytest.raises(TechniqueError) as err:
        PruneUnstructured(ignore_layers=("conv_1",)).apply(loaded(copy.deepcopy(trained_net)), make_ctx())
    assert "conv_1" in str(err.value) and "conv1" in str(err.value)


def test_finetune_keeps_pruned_weights_at_zero(trained_net, make_ctx):
    model = loaded(copy.deepcopy(trained_net))
    pruned = PruneUnstructured(sparsity=0.6).apply(model, make_ctx()).model
    before = param_counts(pruned.module).nonzero
    out = Finetune(epochs=1, lr=0.05, augment=False, batch_size=16).apply(pruned, make_ctx())
    after = param_counts(out.model.module)
    assert after.nonzero <= before  # nothing grew back
    assert out.extra["sparse_layers_kept"]


def test_frozen_sparsity_restores_plain_weights(trained_net):
    net = copy.deepcopy(trained_net)
    with torch.no_grad():
        net.conv1.weight[0] = 0
    with frozen_sparsity(net, min_sparsity=0.05) as masked:
        assert "conv1" in masked and hasattr(net.conv1, "weight_orig")
    assert not hasattr(net.conv1, "weight_orig") and isinstance(net.conv1.weight, torch.nn.Parameter)
