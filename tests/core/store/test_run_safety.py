"""Stored runs are never deleted from under a live process, never reused without their files, never reloaded with stored trust.

Issue 15, items 4, 5 and 6. The recipe runner is replaced by a stand-in that
writes a result's files at once: what is tested here is the store's logic
around a run (rows, reuse, resume, trust), not the compression itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.errors import EdgeSlimError, UntrustedPickleError
from core.pipeline.runner import RunOptions
from core.app import execute
from core.app.execute import RunRequest, execute_run, resume_run
from core.app.sources import DataSource, ModelSource
from core.store.workspace import Workspace
from tests.store_runs import BASELINE, final_metrics

RECIPE = '[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.3\n'


@dataclass
class _Result:
    out_dir: Path
    status: str = "done"
    error: None = None
    artifacts: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"status": self.status, "baseline": BASELINE, "final": final_metrics(0.9, 200_000, 26_000_000, 0.1), "steps": [],
                "artifacts": self.artifacts, "seconds": 0.1}


@pytest.fixture
def quick_runner(monkeypatch):
    """run_recipe's stand-in: the files a run leaves (model.onnx, result.json), written at once; counts its calls."""
    calls = []

    def fake(recipe, model, data, out_dir, options, **kwargs):
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "model.onnx").write_bytes(b"onnx")
        (out_dir / "result.json").write_text("{}")
        calls.append(out_dir)
        return _Result(out_dir, artifacts={"onnx": str(out_dir / "model.onnx"), "result": str(out_dir / "result.json")})

    monkeypatch.setattr(execute, "run_recipe", fake)
    return calls


# --------------------------------------------------------------------------- item 4


def test_a_run_that_a_live_process_runs_cannot_be_deleted(tmp_path):
    with Workspace(tmp_path) as ws:
        run_id = ws.create_run(name="r", recipe_name="r", recipe_toml=RECIPE, techniques=["prune.unstructured"], model_spec="demo",
                               data_spec="demo", load_options={}, options={}, trial_key="k")
        ws.start_run(run_id)  # this process runs it: alive
        ws.run_dir(run_id).mkdir(parents=True)
        with pytest.raises(EdgeSlimError, match=f"run {run_id} is running .*process {os.getpid()}"):
            ws.delete_run(run_id)
        assert ws.get_run(run_id).status == "running" and ws.run_dir(run_id).is_dir()
        ws.finish_run(run_id, "cancelled", error="stopped")
        ws.delete_run(run_id)  # once it has stopped, it can go
        assert ws.list_runs() == []


def test_a_run_left_running_on_another_machine_cannot_be_deleted_from_here(tmp_path):
    with Workspace(tmp_path) as ws:
        run_id = ws.create_run(name="r", recipe_name="r", recipe_toml=RECIPE, techniques=[], model_spec="demo",
                               data_spec="demo", load_options={}, options={}, trial_key="k")
        ws.start_run(run_id)
        ws._write("UPDATE runs SET host = 'another-host', pid = 1 WHERE id = ?", (run_id,))
        with pytest.raises(EdgeSlimError, match="another-host"):
            ws.delete_run(run_id)


# --------------------------------------------------------------------------- item 5


def test_a_done_run_whose_files_are_gone_is_not_reused_and_can_be_resumed(tmp_path, quick_runner):
    request = RunRequest(RECIPE, ModelSource("demo"), DataSource("demo"), options=RunOptions(threads=1))
    with Workspace(tmp_path) as ws:
        first = execute_run(ws, request).row
        assert execute_run(ws, request).reused  # intact: reused
        shutil.rmtree(ws.run_dir(first.id))
        again = execute_run(ws, request)
        assert not again.reused and again.row.id != first.id and Path(again.row.artifacts["onnx"]).is_file()
        assert f"run {first.id}" in again.note and "missing" in again.note and "runs delete" in again.note
        resumed = resume_run(ws, first.id).row  # export's advice (`runs resume`) works for such a run
        assert resumed.id == first.id and resumed.status == "done" and Path(resumed.artifacts["onnx"]).is_file()
        with pytest.raises(EdgeSlimError, match="is done"):  # an intact done run still cannot be resumed
            resume_run(ws, first.id)


