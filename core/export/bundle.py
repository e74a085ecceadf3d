"""Write a deployable bundle for one target, verified, and never half of one.

Steps: check the destination and the format before any work; make the model
file (``prepare``); estimate and check the fit on the written file; check
parity by loading that file back; measure it here; write ``model.json``,
``infer.py``, ``README.md`` and ``report.html``. All of it goes to a hidden
folder beside the destination that is renamed into place only when complete,
so a failure or a cancel leaves the destination as it was (what a killed
export leaves there is removed by the next export to the same place). An
existing non-empty folder is replaced only with ``force``, and only when it
holds an EdgeSlim bundle; even then only the files that bundle wrote (its
manifest) are replaced: files the user added beside them stay.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from core.errors import EdgeSlimError
from core.export import report
from core.export.estimate import Estimate
from core.export.fit import FitReport, check_format
from core.export.parity import ParityResult, check_parity, require_parity
from core.export.prepare import FILE_NAMES, ExportSource, PreparedModel
from core.export.preview import assess, choose_format, prepared_for
from core.export.targets import TargetProfile
from core.fileio import atomic_write_text
from core.jobs import CancelToken, ProgressFn, check, null_progress, sub_progress
from core.staging import clean_stale_partials, partial_dir, swap_into_place

BUNDLE_MARK = "edgeslim-bundle/1"
CARD_NAME = "model.json"
WRITTEN = (CARD_NAME, "infer.py", "README.md", "report.html")  # besides the model files the card lists


class ExportMisfit(EdgeSlimError):
    """The model does not fit the target; ``report`` says why."""

    def __init__(self, target: TargetProfile, fit: FitReport) -> None:
        self.report = fit
        super().__init__(
            f"the model does not fit {target.label}: " + "; ".join(p.message for p in fit.problems),
            "follow the suggestions, or pass --ignore-fit to write the bundle anyway (the estimate is approximate)",
        )


@dataclass
class ExportResult:
    """What was written, and the evidence that it is right."""

    out: Path
    target: TargetProfile
    format: str
    card: dict  # the contents of model.json
    estimate: Estimate
    fit: FitReport
    parity: list[ParityResult]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "out": str(self.out), "target": self.target.name, "format": self.format,
            "model": self.card["model"], "files": self.card["files"], "fit": self.fit.to_dict(),
            "estimate": self.estimate.to_dict(), "parity": [p.to_dict() for p in self.parity],
            "latency_ms": self.card["metrics"]["latency_ms"], "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- destination


def is_bundle(folder: Path) -> bool:
    """Whether ``folder`` holds a bundle EdgeSlim wrote (its model.json carries the mark)."""
    try:
        return json.loads((folder / CARD_NAME).read_text(encoding="utf-8")).get("bundle") == BUNDLE_MARK
    except (OSError, ValueError, AttributeError):
        return False


def bundle_files(folder: Path) -> set[str]:
    """The names the bundle in ``folder`` wrote (its manifest): the model files its card lists and the fixed files."""
    try:
        card = json.loads((folder / CARD_NAME).read_text(encoding="utf-8"))
        listed = {str(f["path"]) for f in card.get("files", [])}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        listed = set()
    return listed | set(WRITTEN)


def user_files(folder: Path) -> list[str]:
    """What is in a bundle folder that the bundle did not write (the user's own files), by name."""
    mine = bundle_files(folder)
    return sorted(p.name for p in folder.iterdir() if p.name not in mine)


def check_destination(out: Path, force: bool) -> None:
    """Refuse, before any work, a destination the bundle may not take."""
    if out.exists() and not out.is_dir():
        raise EdgeSlimError(f"{out} is a file", "give a folder path for --out")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise EdgeSlimError(f"{out} already exists and is not empty", "choose a new folder, or pass --force to replace the bundle in it")
        if not is_bundle(out):
            raise EdgeSlimError(f"{out} is not empty and holds no EdgeSlim bundle, so --force will not replace it",
                                "choose a new or empty folder for --out")
        clash = sorted(set(user_files(out)) & set(FILE_NAMES.values()))
        if clash:
            raise EdgeSlimError(f"{out} holds {', '.join(clash)}, which the earlier bundle did not write but a bundle may",
                                "move those files out of the folder, or choose another folder for --out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgeSlimError(f"cannot create {out.parent} ({exc.strerror})", "choose a folder you can write to") from None


def _place(staging: Path, out: Path, force: bool) -> None:
    """Move the finished bundle into place; an earlier bundle is swapped out only after the new one is complete.

    The user's own files in the earlier bundle's folder are moved into the new
    one; the old folder is removed only when all of them have been.
    """
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    if not out.exists():
        os.rename(staging, out)  # fails rather than merging if something appeared meanwhile
        return
    check_destination(out, force)  # the folder may have changed since the first check
    keep = user_files(out)
    clash = sorted(set(keep) & {p.name for p in staging.iterdir()})
    if clash:
        raise EdgeSlimError(f"{out} holds {', '.join(clash)}, which the earlier bundle did not write but this one does",
                            "move those files out of the folder, or choose another folder for --out")
    swap_into_place(staging, out, keep)


# --------------------------------------------------------------------------- the bundle


def export_bundle(
    source: ExportSource,
    target: TargetProfile,
    out: Path | str,
    *,
    fmt: Optional[str] = None,
    force: bool = False,
    ignore_fit: bool = False,
    parity_samples: int = 1000,
    threads: int = 2,
    latency_repeats: int = 30,
    prepared: Optional[PreparedModel] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> ExportResult:
    """Write the bundle of ``source`` for ``target`` to ``out``; see the module docstring for the steps.

    ``prepared`` reuses model files already made for this format (several
    targets from one quantization); they are copied, never moved.
    """
    progress = progress or null_progress
    out = Path(out).expanduser().absolute()
    check_destination(out, force)
    clean_stale_partials(out)
    fmt = choose_format(source, target, fmt, prepared)
    issues = check_format(target, fmt)
    if issues and not ignore_fit:
        raise ExportMisfit(target, FitReport(target.name, False, issues))
    with tempfile.TemporaryDirectory(prefix="edgeslim-export-") as work:
        prepared = prepared_for(source, target, fmt, Path(work), prepared, sub_progress(progress, 0.0, 0.5), cancel)
        staging = partial_dir(out)
        try:
            result = _write(source, target, fmt, prepared, staging, ignore_fit, parity_samples, threads, latency_repeats,
                            sub_progress(progress, 0.5, 0.98), cancel)
            check(cancel)
            _place(staging, out, force)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    result.out = out
    progress(1.0, f"bundle written to {out}")
    return result


def _write(
    source: ExportSource, target: TargetProfile, fmt: str, prepared: PreparedModel, folder: Path, ignore_fit: bool,
    parity_samples: int, threads: int, repeats: int, progress: ProgressFn, cancel: Optional[CancelToken],
) -> ExportResult:
    model_name = FILE_NAMES[fmt]
    onnx_name = model_name if fmt != "pt2" else FILE_NAMES["onnx"]
    shutil.copyfile(prepared.model_file, folder / model_name)
    if onnx_name != model_name:
        shutil.copyfile(prepared.onnx_file, folder / onnx_name)
    progress(0.05, "estimating memory and latency")
    est, fit, proto = assess(target, fmt, folder / onnx_name, folder / model_name)  # the same check as preview_export
    if not fit.fits and not ignore_fit:
        raise ExportMisfit(target, fit)
    check(cancel)
    files = [model_name] + ([onnx_name] if onnx_name != model_name else [])
    parity = []
    for i, name in enumerate(files):
        change = prepared.change if name.endswith(".onnx") or fmt != "pt2" else "none"
        parity.append(check_parity(folder / name, source.model, source.data, change=change, precision=prepared.precision,
                                   samples=parity_samples,
                                   progress=sub_progress(progress, 0.1 + 0.3 * i, 0.4 + 0.3 * i), cancel=cancel))
        require_parity(parity[-1])
    progress(0.75, "timing the file on this machine")
    measured = _measure(folder / onnx_name, source, threads, repeats, cancel)
    card = _card(source, target, fmt, prepared, folder, files, est, fit, parity, measured, proto)
    atomic_write_text(folder / CARD_NAME, json.dumps(card, indent=2) + "\n")
    shutil.copyfile(Path(__file__).with_name("infer_script.py"), folder / "infer.py")
    atomic_write_text(folder / "README.md", report.readme(card, target))
    atomic_write_text(folder / "report.html", report.report_html(card))
    progress(1.0, "bundle complete")
    return ExportResult(folder, target, fmt, card, est, fit, parity, list(prepared.notes))


def _measure(path: Path, source: ExportSource, threads: int, repeats: int, cancel) -> Optional[dict]:
    from core.metrics.latency import measure_latency_onnx

    if repeats < 1:
        return None
    stats = measure_latency_onnx(path, source.input_shape, batch=1, threads=threads, warmup=5, repeats=repeats, cancel=cancel)
    return {"median_ms": stats.median_ms, "p90_ms": stats.p90_ms, "batch": 1, "threads": threads, "backend": "onnxruntime",
            "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} logical CPUs"}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundle_preprocessing(source: ExportSource) -> dict:
    """The data's preprocessing as it applies to 8-bit image files.

    The demo digits are 4-bit (0–16), hence the preset's 1/16 scale; saved as
    8-bit images they are 0–255, so a bundle scales by 1/255 like every other.
    """
    pp = source.data.preprocessing.to_dict()
    if pp.get("name") == "demo":
        pp["scale"] = 1.0 / 255.0
        pp["note"] = "the demo digits are 4-bit; as 8-bit image files (white digit on black) they scale by 1/255"
    return pp


def _slim(metrics: Optional[dict]) -> Optional[dict]:
    if not metrics:
        return None
    lat = (metrics.get("latency_ms") or {}).get("onnxruntime")
    return {"accuracy": metrics.get("accuracy"), "size_bytes": metrics.get("size_bytes"), "macs": metrics.get("macs"),
            "params": metrics.get("params"), "latency_ms": lat, "agreement": metrics.get("agreement")}


def _io(value) -> tuple[str, list]:
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "batch") for d in value.type.tensor_type.shape.dim]
    return value.name, dims


def _card(
    source: ExportSource, target: TargetProfile, fmt: str, prepared: PreparedModel, folder: Path, files: list[str],
    est: Estimate, fit: FitReport, parity: list[ParityResult], measured: Optional[dict], proto,
) -> dict:
    from core import __version__
    from core.pipeline.runner import library_versions

    inits = {i.name for i in proto.graph.initializer}
    in_name, in_shape = _io(next(v for v in proto.graph.input if v.name not in inits))
    out_name, out_shape = _io(proto.graph.output[0])
    entries = [{"path": n, "bytes": (folder / n).stat().st_size, "sha256": sha256(folder / n)} for n in files]
    main = parity[0]
    run = None
    if source.origin.get("kind") == "run":
        run = {"baseline": _slim(source.baseline), "final": _slim(source.final),
               "steps": [{"index": s.get("index"), "technique": s.get("technique"), "metrics": _slim(s.get("metrics"))} for s in source.steps]}
    reference = {"accuracy": main.reference_accuracy, "size_bytes": prepared.fp32_bytes, "macs": None, "latency_ms": None}
    model = source.model
    return {
        "bundle": BUNDLE_MARK,
        "edgeslim": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "name": model.name,
        "target": {k: v for k, v in target.to_dict().items() if k in ("name", "label", "kind", "processor", "runtime", "toolchain")},
        "model": {"file": files[0], "format": fmt, "precision": prepared.precision, "bytes": entries[0]["bytes"],
                  "sha256": entries[0]["sha256"], "onnx_file": files[-1] if fmt == "pt2" else files[0]},
        "files": entries,
        "input": {"name": in_name, "shape": in_shape, "layout": "NCHW", "dtype": "float32", "chw": list(source.input_shape)},
        "output": {"name": out_name, "shape": out_shape,
                   "meaning": f"logits for {len(source.data.class_names)} classes (softmax gives probabilities)"},
        "preprocessing": bundle_preprocessing(source),
        "class_names": list(source.data.class_names),
        "recipe": source.recipe,
        "metrics": {
            "accuracy": main.file_accuracy, "accuracy_images": main.samples, "reference_accuracy": main.reference_accuracy,
            "size_bytes": entries[0]["bytes"], "macs": est.macs,
            "latency_ms": {"measured": measured, "estimated": {
                "target": target.name, "ms": est.latency_ms, "precision": est.precision, "bound": est.bound,
                "kind": "roofline lower bound at the profile's peak figures"}},
            "run": run, "reference": None if run else reference,
        },
        "estimate": est.to_dict(),
        "fit": fit.to_dict(),
        "parity": [p.to_dict() for p in parity],
        "source": dict(source.origin),
        "notes": list(prepared.notes) + list(model.notes),
        "versions": library_versions(),
    }
