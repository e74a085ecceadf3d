"""Per-class accuracy before and after: counts that add up to the overall accuracy, and exactly the images that changed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from core.app.sources import DataSource, ModelSource
from core.metrics.accuracy import evaluate_split
from core.metrics.per_class import compare_per_class, confusion


@pytest.fixture(scope="module")
def demo():
    model = ModelSource("demo").load()
    return model, DataSource("demo").load(model)


class SwapZeroOne(nn.Module):
    """The demo model with the logits of classes 0 and 1 exchanged: every 0 becomes a 1 and back."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        return out[:, [1, 0, *range(2, out.shape[1])]]


def test_per_class_counts_add_up_to_the_overall_accuracy(demo):
    model, data = demo
    result = compare_per_class(model, model, data)
    overall = evaluate_split(model, data)
    rows = result.rows
    assert [r.name for r in rows] == list(data.class_names)
    assert sum(r.count for r in rows) == result.n == overall.n == len(data.val)
    assert sum(r.correct_before for r in rows) / result.n == pytest.approx(overall.top1)
    assert result.top1_before == result.top1_after == overall.top1
    # each class's count is its number of validation images
    labels = np.array([int(data.val[i][1]) for i in range(len(data.val))])
    assert [r.count for r in rows] == np.bincount(labels, minlength=len(rows)).tolist()


def test_a_model_compared_with_itself_changes_nothing(demo):
    model, data = demo
    result = compare_per_class(model, model, data)
    assert result.changed == [] and result.thumbnails == {}
    assert np.array_equal(result.confusion_before, result.confusion_after)
    assert all(r.delta == 0.0 for r in result.rows)


def test_the_changed_images_are_exactly_those_whose_prediction_moved(demo):
    model, data = demo
    swapped = dataclasses.replace(model, runnable=SwapZeroOne(model.module).eval())
    result = compare_per_class(model, swapped, data, thumbnails=5)
    before, after = result.confusion_before, result.confusion_after
    assert np.array_equal(after[:, [1, 0, *range(2, after.shape[1])]], before)  # predicted columns 0 and 1 exchanged
    moved = before[:, 0].sum() + before[:, 1].sum()
    assert len(result.changed) == moved > 0
    assert all({c.before, c.after} == {0, 1} for c in result.changed)
    by_class = {r.index: r for r in result.rows}
    assert by_class[0].correct_after == before[0, 1] and by_class[5].delta == 0.0
    assert result.rows_by_delta()[0].delta == min(r.delta for r in result.rows)  # most lost first
    assert list(result.thumbnails) == [c.index for c in result.changed[:5]]
    picture = next(iter(result.thumbnails.values()))
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3
    report = result.to_dict()
    assert report["n"] == result.n and len(report["changed"]) == len(result.changed)


def test_confusion_counts_pairs():
    m = confusion(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 0]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