def test_runs_show_says_what_to_do_about_missing_files(tmp_path, quick_runner, capsys):
    from core.cli import main

    with Workspace(tmp_path) as ws:
        row = execute_run(ws, RunRequest(RECIPE, ModelSource("demo"), DataSource("demo"))).row
    assert main(["runs", "show", str(row.id), "--workspace", str(tmp_path)]) == 0
    assert "missing" not in capsys.readouterr().out
    shutil.rmtree(tmp_path / "artifacts" / f"run-{row.id}")
    assert main(["runs", "show", str(row.id), "--workspace", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "files are missing" in out and f"runs resume {row.id}" in out


def test_resume_starts_from_an_empty_run_folder(tmp_path, quick_runner):
    with Workspace(tmp_path) as ws:
        row = execute_run(ws, RunRequest(RECIPE, ModelSource("demo"), DataSource("demo"))).row
        ws.finish_run(row.id, "interrupted", error="stopped")
        (ws.run_dir(row.id) / "steps" / "07-from-the-earlier-attempt").mkdir(parents=True)
        resume_run(ws, row.id)
        assert not (ws.run_dir(row.id) / "steps").exists()


# --------------------------------------------------------------------------- item 6


def _pickle(path: Path) -> str:
    import torch

    from core.models import load_model

    torch.save(load_model("demo").module, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Payload:
    """Unpickling this creates a folder: evidence that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_trust_is_never_stored_and_resume_asks_for_it_again(tmp_path, quick_runner):
    model = tmp_path / "model.pt"
    sha = _pickle(model)
    with Workspace(tmp_path / "ws") as ws:
        row = execute_run(ws, RunRequest(RECIPE, ModelSource(str(model), trust=True), DataSource("demo"))).row
        assert "trust" not in row.load_options and row.model_sha256 == sha
        stored = json.loads(ws._read("SELECT load_options FROM runs WHERE id = ?", (row.id,))[0][0])
        assert "trust" not in stored
        ws.finish_run(row.id, "interrupted", error="stopped")
        with pytest.raises(UntrustedPickleError, match="--trust"):
            resume_run(ws, row.id)
        assert resume_run(ws, row.id, trust=True).row.status == "done"


def test_trust_stored_by_an_older_version_is_ignored(tmp_path, quick_runner):
    model = tmp_path / "model.pt"
    _pickle(model)
    with Workspace(tmp_path / "ws") as ws:
        row = execute_run(ws, RunRequest(RECIPE, ModelSource(str(model), trust=True), DataSource("demo"))).row
        ws._write("UPDATE runs SET load_options = ?, status = 'interrupted' WHERE id = ?", (json.dumps({"trust": True}), row.id))
        with pytest.raises(UntrustedPickleError):
            resume_run(ws, row.id)


def test_a_replaced_model_file_is_refused_with_both_hashes_before_it_is_opened(tmp_path, quick_runner):
    import torch

    model = tmp_path / "model.pt"
    sha = _pickle(model)
    with Workspace(tmp_path / "ws") as ws:
        row = execute_run(ws, RunRequest(RECIPE, ModelSource(str(model), trust=True), DataSource("demo"))).row
        ws.finish_run(row.id, "interrupted", error="stopped")
        torch.save(Payload(tmp_path / "pwned"), model)
        new = hashlib.sha256(model.read_bytes()).hexdigest()
        with pytest.raises(EdgeSlimError, match="changed since") as info:
            resume_run(ws, row.id, trust=True)
        assert sha in str(info.value) and new in str(info.value)
        assert not (tmp_path / "pwned").exists()
        assert ws.get_run(row.id).status == "interrupted"
