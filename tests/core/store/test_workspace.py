"""The workspace store: rows for every run, interrupted runs found, schema migrations, bad folders."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from core.errors import EdgeSlimError
from core.store import schema
from core.store.workspace import Workspace

RECIPE = '[[step]]\ntechnique = "finetune"\n'


def _new_run(ws: Workspace, key: str = "k1") -> int:
    return ws.create_run(
        name="r", recipe_name="r", recipe_toml=RECIPE, techniques=["finetune"], model_spec="demo", data_spec="demo",
        load_options={}, options={"batch": 1}, trial_key=key,
    )


def test_a_run_goes_from_queued_to_done_with_its_metrics(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        run_id = _new_run(ws)
        assert ws.get_run(run_id).status == "queued"
        ws.start_run(run_id)
        row = ws.get_run(run_id)
        assert row.status == "running" and row.pid and row.started
        ws.finish_run(run_id, "done", {"baseline": {"accuracy": 0.9}, "final": {"accuracy": 0.8}, "steps": [{"index": 1}], "seconds": 2.5})
        row = ws.get_run(run_id)
        assert row.status == "done" and row.final == {"accuracy": 0.8} and row.steps == [{"index": 1}] and row.seconds == 2.5
        assert row.recipe_toml == RECIPE and row.techniques == ["finetune"]
        assert ws.find_done_trial("k1").id == run_id and ws.find_done_trial("other") is None
    assert (tmp_path / "ws" / "edgeslim.sqlite").is_file() and (tmp_path / "ws" / "artifacts").is_dir()


def test_database_is_in_wal_mode_and_at_the_latest_schema(tmp_path):
    Workspace(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "edgeslim.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == schema.LATEST


def test_a_run_left_running_by_a_dead_process_is_marked_interrupted(tmp_path):
    with Workspace(tmp_path) as ws:
        run_id = _new_run(ws)
        ws.start_run(run_id)
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout
        ws._write("UPDATE runs SET pid = ? WHERE id = ?", (int(dead), run_id))
        live = _new_run(ws, "k2")
        ws.start_run(live)  # this process: alive
    with Workspace(tmp_path) as again:
        assert again.interrupted == [run_id]
        assert again.get_run(run_id).status == "interrupted" and "resume" in again.get_run(run_id).error
        assert again.get_run(live).status == "running"


def test_migrations_bring_an_old_file_up_and_refuse_a_newer_one(tmp_path):
    conn = sqlite3.connect(tmp_path / "edgeslim.sqlite")
    assert schema.migrate(conn) == 0  # a new file starts at 0 and is migrated
    assert schema.current_version(conn) == schema.LATEST
    conn.execute("UPDATE schema_version SET version = ?", (schema.LATEST + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(EdgeSlimError, match="newer EdgeSlim"):
        Workspace(tmp_path)


def test_an_unreadable_database_or_a_file_path_gives_a_clear_error(tmp_path):
    (tmp_path / "edgeslim.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(EdgeSlimError, match="unreadable"):
        Workspace(tmp_path)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(EdgeSlimError, match="not a folder"):
        Workspace(f)


def test_unknown_run_and_delete(tmp_path):
    with Workspace(tmp_path) as ws:
        with pytest.raises(EdgeSlimError, match="no run 42"):
            ws.get_run(42)
        run_id = _new_run(ws)
        ws.run_dir(run_id).mkdir(parents=True)
        ws.delete_run(run_id)
        assert ws.list_runs() == [] and not ws.run_dir(run_id).exists()


def test_data_version_changes_when_another_connection_commits(tmp_path):
    with Workspace(tmp_path / "ws") as watcher, Workspace(tmp_path / "ws") as writer:
        before = watcher.data_version()
        assert watcher.data_version() == before  # reading does not change it
        _new_run(writer)
        assert watcher.data_version() != before
