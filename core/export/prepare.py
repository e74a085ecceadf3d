"""The model file a bundle ships, in the format its target takes.

The model comes from what the user has — a PyTorch module or an ONNX file,
loaded from a spec or from a stored run — and is made in the chosen format:
copied when it already is that format, exported, or converted (fp16, or int8
calibrated on the data's calibration split with the quantization the target
wants). What the export changed is recorded, because the parity check allows
a precision change its expected error and nothing more.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError
from core.export.estimate import model_precision
from core.export.targets import FORMATS, TargetProfile
from core.jobs import CancelToken, ProgressFn, null_progress, sub_progress
from core.models.loaded import LoadedModel

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FILE_NAMES = {"onnx": "model.onnx", "onnx-fp16": "model-fp16.onnx", "onnx-int8": "model-int8.onnx", "pt2": "model.pt2"}


@dataclass
class ExportSource:
    """What is exported: the model as the user has it, its data, and where it came from."""

    model: LoadedModel  # the reference the written file is checked against
    data: DatasetBundle
    onnx_path: Optional[Path] = None  # an ONNX file of exactly this model (a run's artifact)
    origin: dict = field(default_factory=dict)  # kind (model | run), spec, run id, workspace
    recipe: Optional[dict] = None
    baseline: Optional[dict] = None  # a run's measured metrics
    final: Optional[dict] = None
    steps: list = field(default_factory=list)

    @property
    def precision(self) -> str:
        if not self.model.is_onnx:
            return "fp32"
        import onnx

        return model_precision(onnx.load(str(self.model.runnable.path)))  # type: ignore[union-attr]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.data.input_shape)  # type: ignore[return-value]


@dataclass
class PreparedModel:
    """The model file(s) of one format, made in a work folder, before they are placed in a bundle."""

    format: str
    precision: str
    model_file: Path  # what the target loads (the .pt2 program for pt2)
    onnx_file: Path  # the ONNX file infer.py, the estimate and the fit check read
    change: str  # what the export changed: none | fp16 | int8
    notes: list[str] = field(default_factory=list)
    fp32_bytes: Optional[int] = None  # size of the fp32 ONNX file it was made from, when there was one
    key: tuple = ()  # preparation_key() it was made for: files can serve every target with the same key

    @property
    def files(self) -> list[Path]:
        return list(dict.fromkeys([self.model_file, self.onnx_file]))


# --------------------------------------------------------------------------- sources


def source_from_model(model: LoadedModel, data: DatasetBundle) -> ExportSource:
    from core.metrics.compat import check_compatible

    check_compatible(model, data)
    return ExportSource(model=model, data=data, origin={"kind": "model", "model_spec": model.spec, "data_spec": data.spec})


def source_from_run(
    workspace, run_id: int, data_spec: Optional[str] = None, preset: Optional[str] = None, image_size: Optional[int] = None,
) -> ExportSource:
    """A stored run's final model (its PyTorch program when it has one, else its ONNX file) and its data.

    ``data_spec`` overrides the run's data (with ``preset`` / ``image_size``);
    by default the run's own data is loaded the way the run loaded it.
    """
    from core.data import load_dataset
    from core.models import load_model

    row = workspace.get_run(run_id)
    if row.status != "done":
        raise EdgeSlimError(f"run {run_id} is {row.status}, not done, so it has no final model to export",
                            f"resume it with `edgeslim-cli runs resume {run_id}`, or export a finished run")
    artifacts = {k: Path(v) for k, v in (row.artifacts or {}).items() if k in ("onnx", "pt2")}
    missing = [str(p) for p in artifacts.values() if not p.is_file()]
    if not artifacts or missing:
        raise EdgeSlimError(f"run {run_id}'s model files are missing ({', '.join(missing) or 'none recorded'})",
                            f"run it again with `edgeslim-cli runs resume {run_id}`")
    lo = row.load_options or {}
    spec = data_spec or row.data_spec
    same = spec == row.data_spec
    data = load_dataset(spec, preset=lo.get("preset") if same else preset, image_size=lo.get("image_size") if same else image_size)
    model = load_model(str(artifacts["pt2"] if "pt2" in artifacts else artifacts["onnx"]))
    from core.metrics.compat import match_model_labels

    data = match_model_labels(model, data, lo.get("labels") if same else None)  # the run's class folders -> outputs
    model.class_names = list(data.class_names)
    model.name = row.name or model.name
    try:
        recipe = tomllib.loads(row.recipe_toml) if row.recipe_toml else None
    except tomllib.TOMLDecodeError:
        recipe = {"toml": row.recipe_toml}
    source = source_from_model(model, data)
    source.onnx_path = artifacts.get("onnx")
    source.origin = {"kind": "run", "run_id": run_id, "workspace": str(workspace.path), "model_spec": row.model_spec,
                     "data_spec": spec, "run_name": row.name}
    source.recipe, source.baseline, source.final, source.steps = recipe, row.baseline, row.final, list(row.steps or [])
    return source


def preparation_key(profile: TargetProfile, fmt: str) -> tuple:
    """What of a target shapes its model file: format, int8 scheme, static batch."""
    q = profile.quantization
    scheme = (q.types, q.symmetric) if FORMATS.get(fmt) == "int8" else None
    return (fmt, scheme, profile.static_batch)


def default_format(profile: TargetProfile, source: ExportSource) -> str:
    """The target's format for the source's precision when it takes one, else the target's first choice."""
    same = [f for f in profile.formats if FORMATS[f] == source.precision and f != "pt2"]
    return same[0] if same else profile.formats[0]


