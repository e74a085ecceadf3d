"""The Export page's rules, without Qt: what is exported, the requests for the worker, and why Export waits.

The view (:mod:`gui.panels.export_page`) reads its widgets into these
functions and draws what they return; the folder rules themselves are core's
(:mod:`core.app.export`), and so are the board figures shown by the estimate
(:mod:`core.app.device_figures`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from core import fmt
from core.controls import for_app
from core.app.device_figures import DeviceFigures, device_figures
from core.app.export import ExportCheck, ExportFrom, ExportJob, folder_problem

PREFERRED_TARGET = "rpi5"
FORMAT_PRECISION = {"onnx": "fp32", "onnx-fp16": "fp16", "onnx-int8": "int8", "pt2": "fp32"}  # core.export.targets.FORMATS


def bundles_dir() -> Path:
    return Path.home() / "EdgeSlim-bundles"


def parse_source(data: Any) -> tuple[str, Optional[int]]:
    """("model", None) or ("run", id), from the picker's item data ("model" | "run:ID")."""
    kind, _, run_id = str(data or "model").partition(":")
    return (kind, int(run_id)) if kind == "run" else ("model", None)


def run_item_text(row: Any) -> str:
    """A stored run in the picker: "Run #3 · int8 · 98.89 % · 180.00 KiB"."""
    final = row.final or {}
    parts = [f"Run #{row.id}", row.name]
    if final.get("accuracy") is not None:
        parts.append(f"{100 * final['accuracy']:.2f} %")
    if final.get("size_bytes"):
        parts.append(fmt.size(final["size_bytes"]))
    return " · ".join(parts)


def describe_run(row: Any) -> tuple[Optional[str], str]:
    """(the run's final model file, a sentence about the run) for a finished run."""
    final, base = row.final or {}, row.baseline or {}
    artifacts = row.artifacts or {}
    bits = [" → ".join(row.techniques) or "no steps"]
    if final.get("accuracy") is not None:
        delta = f" ({100 * (final['accuracy'] - base['accuracy']):+.2f} pt)" if base.get("accuracy") is not None else ""
        bits.append(f"top-1 {100 * final['accuracy']:.2f} %{delta}")
    if final.get("size_bytes"):
        bits.append(f"ONNX {fmt.size(final['size_bytes'])}")
    kind_text = "a PyTorch program" if "pt2" in artifacts else "an ONNX file"
    text = f"Run #{row.id} “{row.name}”: {' · '.join(bits)}. Its final model is {kind_text}; data {row.data_spec}."
    return artifacts.get("onnx") or artifacts.get("pt2"), text


def describe_model(model: Any, data: Any, any_runs: bool) -> str:
    text = f"{model.name} as it is now ({model.source_format})" if model is not None else "No model loaded yet"
    text += f", with {data.name} to calibrate and verify it." if data is not None else "; export also needs its dataset."
    if not any_runs:
        text += " Finished runs: none yet — run a recipe on the Compress page to export a compressed model."
    return text


def export_source(kind: str, run_id: Optional[int], workspace: Any, session: Any) -> Union[ExportFrom, str]:
    """What the worker exports for the picker's choice, or why there is nothing yet."""
    if kind == "run":
        if workspace is None:
            return "Open the run's workspace first."
        return ExportFrom(workspace=str(workspace.path), run_id=run_id)
    if session.model is None:
        return "Load a model first (Model page or File ▸ Open model)."
    if session.data is None:
        return "Load the model's dataset first (Data page): export calibrates and verifies the file on it."
    sources = session.sources()
    if sources is None:
        return "Load a model and its dataset first."
    return ExportFrom(model=sources[0], data=sources[1])


def check_request(source: Union[ExportFrom, str], target: Any, fmt_choice: Optional[str]) -> Union[ExportCheck, str]:
    if isinstance(source, str):
        return source
    if target is None:
        return "No target profile could be read: fix the profile file named in the message."
    return ExportCheck(source, str(target.path) if target.path else target.name, fmt_choice)


def export_request(check: ExportCheck, fmt_resolved: Optional[str], out: Path, *, replace: bool, ignore_fit: bool,
                   parity_samples: int, threads: int, latency_repeats: int) -> ExportJob:
    from dataclasses import replace as with_fields

    return ExportJob(with_fields(check, format=fmt_resolved), str(out), force=replace, ignore_fit=ignore_fit,
                     parity_samples=parity_samples, threads=threads, latency_repeats=latency_repeats)


def fits(preview: Optional[dict]) -> Optional[bool]:
    return None if preview is None else bool((preview.get("fit") or {}).get("fits"))


def export_blocker(*, exporting: bool, source: Union[ExportFrom, str], target: Any, check_pending: bool,
                   check_failed: bool, preview: Optional[dict], anyway: bool, out: Optional[Path], replace: bool) -> str:
    """Why Export is not possible now ("" when it is), in the order a user meets the reasons."""
    if exporting:
        return "Exporting…"
    if isinstance(source, str):
        return source
    if target is None:
        return "No target profile could be read."
    if check_pending:
        return "Checking the fit first…"
    if check_failed:
        return "The model cannot be exported this way: see the fit check."
    if fits(preview) is False and not anyway:
        return f"The model does not fit {target.label}: see what to do in the fit check, or tick “Export anyway”."
    problem = folder_problem(out, replace)
    return for_app(problem[0].upper() + problem[1:] + ".") if problem else ""


def device_figures_for(workspace: Any, source: tuple[str, Optional[int]], target: Any,
                       preview: Optional[dict]) -> Optional[DeviceFigures]:
    """What boards of ``target`` measured, next to the checked estimate (None without an estimate or a workspace).

    ``source`` is the picker's choice: a stored run shows its own board figures;
    the current model only the profile's calibration.
    """
    ms = ((preview or {}).get("estimate") or {}).get("latency_ms")
    if workspace is None or target is None or ms is None:
        return None
    kind, run_id = source
    return device_figures(workspace, run_id if kind == "run" else None, target, ms)


def measured_lines(figures: Optional[DeviceFigures]) -> list[str]:
    """One line per board of the profile the run was timed on: the figure, then the file, memory and date."""
    return [" · ".join([m.text, *m.details]) for m in (figures.measured if figures else [])]
