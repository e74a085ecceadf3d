"""Run a recipe *in a workspace*: a row before it starts, metrics after every step, a final status.

A :class:`RunRequest` is plain data (the model and data sources, TOML, options), so the same request
runs in this process, in a worker process or on a Dask worker, and is what
``runs resume`` replays. Identical trials — same recipe, same model and data
content, same options — are found by their key and reused instead of re-run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional

from core.app.events import Emit, EventReporter, PartialResult
from core.app.sources import DataSource, ModelSource, sources_from_stored, stored_options
from core.errors import EdgeSlimError
from core.jobs import CancelToken, Cancelled, ProgressFn
from core.pipeline.recipe import parse_recipe
from core.pipeline.runner import RunOptions, RunResult, StepRecord, run_recipe
from core.store.disk_faults import write_fault, write_fault_error
from core.store.workspace import RunRow, Workspace, missing_artifacts


@dataclass(frozen=True)
class RunRequest:
    """Everything needed to (re)run one recipe on one model and dataset."""

    recipe_toml: str
    model: ModelSource
    data: DataSource
    options: RunOptions = RunOptions()
    name: str = ""
    sweep_id: Optional[int] = None

    def to_dict(self) -> dict:
        """Plain data (a sweep's payload to a worker process); :meth:`from_dict` reads it back."""
        return {"recipe_toml": self.recipe_toml, "model": asdict(self.model), "data": asdict(self.data),
                "options": asdict(self.options), "name": self.name, "sweep_id": self.sweep_id}

    @classmethod
    def from_dict(cls, d: dict) -> "RunRequest":
        model = dict(d["model"])
        if model.get("input_shape"):
            model["input_shape"] = tuple(model["input_shape"])
        return cls(d["recipe_toml"], ModelSource(**model), DataSource(**d["data"]), RunOptions(**d["options"]),
                   d.get("name", ""), d.get("sweep_id"))

    @classmethod
    def from_row(cls, row: RunRow, trust: bool = False) -> "RunRequest":
        """The stored request; trust is never taken from the store (older workspaces kept it), only from ``trust``."""
        model, data = sources_from_stored(row.model_spec, row.data_spec, row.load_options, trust=trust)
        return cls(row.recipe_toml, model, data, RunOptions(**row.options), row.name, row.sweep_id)


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def file_fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_file_sha256(model) -> Optional[str]:
    """The sha256 of the file the model was loaded from; None for a built-in model."""
    path = getattr(model, "file_path", None)
    return file_fingerprint(Path(path)) if path and Path(path).is_file() else None


def spec_file(spec: str) -> Optional[Path]:
    """The file a model spec names, if it names one that exists."""
    path = Path(spec).expanduser()
    return path if spec and path.is_file() else None


def model_fingerprint(model, source: ModelSource, data: DataSource, content: Optional[str] = None) -> str:
    """Content of the model's file when it has one; otherwise the spec (a random-init torchvision model)."""
    if content is None:
        content = model_file_sha256(model)
    options = stored_options(source, data)  # all loading options, as the store has always keyed them
    return _sha({"spec": model.spec, "file": content, "options": {k: v for k, v in options.items() if v is not None}})


def data_fingerprint(data, source: DataSource) -> str:
    """The demo by name; folders by their files' names, sizes and modification times."""
    root = Path(str(data.spec).split(":", 1)[-1]).expanduser() if data.spec != "demo" else None
    listing = None
    if root is not None and root.exists():
        listing = sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file())
    opts = {"preset": source.preset, "image_size": source.image_size}
    if data.label_map is not None:  # folders mapped onto a model's outputs: another trial than unmapped
        opts["labels"] = data.label_map.to_dict()
    return _sha({"spec": data.spec, "files": listing, "options": opts, "shape": list(data.input_shape)})


