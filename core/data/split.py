"""Seeded, stratified splits shared by every dataset kind.

Splits are plain index arrays so they can be tested for disjointness and stay
the same for the same seed: a model trained on one split must never be scored
on images it saw.
"""

from __future__ import annotations

import numpy as np


def stratified_split(
    labels: np.ndarray, fractions: tuple[float, ...], seed: int, min_first: int = 0
) -> list[np.ndarray]:
    """Indices per part, each class divided in the given fractions (the rest goes last).

    ``min_first`` raises the first part (validation) to at least that many images
    of each class, where the class has more images than that, so every class can
    be scored. The random draws do not depend on ``min_first``: the demo split
    stays the one the shipped demo model was trained against.
    """
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        start = 0
        for p, frac in enumerate(fractions):
            n = int(round(frac * len(idx)))
            if p == 0 and len(idx) > min_first:
                n = max(n, min_first)
            n = min(n, len(idx) - start)
            parts[p].extend(idx[start:start + n].tolist())
            start += n
        parts[-1].extend(idx[start:].tolist())
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def hold_out(labels: np.ndarray, fraction: float, seed: int, minimum: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(held-out, rest) indices: a stratified ``fraction`` of ``labels``, at least ``minimum``.

    Used to take a calibration set out of a training set; the rest keeps at
    least one image so training is never left empty.
    """
    held, rest = stratified_split(labels, (fraction,), seed)
    if len(held) < minimum and len(labels) > minimum:
        extra = np.random.default_rng(seed).permutation(rest)[: minimum - len(held)]
        held = np.sort(np.concatenate([held, extra]))
        rest = np.setdiff1d(rest, extra)
    return held, rest
