from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from core.errors import DataError
from core.jobs import CancelToken, Cancelled
from core.metrics import AccuracyResult, agreement, evaluate_accuracy

from .conftest import make_loaded


class TableModel(nn.Module):
    """Returns a fixed row of scores per sample; the sample's index is its first pixel."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.table[x[:, 0, 0, 0].long()]


def _scored_case(num_classes: int = 10):
    """8 samples whose labels sit at rank 1 (3 samples), rank 3 (2) and rank 8 (3) of the scores."""
    n = 8
    gen = torch.Generator().manual_seed(0)
    table = torch.stack([torch.randperm(num_classes, generator=gen).float() for _ in range(n)])
    order = table.argsort(dim=1, descending=True)  # order[i, r] = class at rank r+1
    ranks = [0, 0, 0, 2, 2, 7, 7, 7]
    labels = torch.tensor([int(order[i, r]) for i, r in enumerate(ranks)])
    x = torch.zeros(n, 3, 2, 2)
    x[:, 0, 0, 0] = torch.arange(n).float()
    return TableModel(table), x, labels, order[:, 0].numpy()


def test_topk_exact_on_controlled_predictions():
    module, x, labels, top1 = _scored_case()
    loader = DataLoader(TensorDataset(x, labels), batch_size=3)  # 3 batches, the last one partial
    result = evaluate_accuracy(make_loaded(module, (3, 2, 2)), loader)
    assert isinstance(result, AccuracyResult)
    assert result.n == 8
    assert result.top1 == pytest.approx(3 / 8)
    assert result.top5 == pytest.approx(5 / 8)
    np.testing.assert_array_equal(result.predictions, top1)
    assert module.calls == 3


def test_top5_is_none_with_fewer_than_five_classes():
    table = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    x = torch.zeros(2, 3, 2, 2)
    x[1, 0, 0, 0] = 1.0
    loader = DataLoader(TensorDataset(x, torch.tensor([1, 2])), batch_size=2)
    result = evaluate_accuracy(make_loaded(TableModel(table), (3, 2, 2), num_classes=3), loader)
    assert result.top1 == pytest.approx(0.5)
    assert result.top5 is None
    d = result.to_dict()
    assert d["top5"] is None and "predictions" not in d


def test_progress_per_batch_and_monotone():
    module, x, labels, _ = _scored_case()
    seen: list[float] = []
    evaluate_accuracy(
        make_loaded(module, (3, 2, 2)), DataLoader(TensorDataset(x, labels), batch_size=2), progress=lambda f, m: seen.append(f)
    )
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen)
    assert {0.25, 0.5, 0.75} <= set(seen)  # one report after each of the 4 batches


def test_cancel_stops_between_batches():
    module, x, labels, _ = _scored_case()
    token = CancelToken()

    def progress(fraction: float, message: str) -> None:
        if fraction > 0:  # after the first batch
            token.cancel()

    with pytest.raises(Cancelled):
        evaluate_accuracy(
            make_loaded(module, (3, 2, 2)), DataLoader(TensorDataset(x, labels), batch_size=2), progress=progress, cancel=token
        )
    assert module.calls == 1


def test_empty_split_is_a_data_error():
    module, *_ = _scored_case()
    empty = DataLoader(TensorDataset(torch.zeros(0, 3, 2, 2), torch.zeros(0, dtype=torch.long)), batch_size=4)
    with pytest.raises(DataError):
        evaluate_accuracy(make_loaded(module, (3, 2, 2)), empty)


def test_agreement():
    assert agreement([1, 2, 3, 4], [1, 2, 0, 4]) == pytest.approx(0.75)
    assert agreement(np.array([5, 5]), np.array([5, 5])) == 1.0
    assert agreement([0, 1], [1, 0]) == 0.0
    with pytest.raises(ValueError):
        agreement([1, 2, 3], [1, 2])
    with pytest.raises(ValueError):
        agreement([], [])


def test_onnx_model_scores_like_its_torch_source(tiny_onnx, bundle):
    from core.models.onnx_model import OnnxModel

    path, module = tiny_onnx
    loader = bundle.loader("val", batch_size=10)
    torch_result = evaluate_accuracy(make_loaded(module), loader)
    onnx_result = evaluate_accuracy(make_loaded(OnnxModel(path)), loader)
    assert onnx_result.n == torch_result.n == len(bundle.val)
    assert agreement(onnx_result.predictions, torch_result.predictions) == 1.0
    assert onnx_result.top1 == pytest.approx(torch_result.top1)