def trial_key(recipe_toml: str, model_fp: str, data_fp: str, options: RunOptions) -> str:
    recipe = parse_recipe(recipe_toml).to_dict()
    recipe.pop("name", None)  # the same steps under another name are the same trial
    return _sha({"recipe": recipe, "model": model_fp, "data": data_fp, "options": asdict(options)})


def load_inputs(request: RunRequest, cache: Optional[dict] = None):
    """(model, data) for a request; ``cache`` keeps them across trials of one sweep in one process."""
    return load_sources(request.model, request.data, cache)


def load_sources(model_source: ModelSource, data_source: DataSource, cache: Optional[dict] = None):
    """(model, data in the model's label space), unchecked; ``cache`` keeps what was loaded for the next job."""
    mkey, dkey = _cache_keys(model_source, data_source)
    if cache is not None and mkey in cache:
        model = cache[mkey]
    else:
        model = model_source.load()
        if cache is not None:
            cache[mkey] = model
    if cache is not None and dkey in cache:
        data = cache[dkey]
    else:
        data = data_source.with_labels(None).load()
        if cache is not None:
            cache[dkey] = data
    return model, data_source.matched(model, data)  # class folders -> the model's outputs


def _cache_keys(model: ModelSource, data: DataSource) -> tuple:
    # the data is read the same whatever the labels file; labels map it onto a model afterwards
    return ("model", model), ("data", replace(data, labels=None))


def loaded_cache(model_source: ModelSource, data_source: DataSource, model, data) -> dict:
    """A cache for :func:`execute_run` holding a model and data already loaded (the CLI loads them to check them first).

    Data already mapped onto the model's outputs is kept as it is (mapping it again leaves it unchanged).
    """
    mkey, dkey = _cache_keys(model_source, data_source)
    return {mkey: model, dkey: data}


@dataclass
class Execution:
    """What :func:`execute_run` did: the stored row, and whether it was reused rather than run."""

    row: RunRow
    reused: bool = False
    note: str = ""  # something the user should know, e.g. why a stored identical run was not reused


def execute_run(
    ws: Workspace,
    request: RunRequest,
    *,
    run_id: Optional[int] = None,
    reuse: bool = True,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
    on_step: Optional[Callable[[StepRecord], None]] = None,
    cache: Optional[dict] = None,
    emit: Optional[Emit] = None,
) -> Execution:
    """Run ``request`` as a stored run (a new row, or ``run_id`` to re-run one); reuse an identical finished trial.

    Input problems (a bad spec, a recipe that cannot run) raise before a row is
    made; a step that fails marks the row ``failed`` and re-raises. With ``emit``
    the run reports its stages, progress and each measured step as events
    (``PartialResult("baseline" | "step", dict)``); ``progress`` still works.
    """
    reporter = EventReporter(emit) if emit is not None else None
    progress = _progress_to(progress, reporter)
    on_step = _steps_to(on_step, emit)
    recipe = parse_recipe(request.recipe_toml, source=request.name or "recipe")
    model, data = load_inputs(request, cache)
    recipe.check_order(input_is_onnx=model.is_onnx)
    model_sha = model_file_sha256(model)
    model_fp, data_fp = model_fingerprint(model, request.model, request.data, model_sha), data_fingerprint(data, request.data)
    key = trial_key(request.recipe_toml, model_fp, data_fp, request.options)
    note = ""
    if reuse and run_id is None:
        done = ws.find_done_trial(key)
        if done is not None:
            missing = missing_artifacts(done)
            if not missing:
                return Execution(done, reused=True)
            note = (f"the identical run {done.id} was not reused: its files are missing ({', '.join(missing)}); "
                    f"it runs again as a new run (delete run {done.id} with `edgeslim-cli runs delete {done.id}`)")
    if run_id is None:
        run_id = ws.create_run(
            name=request.name or recipe.name, recipe_name=recipe.name, recipe_toml=request.recipe_toml,
            techniques=[s.technique for s in recipe.active_steps], model_spec=request.model.spec, data_spec=request.data.spec,
            load_options=stored_options(request.model, request.data), options=asdict(request.options), trial_key=key,
            seed=request.options.seed, model_id=ws.add_model(request.model.spec, model_fp, model.name, {"format": model.source_format}),
            dataset_id=ws.add_dataset(request.data.spec, data_fp, data.name, {"sizes": data.sizes()}),
            sweep_id=request.sweep_id, model_sha256=model_sha,
        )
    out_dir = ws.run_dir(run_id)
    if out_dir.exists():  # an earlier attempt's files (a resume): never mix them with this attempt's
        shutil.rmtree(out_dir)
    ws.start_run(run_id)
    try:
        result: RunResult = run_recipe(
            recipe, model, data, out_dir, request.options, progress=progress, cancel=cancel, on_step=on_step,
            on_update=lambda r: ws.record_progress(run_id, r.to_dict()), stages=reporter,
            on_baseline=(lambda snap: emit(PartialResult("baseline", snap.to_dict()))) if emit is not None else None,
            on_epoch=(lambda epoch: emit(PartialResult("epoch", epoch))) if emit is not None else None,
        )
    except Cancelled:
        ws.finish_run(run_id, "cancelled", error="cancelled by the user")
        raise
    except Exception as exc:
        fault = write_fault(exc)
        if fault is None:
            ws.finish_run(run_id, "failed", error=str(exc))
            raise
        error = write_fault_error(fault, out_dir, run_id)
        try:  # the database may be on the full disk too: the run is then found interrupted later
            ws.finish_run(run_id, "failed", error=str(error))
        except Exception:
            pass
        raise error from exc
    ws.finish_run(run_id, result.status, result.to_dict(), error=result.error)
    return Execution(ws.get_run(run_id), note=note)


