"""The demo dataset: scikit-learn's handwritten digits as 3×32×32 images.

1,797 real 8×8 scans (UCI optdigits) ship inside scikit-learn, so the demo
works offline. They are upsampled to 32×32 (bilinear) and repeated on three
channels so that the same networks that take CIFAR-sized RGB input run on them.
The split is fixed and stratified: 539 validation images (30 % of each class,
so one image is 0.19 accuracy points), 179 calibration images and 1,079
training images. The shipped demo model was trained on exactly this split
(seed 0): changing it would leak validation images into its training set.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from core.data.bundle import DatasetBundle
from core.data.presets import DEMO_MEAN as MEAN
from core.data.presets import DEMO_STD as STD
from core.data.presets import PRESETS
from core.data.split import stratified_split

__all__ = ["load_demo", "stratified_split", "IndexedTensorDataset", "MEAN", "STD", "PREPROCESSING"]

VAL_FRACTION = 0.30
CALIB_FRACTION = 0.10
SIZE = 32
PREPROCESSING = PRESETS["demo"]


class IndexedTensorDataset(TensorDataset):
    """A TensorDataset that remembers which rows of the full set it holds (to prove splits disjoint)."""

    def __init__(self, indices: np.ndarray, *tensors: torch.Tensor) -> None:
        super().__init__(*tensors)
        self.indices = indices


@lru_cache(maxsize=1)
def _images() -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as (N, 1, 32, 32) floats in [0, 1] and their labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False).clamp_(0, 1)
    return x, torch.tensor(digits.target, dtype=torch.int64)


@lru_cache(maxsize=4)
def _load_demo(seed: int) -> DatasetBundle:
    x, y = _images()
    x3 = ((x - MEAN) / STD).expand(-1, 3, -1, -1).contiguous()
    val, calib, train = stratified_split(y.numpy(), (VAL_FRACTION, CALIB_FRACTION), seed)

    def part(idx: np.ndarray) -> IndexedTensorDataset:
        t = torch.from_numpy(idx)
        return IndexedTensorDataset(idx, x3[t], y[t])

    return DatasetBundle(
        spec="demo",
        name="demo digits",
        class_names=[str(i) for i in range(10)],
        input_shape=(3, SIZE, SIZE),
        train=part(train),
        val=part(val),
        calib=part(calib),
        preprocessing=PREPROCESSING,
        notes=[],
    )


def load_demo(seed: int = 0) -> DatasetBundle:
    """The demo bundle; tensors are built once per process and shared, the bundle object is fresh."""
    cached = _load_demo(seed)
    return replace(cached, class_names=list(cached.class_names), notes=list(cached.notes))
