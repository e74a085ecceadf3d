"""The core calls behind the window's "load" actions, run on worker threads.

Kept out of the widgets so they stay thin and so tests can call them directly.
"""

from __future__ import annotations

import platform
import threading
from pathlib import Path

from core.jobs import CancelToken, ProgressFn, check

PREVIEW_SAMPLES = 48
_IMPORT_LOCK = threading.Lock()


def import_engine() -> None:
    """Import torch and core's engine once, under a lock.

    The window starts before torch is imported; the first jobs then run on
    several worker threads at once, and two threads importing torch
    concurrently trip over its circular imports. One lock makes the first
    import happen on one thread while the others wait.
    """
    with _IMPORT_LOCK:
        import torch  # noqa: F401

        import core.data  # noqa: F401
        import core.metrics  # noqa: F401
        import core.models  # noqa: F401


def load_model(spec: str, trust: bool, progress: ProgressFn, cancel: CancelToken):
    """LoadedModel and its inspection for ``spec`` (torch is imported here, off the GUI thread)."""
    progress(0.02, "starting the engine (PyTorch)")
    import_engine()
    progress(0.05, f"loading {spec}")
    from core.models import inspect_model, load_model as core_load

    model = core_load(spec, trust=trust)
    check(cancel)
    progress(0.5, "counting parameters and MACs per layer")
    report = inspect_model(model) if model.input_shape else None
    progress(1.0, "model loaded")
    return model, report


def load_data(spec: str, progress: ProgressFn, cancel: CancelToken):
    """DatasetBundle, the folder report (image folders) and preview thumbnails."""
    progress(0.02, "starting the engine (PyTorch)")
    import_engine()
    progress(0.05, f"loading {spec}")
    from core.data import check_image_folder, load_dataset

    report = check_image_folder(Path(spec)) if Path(spec).is_dir() else None
    check(cancel)
    bundle = load_dataset(spec)
    check(cancel)
    progress(0.7, "making thumbnails")
    samples = bundle.preview("val", PREVIEW_SAMPLES)
    progress(1.0, "data loaded")
    return bundle, report, samples


def about_text(version: str) -> str:
    import importlib.metadata as md

    rows = [f"<b>EdgeSlim {version}</b>", "Compress computer-vision models for embedded devices.", ""]
    for dist in ("torch", "torchvision", "onnx", "onnxruntime", "PySide6", "pyqtgraph", "torch-pruning", "tensorly", "optuna"):
        try:
            rows.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            rows.append(f"{dist}: not installed")
    rows.append(f"Python {platform.python_version()}")
    return "<br>".join(rows)