def _progress_to(progress: Optional[ProgressFn], reporter: Optional[EventReporter]) -> Optional[ProgressFn]:
    if reporter is None or progress is None:
        return progress or reporter

    def both(fraction: float, message: str) -> None:
        progress(fraction, message)
        reporter(fraction, message)

    return both


def _steps_to(on_step: Optional[Callable[[StepRecord], None]], emit: Optional[Emit]) -> Optional[Callable[[StepRecord], None]]:
    if emit is None:
        return on_step

    def both(record: StepRecord) -> None:
        if on_step is not None:
            on_step(record)
        emit(PartialResult("step", record.to_dict()))

    return both


def resume_run(ws: Workspace, run_id: int, *, trust: bool = False, **kwargs: Any) -> Execution:
    """Run an interrupted, failed or cancelled run (or a done one whose files are gone) again, into the same row.

    Trust is asked for again (``trust``), never taken from the store, and the
    model file must be the one the run first read: a file whose sha256 changed
    is refused before it is opened.
    """
    row = ws.get_run(run_id)
    if row.status == "running" or (row.status == "done" and not missing_artifacts(row)):
        raise EdgeSlimError(
            f"run {run_id} is {row.status}", "only interrupted, failed or cancelled runs can be resumed" + ("" if row.status == "running" else "; a finished run can be re-run as a new one")
        )
    check_model_file(row)
    return execute_run(ws, RunRequest.from_row(row, trust=trust), run_id=run_id, reuse=False, **kwargs)


def check_model_file(row: RunRow) -> None:
    """Refuse a model file whose content differs from the one the run recorded (hashing reads it; loading could run it)."""
    path = spec_file(row.model_spec) or spec_file(row.load_options.get("weights") or "")  # as LoadedModel.file_path
    if row.model_sha256 is None or path is None:
        return
    now = file_fingerprint(path)
    if now != row.model_sha256:
        raise EdgeSlimError(
            f"the model file {path} changed since run {row.id} first read it (sha256 then {row.model_sha256}, now {now})",
            "put the original file back to resume the run, or run the recipe on the new file as a new run",
        )
