"""The per-class comparison service: a stored run's baseline against its final model, class by class.

``edgeslim-cli runs classes ID`` prints what this returns and the window's
classes dialog draws it. The baseline is loaded from the sources the run was
made from (trust asked for again, never stored); the final model is the run's
own file, loaded as ``evaluate`` loads it, on the run's data as the run read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from core.app.events import Emit, EventReporter
from core.errors import EdgeSlimError
from core.jobs import CancelToken, sub_progress


@dataclass(frozen=True)
class CompareClassesRequest:
    """Run ``run_id`` of the workspace at ``workspace``; ``trust`` lets a full-pickle baseline load."""

    run_id: int
    workspace: Union[str, Path]
    trust: bool = False
    thumbnails: int = 48


def final_model_path(row) -> Path:
    """The run's final model file (its PyTorch program when kept, else its ONNX file); refused when absent."""
    files = {k: Path(v) for k, v in (row.artifacts or {}).items() if k in ("pt2", "onnx") and isinstance(v, str)}
    if row.status != "done":
        raise EdgeSlimError(f"run {row.id} is {row.status}, so it has no final model to compare",
                            "pick a finished run, or resume this one first")
    present = [p for p in (files.get("pt2"), files.get("onnx")) if p is not None and p.is_file()]
    if not present:
        missing = ", ".join(str(p) for p in files.values()) or "none recorded"
        raise EdgeSlimError(f"run {row.id}'s model files are missing ({missing})",
                            f"make them again with `edgeslim-cli runs resume {row.id}`")
    return present[0]


def compare_classes(request: CompareClassesRequest, emit: Emit, cancel: Optional[CancelToken] = None):
    """A :class:`core.metrics.per_class.PerClassComparison` of the run's baseline and its final model."""
    from core.app.execute import load_sources
    from core.app.sources import sources_from_stored
    from core.metrics.accuracy import load_for_evaluation
    from core.metrics.per_class import compare_per_class
    from core.store.read_only import is_writable
    from core.store.workspace import DB_NAME, Workspace

    progress = EventReporter(emit)
    path = Path(request.workspace)
    if not (path / DB_NAME).is_file():
        raise EdgeSlimError(f"{path} is not an EdgeSlim workspace (no {DB_NAME})", "name the workspace the run is stored in")
    with Workspace(path, check_interrupted=False, read_only=not is_writable(path, path / DB_NAME)) as ws:
        row = ws.get_run(request.run_id)
    final_path = final_model_path(row)
    progress(0.0, "loading the baseline")
    model_source, data_source = sources_from_stored(row.model_spec, row.data_spec, row.load_options, trust=request.trust)
    baseline, data = load_sources(model_source, data_source)
    progress(0.1, "loading the compressed model")
    compressed = load_for_evaluation(final_path)
    progress(0.15, "evaluating both models")
    return compare_per_class(baseline, compressed, data, thumbnails=request.thumbnails,
                             progress=sub_progress(progress, 0.15, 1.0), cancel=cancel)
