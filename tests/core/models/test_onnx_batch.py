"""ONNX files and .pt2 programs with a fixed batch run at any batch (issue 14, items 1 and 2).

Made dynamic where a checked rewrite allows it, else run in chunks of the
file's batch; the model's notes say which.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from torch import nn

from core.models import load_model
from core.models.demo_net import DemoNetConfig, DemoResNet
from core.models.onnx_batch import cache_dir, run_in_chunks, with_dynamic_batch
from core.models.onnx_model import OnnxModel

from .conftest import tiny_seq


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch) -> Path:
    """Dynamic copies go to a folder of the test's own, not the user's cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("EDGESLIM_CACHE_DIR", str(folder))
    return folder


class TokenNet(nn.Module):
    """A class token concatenated to the features: a static export bakes its batch into the Concat."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 4, stride=4)
        self.token = nn.Parameter(torch.randn(1, 1, 8))
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.conv(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.token.expand(x.shape[0], -1, -1), f], 1)
        return self.fc(t.mean(1) + t[:, 0])


def small_demo() -> DemoResNet:
    torch.manual_seed(2)
    return DemoResNet(DemoNetConfig(num_classes=10, width=8, blocks=(1, 1, 1))).eval()


def export_fixed(module: nn.Module, path: Path, dynamo: bool, shape=(3, 32, 32), batch: int = 1) -> Path:
    """What a user gets from torch.onnx.export without dynamic_axes: a fixed batch."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(batch, *shape),), str(path), dynamo=dynamo)
    return path


def input_batch_dim(path: Path):
    dim = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim[0]
    return dim.dim_value if dim.HasField("dim_value") else dim.dim_param


def assert_same(model, source: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        torch.testing.assert_close(model.predict(x), source(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript-exporter", "dynamo-exporter"])
def test_batch1_onnx_is_made_dynamic_and_runs_any_batch(tmp_path, dynamo):
    source = small_demo()
    path = export_fixed(source, tmp_path / "net.onnx", dynamo)
    assert input_batch_dim(path) == 1
    model = load_model(str(path))
    assert "fixed batch 1 in the file; made dynamic (checked against 1 image at a time)" in model.notes
    assert model.file_path == path and model.name == "net"  # the user's file is what the user sees
    assert model.runnable.fixed_batch is None and input_batch_dim(model.runnable.path) == "batch"
    assert input_batch_dim(path) == 1  # the user's file is left alone
    assert_same(model, source, torch.randn(7, 3, 32, 32))


def test_the_dynamic_copy_is_cached_by_content(tmp_path, own_cache):
    path = export_fixed(tiny_seq(), tmp_path / "seq.onnx", False, shape=(3, 8, 8))
    first = load_model(str(path)).runnable.path
    assert first.parent == own_cache / "onnx-batch" and first.name.startswith("seq-")
    assert load_model(str(path)).runnable.path == first  # the same file: the copy is reused
    export_fixed(tiny_seq(num_classes=3), path, False, shape=(3, 8, 8))  # the file changes: a new copy
    again = load_model(str(path))
    assert again.runnable.path != first and again.num_classes == 3


def test_a_graph_that_fixes_its_batch_runs_in_chunks(tmp_path):
    source = TokenNet().eval()
    path = export_fixed(source, tmp_path / "token.onnx", False)
    model = load_model(str(path))
    note = next(n for n in model.notes if "fixed batch" in n)
    assert note.startswith("fixed batch 1 in the file; runs in chunks of 1 (the graph does not run at batch 3: its Concat node")
    assert model.runnable.path == path and model.runnable.fixed_batch == 1
    assert_same(model, source, torch.randn(5, 3, 32, 32))


def test_an_unwritable_cache_falls_back_to_chunks(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("EDGESLIM_CACHE_DIR", str(blocker))
    source = tiny_seq()
    model = load_model(str(export_fixed(source, tmp_path / "seq.onnx", False, shape=(3, 8, 8))))
    assert any(n.startswith("fixed batch 1 in the file; runs in chunks of 1 (the dynamic copy cannot be written") for n in model.notes)
    assert_same(model, source, torch.randn(3, 3, 8, 8))


def test_reshape_to_the_fixed_batch_becomes_minus_one(tmp_path):
    path = export_fixed(small_demo(), tmp_path / "net.onnx", True)
    proto = onnx.load(str(path))
    before = [n for n in proto.graph.node if n.op_type == "Reshape"]
    assert before, "the dynamo exporter writes flatten as a Reshape to a constant shape"
    out = with_dynamic_batch(proto, 1)
    inits = {i.name: numpy_helper.to_array(i) for i in out.graph.initializer}
    shapes = [inits[n.input[1]].tolist() for n in out.graph.node if n.op_type == "Reshape"]
    assert shapes == [[-1, 32]]  # (1, 32) features of the 8-wide demo net
    used = {name for n in out.graph.node for name in n.input}
    assert set(inits) <= used  # no orphaned constant left for ONNX Runtime to warn about
    assert len(out.graph.value_info) == 0  # cached shapes of batch 1 are gone


def test_a_fixed_batch_of_two_pads_the_last_chunk(tmp_path):
    source = tiny_seq()
    path = export_fixed(source, tmp_path / "two.onnx", False, shape=(3, 8, 8), batch=2)
    onnx_model = OnnxModel(path)
    assert onnx_model.fixed_batch == 2
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(onnx_model(x), source(x), atol=1e-4, rtol=1e-4)
    seen: list[int] = []
    out = run_in_chunks(lambda c: (seen.append(len(c)), [c[:, :1, 0, 0]])[1], x.numpy(), 2)
    assert seen == [2, 2, 2] and np.array_equal(out[0], x.numpy()[:, :1, 0, 0])


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGESLIM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "EdgeSlim"


@pytest.mark.parametrize("batch", [1, 2])
def test_static_pt2_exports_to_a_dynamic_onnx(tmp_path, batch):
    from core.models.onnx_export import export_onnx

    source = small_demo()
    torch.export.save(torch.export.export(source, (torch.randn(batch, 3, 32, 32),)), tmp_path / "net.pt2")
    model = load_model(str(tmp_path / "net.pt2"))
    path = export_onnx(model.module, (3, 32, 32), tmp_path / "net.onnx")
    assert input_batch_dim(path) == "batch"
    onnx_model = OnnxModel(path)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(onnx_model(x), source(x), atol=1e-4, rtol=1e-4)
