"""save_pt2: a pruned network (which no longer fits its architecture) saves as a program and loads back identically."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from core.errors import EdgeSlimError
from core.models import load_model
from core.models.exported import ProgramModule
from core.models.program_io import save_pt2
from core.techniques.prune_structured import PruneStructured
from tests.core.techniques.prune_helpers import DEMO_SHAPE, demo, make_ctx, random_bundle, wrap


def _round_trip(module: nn.Module, shape, path: Path):
    out = save_pt2(module, shape, path)
    assert out == path and path.is_file()
    return load_model(str(path))


def test_pruned_demo_reloads_with_identical_logits_at_any_batch(tmp_path, capsys):
    pruned = PruneStructured(ratio=0.5).apply(demo(), make_ctx(tmp_path)).model
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the exporter's chatter must not reach the caller
        loaded = _round_trip(pruned.module, DEMO_SHAPE, tmp_path / "pruned.pt2")
    assert capsys.readouterr() == ("", "")
    assert loaded.source_format == "pt2" and loaded.input_shape == DEMO_SHAPE and loaded.num_classes == 10
    assert isinstance(loaded.module, ProgramModule) and loaded.module.batch is None  # dynamic batch: no chunking
    assert not any("fixed batch" in n for n in loaded.notes)
    for n in (1, 2, 7):
        x = torch.randn(n, *DEMO_SHAPE)
        torch.testing.assert_close(loaded.predict(x), pruned.predict(x), rtol=0, atol=0)
    assert not list(tmp_path.glob(".*.tmp"))


def test_pruned_resnet18_reloads_with_identical_logits(tmp_path):
    from core.models import torchvision_zoo as zoo

    shape = (3, 64, 64)
    torch.manual_seed(0)
    model = wrap(zoo.build("resnet18", 10), shape, name="resnet18")
    pruned = PruneStructured(ratio=0.5).apply(model, make_ctx(tmp_path, data=random_bundle(8, shape))).model
    loaded = _round_trip(pruned.module, shape, tmp_path / "resnet18.pt2")
    assert loaded.input_shape == shape and loaded.num_classes == 10
    x = torch.randn(3, *shape)
    torch.testing.assert_close(loaded.predict(x), pruned.predict(x), rtol=0, atol=0)


def test_overwrites_an_existing_file_and_keeps_the_caller_mode(tmp_path):
    net = demo().module.train()
    path = tmp_path / "sub" / "model.pt2"
    path.parent.mkdir()
    path.write_bytes(b"old")
    save_pt2(net, DEMO_SHAPE, path)
    assert net.training
    assert load_model(str(path)).num_classes == 10
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt2"]


def test_a_saved_program_can_be_saved_again(tmp_path):
    first = _round_trip(demo().module, DEMO_SHAPE, tmp_path / "a.pt2")
    second = _round_trip(first.module, DEMO_SHAPE, tmp_path / "b.pt2")
    x = torch.randn(3, *DEMO_SHAPE)
    torch.testing.assert_close(second.predict(x), first.predict(x))


class _DataDependent(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # branches on values: not exportable as one graph
            return x.flatten(1)[:, :4]
        return -x.flatten(1)[:, :4]


def test_unexportable_module_is_an_edgeslim_error(tmp_path):
    with pytest.raises(EdgeSlimError) as err:
        save_pt2(_DataDependent(), (3, 4, 4), tmp_path / "x.pt2")
    assert "torch.export" in str(err.value) and err.value.fix
    assert not list(tmp_path.iterdir())


def test_unwritable_destination_is_an_edgeslim_error(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()  # a folder where the file should go
    with pytest.raises(EdgeSlimError, match="could not write"):
        save_pt2(demo().module, DEMO_SHAPE, target)
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]