# --------------------------------------------------------------------------- making the file


def prepare(
    source: ExportSource,
    fmt: str,
    profile: TargetProfile,
    workdir: Path,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> PreparedModel:
    """Make the ``fmt`` model file(s) of ``source`` in ``workdir``."""
    if fmt not in FORMATS:
        raise EdgeSlimError(f"unknown format {fmt!r}", f"use one of: {', '.join(FORMATS)}")
    progress = progress or null_progress
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    have, want = source.precision, FORMATS[fmt]
    if fmt == "pt2" and source.model.is_onnx:
        raise EdgeSlimError(
            "a .pt2 program needs a PyTorch model, and this one is an ONNX file"
            + (" (the run ended with an ONNX-side step)" if source.origin.get("kind") == "run" else ""),
            "export it as onnx / onnx-int8, or export a model or run whose last step is PyTorch-side",
        )
    if have != want and not (have == "fp32" and want in ("fp16", "int8")):
        keep = _format_for(have)
        fix = (f"export it with --format {keep}, or export the model from before it was converted" if keep in profile.formats
               else f"{profile.label} takes {', '.join(profile.formats)}: export the model from before it was converted "
                    "(for a run, the ONNX file of its step before the quantization)")
        raise EdgeSlimError(f"the model is already {have}, so it cannot be exported as {fmt} ({want})", fix)
    notes: list[str] = []
    fp32: Optional[Path] = None
    if have == "fp32":
        progress(0.0, "exporting to ONNX")
        fp32 = _fp32_onnx(source, workdir / "fp32.onnx")
    if want == have:
        onnx_file = fp32 if fp32 is not None else _copy_onnx(Path(source.model.runnable.path), workdir / "copy.onnx")  # type: ignore[union-attr]
        change = "none"
    elif want == "fp16":
        progress(0.3, "converting to fp16")
        onnx_file, notes = _fp16(source, fp32, workdir, sub_progress(progress, 0.3, 0.9), cancel)  # type: ignore[arg-type]
        change = "fp16"
    else:
        progress(0.3, "quantizing to int8")
        onnx_file, notes = _int8(source, fp32, profile, workdir, sub_progress(progress, 0.3, 0.9), cancel)  # type: ignore[arg-type]
        change = "int8"
    if profile.static_batch:
        onnx_file = fix_batch(onnx_file, workdir / "static.onnx")
        notes.append("the batch dimension is fixed to 1: the target's tool chain needs static shapes")
    model_file = onnx_file
    if fmt == "pt2":
        from core.models.program_io import save_pt2

        progress(0.9, "saving the PyTorch program")
        own = source.model.file_path if source.model.source_format == "pt2" else None
        if own is not None and Path(own).is_file():  # a run's program: ship the very file it measured
            model_file = Path(shutil.copyfile(own, workdir / "model.pt2"))
        else:
            model_file = save_pt2(source.model.module, source.input_shape, workdir / "model.pt2")
    progress(1.0, "model file ready")
    return PreparedModel(fmt, want, model_file, onnx_file, change, notes, fp32.stat().st_size if fp32 else None,
                         preparation_key(profile, fmt))


def _format_for(precision: str) -> str:
    return {"fp32": "onnx", "fp16": "onnx-fp16", "int8": "onnx-int8"}[precision]


def _fp32_onnx(source: ExportSource, path: Path) -> Path:
    """The fp32 ONNX file: the run's own artifact when it is this model, else a fresh export."""
    if source.model.is_onnx:
        return _copy_onnx(Path(source.model.runnable.path), path)  # type: ignore[union-attr]
    if source.onnx_path is not None and source.onnx_path.is_file():
        return _copy_onnx(source.onnx_path, path)
    from core.models.onnx_export import export_onnx

    return export_onnx(source.model.module, source.input_shape, path)


def _copy_onnx(src: Path, dst: Path) -> Path:
    """A single-file copy (external data folded in): a bundle must not depend on files beside it."""
    import onnx

    proto = onnx.load(str(src))  # loads external data too
    if any(i.data_location == onnx.TensorProto.EXTERNAL for i in onnx.load(str(src), load_external_data=False).graph.initializer):
        onnx.save(proto, str(dst))
    else:
        shutil.copyfile(src, dst)
    return dst


def _onnx_model(source: ExportSource, path: Path) -> LoadedModel:
    from core.models.onnx_model import OnnxModel
    from core.techniques.base import derived

    return derived(source.model, OnnxModel(path), suffix="fp32", file_path=path)


def _ctx(source: ExportSource, workdir: Path, progress: ProgressFn, cancel: Optional[CancelToken]):
    from core.techniques.base import StepContext

    return StepContext(data=source.data, workdir=workdir, progress=progress, cancel=cancel)


def _fp16(source: ExportSource, fp32: Path, workdir: Path, progress: ProgressFn, cancel) -> tuple[Path, list[str]]:
    from core.techniques.quantize_fp16 import QuantizeFp16

    outcome = QuantizeFp16().apply(_onnx_model(source, fp32), _ctx(source, workdir / "fp16", progress, cancel))
    return Path(outcome.model.runnable.path), [outcome.summary, *outcome.notes]  # type: ignore[union-attr]


def _int8(source: ExportSource, fp32: Path, profile: TargetProfile, workdir: Path, progress: ProgressFn, cancel) -> tuple[Path, list[str]]:
    """Static int8 with the target's types; symmetric activations (TensorRT) through ONNX Runtime directly."""
    ctx = _ctx(source, workdir / "int8", progress, cancel)
    if profile.quantization.symmetric:
        return _int8_symmetric(fp32, ctx)
    from core.techniques.quantize_static import QuantizeStatic

    outcome = QuantizeStatic(types=profile.quantization.types).apply(_onnx_model(source, fp32), ctx)
    return Path(outcome.model.runnable.path), [outcome.summary, *outcome.notes]  # type: ignore[union-attr]


def _int8_symmetric(src: Path, ctx) -> tuple[Path, list[str]]:
    """S8S8 QDQ with every zero point 0, which TensorRT's explicit quantization requires.

    ``quantize.static`` has no symmetric-activation option, so this calls the
    quantization backend's symmetric variant with the same pre-processing and
    calibration reader.
    """
    import tempfile

    from core.quant import ort_backend
    from core.techniques import onnx_quant_common as oq

    workdir = Path(ctx.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "model_int8.onnx"
    logs: list[str] = []
    with tempfile.TemporaryDirectory(dir=workdir, prefix="quant-") as tmp:
        pre = Path(tmp) / "preprocessed.onnx"
        proto, notes = ort_backend.prepare_graph(src, pre, logs)
        value = oq.first_input(proto)
        reader = oq.CalibrationReader(ctx, value.name, 128, 32, fixed_batch=oq.input_batch(value), progress=ctx.progress)
        scheme = ort_backend.QdqScheme("S8S8", per_channel=True, symmetric=True)
        q_proto = ort_backend.quantize_qdq(pre, Path(tmp) / "raw.onnx", reader, scheme, logs=logs,
                                           fix="export with --format onnx-fp16 or onnx instead")
        oq.save_slim(q_proto, out, compact_qdq=True)
    notes.append(f"symmetric int8 (S8S8, per-channel weights, MinMax on {reader.samples} calibration images) for TensorRT")
    return out, notes + [f"ONNX Runtime: {line}" for line in logs]


def fix_batch(src: Path, dst: Path, batch: int = 1) -> Path:
    """A copy of ``src`` whose inputs and outputs have a fixed batch dimension."""
    import onnx

    proto = onnx.load(str(src))
    inits = {i.name for i in proto.graph.initializer}
    for value in [*proto.graph.input, *proto.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if value.name not in inits and dims and not dims[0].HasField("dim_value"):
            dims[0].Clear()
            dims[0].dim_value = batch
    del proto.graph.value_info[:]  # shapes cached for the dynamic batch would contradict the fixed one
    onnx.checker.check_model(proto)
    onnx.save(proto, str(dst))
    return dst
