"""The demo dataset: scikit-learn's handwritten digits as 3×32×32 images.

1,797 real 8×8 scans (UCI optdigits) ship inside scikit-learn, so the demo
works offline. They are upsampled to 32×32 (bilinear) and repeated on three
channels so that the same networks that take CIFAR-sized RGB input run on them.
The split is fixed and stratified: 539 validation images (30 % of each class,
so one image is 0.19 accuracy points), 179 calibration images and 1,079
training images.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from core.data.bundle import DatasetBundle, Preprocessing

VAL_FRACTION = 0.30
CALIB_FRACTION = 0.10
SIZE = 32
# Per-channel mean/std of the upsampled digits in [0, 1] (computed once over all 1,797 images).
MEAN = 0.3053
STD = 0.3236
PREPROCESSING = Preprocessing("demo", resize=SIZE, mean=(MEAN,) * 3, std=(STD,) * 3)


def stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Indices per part, each class divided in the given fractions (the rest goes last)."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        start = 0
        for p, frac in enumerate(fractions):
            n = int(round(frac * len(idx)))
            parts[p].extend(idx[start:start + n].tolist())
            start += n
        parts[-1].extend(idx[start:].tolist())
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


@lru_cache(maxsize=1)
def _images() -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as (N, 1, 32, 32) floats in [0, 1] and their labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False).clamp_(0, 1)
    return x, torch.tensor(digits.target, dtype=torch.int64)


@lru_cache(maxsize=4)
def load_demo(seed: int = 0) -> DatasetBundle:
    x, y = _images()
    x3 = ((x - MEAN) / STD).expand(-1, 3, -1, -1).contiguous()
    val, calib, train = stratified_split(y.numpy(), (VAL_FRACTION, CALIB_FRACTION), seed)

    def part(idx: np.ndarray) -> TensorDataset:
        t = torch.from_numpy(idx)
        return TensorDataset(x3[t], y[t])

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
