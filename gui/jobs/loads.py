"""The core calls behind the window's "load" actions, run on pool threads as :class:`InThread` work.

Each ``*_request`` returns the work for :meth:`gui.jobs.controller.JobController.start`;
the functions report typed Progress events (``stage="engine"`` while PyTorch is
being imported, which reports nothing until done). Kept out of the widgets so
they stay thin and so tests can call them directly.
"""

from __future__ import annotations

import platform
import threading
from pathlib import Path
from typing import Optional

from core.app.events import Emit, Progress
from core.app.sources import DataSource, ModelSource
from core.jobs import CancelToken, check
from gui.jobs.controller import InThread
from gui.jobs.process import ENGINE

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


def load_techniques(emit: Emit, cancel: CancelToken):
    """The technique registry (imports every technique module: torch, Torch-Pruning, ONNX Runtime, …)."""
    emit(Progress(0.02, "starting the engine (PyTorch)", ENGINE))
    import_engine()
    emit(Progress(0.5, "loading the compression techniques"))
    with _IMPORT_LOCK:
        from core.techniques import all_techniques

        techniques = all_techniques()
        import core.app.recipe_draft  # noqa: F401
        import core.app.execute  # noqa: F401
        import core.app.estimate  # noqa: F401
    emit(Progress(1.0, "compression techniques loaded"))
    return techniques


def load_model(source: ModelSource, emit: Emit, cancel: CancelToken):
    """LoadedModel and its inspection for ``source`` (torch is imported here, off the GUI thread)."""
    emit(Progress(0.02, "starting the engine (PyTorch)", ENGINE))
    import_engine()
    emit(Progress(0.05, f"loading {source.spec}"))
    from core.models import inspect_model

    model = source.load()
    check(cancel)
    emit(Progress(0.5, "counting parameters and MACs per layer"))
    report = inspect_model(model) if model.input_shape else None
    emit(Progress(1.0, "model loaded"))
    return model, report


def load_data(source: DataSource, emit: Emit, cancel: CancelToken):
    """DatasetBundle, the folder report (image folders), preview thumbnails and per-split class counts.

    The source's ``image_size`` (the Data page's Image size) applies to image folders only; other kinds keep theirs.

    A folder that cannot be used raises its DataError with the folder report
    attached (``exc.report``), so the page can list what is wrong.
    """
    spec = source.spec
    emit(Progress(0.02, "starting the engine (PyTorch)", ENGINE))
    import_engine()
    emit(Progress(0.05, f"loading {spec}"))
    from core.data import check_image_folder, load_dataset, parse_spec
    from core.errors import DataError

    report = check_image_folder(Path(spec)) if Path(spec).is_dir() else None
    check(cancel)
    try:
        folder = parse_spec(spec).kind == "imagefolder"
        bundle = load_dataset(spec, preset=source.preset, image_size=source.image_size if folder else None)
    except DataError as exc:
        exc.report = report  # type: ignore[attr-defined]
        raise
    check(cancel)
    emit(Progress(0.7, "making thumbnails"))
    samples = bundle.preview("val", PREVIEW_SAMPLES)
    counts = class_counts(bundle)
    emit(Progress(1.0, "data loaded"))
    return bundle, report, samples, counts


def _labels(ds) -> Optional[list[int]]:
    """A split's labels without decoding its images, where the dataset type allows it."""
    from torch.utils.data import Subset, TensorDataset

    if isinstance(ds, Subset):
        base = _labels(ds.dataset)
        return None if base is None else [base[i] for i in ds.indices]
    if isinstance(ds, TensorDataset) and len(ds.tensors) >= 2:
        return [int(v) for v in ds.tensors[1].tolist()]
    samples = getattr(ds, "samples", None)
    if isinstance(samples, list) and samples and isinstance(samples[0], tuple):
        return [int(c) for _, c in samples]
    targets = getattr(ds, "targets", None)
    if targets is not None:
        return [int(v) for v in (targets.tolist() if hasattr(targets, "tolist") else targets)]
    return None


def class_counts(bundle) -> dict[str, list[int]]:
    """Class name -> [train, validation, calibration] image counts (empty when the labels can't be read cheaply)."""
    out: dict[str, list[int]] = {name: [0, 0, 0] for name in bundle.class_names}
    for col, split in enumerate(("train", "val", "calib")):
        labels = _labels(bundle.split(split))
        if labels is None:
            return {}
        for label in labels:
            if 0 <= label < len(bundle.class_names):
                out[bundle.class_names[label]][col] += 1
    return out


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


def techniques_request() -> InThread:
    return InThread(load_techniques)


def model_request(source: ModelSource) -> InThread:
    return InThread(lambda emit, cancel: load_model(source, emit, cancel))


def data_request(source: DataSource) -> InThread:
    return InThread(lambda emit, cancel: load_data(source, emit, cancel))
