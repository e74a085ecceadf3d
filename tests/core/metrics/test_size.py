from __future__ import annotations

import io

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from core.metrics import onnx_param_counts, param_counts, serialized_size
from core.metrics.size import state_dict_size
from core.models.onnx_model import OnnxModel

from .conftest import linear_onnx, make_loaded


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def test_param_counts_total_and_nonzero():
    layer = nn.Linear(4, 3)  # 12 weights + 3 biases
    with torch.no_grad():
        layer.weight[0].zero_()
        layer.bias.zero_()
    counts = param_counts(layer)
    assert counts.total == 15
    assert counts.nonzero == 15 - 4 - 3
    assert counts.sparsity == pytest.approx(7 / 15)


def test_shared_parameters_counted_once():
    layer = nn.Linear(4, 4)
    shared = nn.Sequential(layer, layer)
    assert param_counts(shared).total == 20


def test_prune_masks_are_folded_not_double_counted():
    layer = nn.Linear(10, 10)  # 100 weights + 10 biases
    prune.l1_unstructured(layer, "weight", amount=0.5)
    counts = param_counts(layer)
    assert counts.total == 110
    assert counts.nonzero == 50 + 10


def test_zeroing_weights_shrinks_zip_not_raw_size():
    dense = _mlp()
    sparse = _mlp()
    with torch.no_grad():
        for p in sparse.parameters():
            p[torch.rand(p.shape, generator=torch.Generator().manual_seed(1)) < 0.9] = 0.0
    d = serialized_size(make_loaded(dense, (64,)))
    s = serialized_size(make_loaded(sparse, (64,)))
    buf = io.BytesIO()
    torch.save(dense.state_dict(), buf)
    assert d.kind == "onnx" and d.bytes != len(buf.getvalue())  # the deployable file, not the state_dict
    assert state_dict_size(dense).bytes == len(buf.getvalue())
    no_shape = serialized_size(make_loaded(dense, None))  # no ONNX file can be made: the state_dict stands in
    assert no_shape.kind == "state_dict" and no_shape.bytes == len(buf.getvalue())
    assert s.bytes == pytest.approx(d.bytes, rel=0.01)
    assert d.zip_bytes > 0.8 * d.bytes  # random float32 barely compresses
    assert s.zip_bytes < 0.35 * d.zip_bytes


def test_pruned_model_saves_like_a_plain_one():
    plain = _mlp()
    pruned = _mlp()
    for m in pruned.modules():
        if isinstance(m, nn.Linear):
            prune.l1_unstructured(m, "weight", amount=0.9)
    p = serialized_size(make_loaded(plain, (64,)))
    q = serialized_size(make_loaded(pruned, (64,)))
    assert q.bytes == pytest.approx(p.bytes, rel=0.02)  # no weight_orig + weight_mask pair
    assert q.zip_bytes < 0.5 * p.zip_bytes


def test_onnx_size_is_the_file_and_params_the_initializers(tmp_path):
    path = linear_onnx(tmp_path / "lin.onnx", shape=(3, 4, 4), num_classes=5)
    info = serialized_size(make_loaded(OnnxModel(path), (3, 4, 4), num_classes=5))
    assert info.bytes == path.stat().st_size
    assert 0 < info.zip_bytes < info.bytes  # half the weights are zero
    counts = onnx_param_counts(path)
    assert counts.total == 48 * 5
    assert counts.nonzero == 24 * 5
