"""A full disk during a run is stored and shown as "disk full", not as a crash (issue 15, item 11)."""

from __future__ import annotations

import errno
import sqlite3

import pytest

import core.app.execute as execute
from core.errors import EdgeSlimError
from core.pipeline.runner import RunOptions
from core.store.disk_faults import write_fault
from core.app.execute import RunRequest, execute_run
from core.app.sources import DataSource, ModelSource
from core.store.workspace import Workspace

SPARSE = '[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.3\n'


def test_the_fault_is_found_through_the_chain_and_in_sqlite_words():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("saving the ONNX file failed") from inner
    except RuntimeError as outer:
        assert write_fault(outer) == errno.ENOSPC
    assert write_fault(sqlite3.OperationalError("database or disk is full")) == errno.ENOSPC
    assert write_fault(OSError(errno.EROFS, "Read-only file system")) == errno.EROFS
    assert write_fault(ValueError("no space left on device")) is None  # only write errors are read for words
    assert write_fault(OSError(errno.ENOENT, "gone")) is None


def test_a_full_disk_mid_run_is_stored_as_failed_disk_full(tmp_path, monkeypatch):
    def fill_the_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "artifacts" / "run-1" / "model.onnx"))

    monkeypatch.setattr(execute, "run_recipe", fill_the_disk)
    with Workspace(tmp_path) as ws:
        with pytest.raises(EdgeSlimError) as info:
            execute_run(ws, RunRequest(SPARSE, ModelSource("demo"), DataSource("demo"), options=RunOptions(threads=1, warmup=1, repeats=2)))
        assert "disk full" in info.value.problem and "runs resume 1" in info.value.fix
        (row,) = ws.list_runs()
        assert row.status == "failed" and "disk full" in row.error
    with Workspace(tmp_path) as again:  # not found "interrupted (process stopped)" next time
        assert again.interrupted == [] and again.get_run(1).status == "failed"


def test_a_full_disk_in_a_cli_run_is_one_clear_line(tmp_path, monkeypatch, capsys):
    """run --out (no workspace): the Errno 28 from deep inside the run is said as "disk full", not an internal error."""
    import core.pipeline.runner as runner
    from core.cli import main

    def fill_the_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "o" / "model.onnx"))

    monkeypatch.setattr(runner, "run_recipe", fill_the_disk)
    (tmp_path / "r.toml").write_text(SPARSE)
    code = main(["run", str(tmp_path / "r.toml"), "--model", "demo", "--data", "demo", "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "internal error" not in err
    assert f"disk full while writing to {tmp_path / 'o' / 'model.onnx'}" in err
