"""Shared test set-up: Qt offscreen, one thread for torch so tests don't fight."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# idle OpenMP threads sleep: busy-waiting torch threads crawl on a loaded 2-core machine
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Keep the suite's caches (batch-freed ONNX copies) and crash logs out of the user's home folder.
import tempfile  # noqa: E402

_SCRATCH = tempfile.mkdtemp(prefix="edgeslim-tests-")
os.environ.setdefault("EDGESLIM_CACHE_DIR", os.path.join(_SCRATCH, "cache"))


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _untimed_fallback(request, monkeypatch):
    """``max_drop``'s candidates are timed against all-int8 (``core.quant.fallback.slowdown``); on a busy 2-core
    machine a real timing makes which layers stay fp32 vary from run to run. Tests see every candidate at all-int8's
    speed unless marked ``real_timing``; the time budget itself is tested with explicit fake timings."""
    if "real_timing" in request.keywords:
        return
    from core.quant import fallback

    monkeypatch.setattr(fallback, "slowdown", lambda path, plain_path, shape, ctx, repeats=0: 1.0)
