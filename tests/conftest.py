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
