"""A workspace this process cannot write is listed and shown read-only, not called "unreadable" (issue 15, item 11).

Tests run as root here, where chmod does not stop writes, so "cannot write"
is simulated with ``os.access``; the read-only connection itself is real
(``mode=ro``: any write through it fails).
"""

from __future__ import annotations

import os
import sqlite3

import pytest

import core.store.read_only as read_only
from core.cli import main
from core.errors import EdgeSlimError
from core.store.schema import LATEST
from core.store.workspace import Workspace


def stored_run(tmp_path) -> None:
    with Workspace(tmp_path / "ws") as ws:
        run_id = ws.create_run(name="kept", recipe_name="r", recipe_toml="", techniques=[], model_spec="demo", data_spec="demo",
                               load_options={}, options={}, trial_key="k")
        ws.start_run(run_id)
        ws.finish_run(run_id, "done", {"seconds": 1})


def no_writes(monkeypatch) -> None:
    """Folder and file report "not writable"; the normal open (which migrates, so writes) would be a failure."""
    import core.store.workspace as workspace

    real = os.access
    monkeypatch.setattr(read_only.os, "access", lambda p, mode, **kw: False if mode & os.W_OK else real(p, mode, **kw))

    def migrate(*args, **kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(workspace, "migrate", migrate)


@pytest.mark.parametrize("argv, shown", [(("runs", "list"), "kept"), (("runs", "show", "1"), "kept")], ids=["list", "show"])
def test_runs_of_a_read_only_workspace_are_listed_and_shown(tmp_path, monkeypatch, capsys, argv, shown):
    stored_run(tmp_path)
    no_writes(monkeypatch)
    before = (tmp_path / "ws" / "edgeslim.sqlite").read_bytes()
    code = main([*argv, "--workspace", str(tmp_path / "ws")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert shown in out and "unreadable" not in err and "created new workspace" not in err
    assert (tmp_path / "ws" / "edgeslim.sqlite").read_bytes() == before


def test_the_read_only_connection_never_writes(tmp_path):
    stored_run(tmp_path)
    with Workspace(tmp_path / "ws", read_only=True) as ws:
        assert [r.name for r in ws.list_runs()] == ["kept"] and ws.interrupted == []
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ws._write("DELETE FROM runs")
    with Workspace(tmp_path / "ws") as ws:
        assert len(ws.list_runs()) == 1


def test_a_read_only_workspace_at_an_older_schema_says_it_cannot_be_upgraded(tmp_path):
    stored_run(tmp_path)
    conn = sqlite3.connect(tmp_path / "ws" / "edgeslim.sqlite")
    conn.execute("UPDATE schema_version SET version = ?", (LATEST - 1,))
    conn.commit()
    conn.close()
    with pytest.raises(EdgeSlimError) as info:
        Workspace(tmp_path / "ws", read_only=True)
    assert "read-only and at an older schema" in info.value.problem and "cannot be upgraded" in info.value.problem
    assert "writable" in info.value.fix


def test_a_corrupt_database_opened_read_only_is_still_unreadable(tmp_path):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "edgeslim.sqlite").write_bytes(b"not SQLite at all " * 100)
    with pytest.raises(EdgeSlimError, match="unreadable"):
        Workspace(tmp_path / "ws", read_only=True)


NOBODY = """
import sys
from core.store.workspace import Workspace
with Workspace(sys.argv[1], read_only=True) as ws:
    print([r.name for r in ws.list_runs()])
try:
    Workspace(sys.argv[1])
except Exception as exc:
    print(exc)
"""


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or not os.path.exists("/usr/bin/setpriv")
                    or not os.path.exists("/usr/bin/python3"), reason="needs root, setpriv and a system python to act as nobody")
def test_a_really_read_only_folder_as_another_user():
    """chmod is real for an unprivileged user: the WAL database opens only through the immutable fallback."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="edgeslim-ro-"))  # pytest's own tmp folders are closed to other users
    try:
        stored_run(base)
        for path in (base / "ws", base / "ws" / "artifacts", base / "ws" / "edgeslim.sqlite"):
            path.chmod(0o555 if path.is_dir() else 0o444)
        base.chmod(0o755)
        root = Path(__file__).resolve().parents[3]
        done = subprocess.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
                               NOBODY, str(base / "ws")], env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if "ModuleNotFoundError" in done.stderr or "Permission denied" in done.stderr:
        pytest.skip(f"the system python cannot import the project as nobody: {done.stderr.strip().splitlines()[-1]}")
    lines = done.stdout.splitlines()
    assert lines[0] == "['kept']", done.stderr
    assert "is read-only" in lines[1] and "unreadable" not in lines[1]


def test_export_of_a_run_reads_a_read_only_workspace(tmp_path, monkeypatch, capsys):
    """Export only reads the run: a read-only workspace gets as far as the run's missing files, not "unreadable"."""
    stored_run(tmp_path)
    no_writes(monkeypatch)
    code = main(["export", "--run", "1", "--workspace", str(tmp_path / "ws"), "--target", "x86-64", "--out", str(tmp_path / "b"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "files are missing" in err and "read-only" not in err and "unreadable" not in err


def test_opening_a_read_only_workspace_to_write_says_read_only_not_unreadable(tmp_path, monkeypatch):
    stored_run(tmp_path)
    no_writes(monkeypatch)  # what SQLite answers when the folder or file cannot be written
    with pytest.raises(EdgeSlimError) as info:
        Workspace(tmp_path / "ws")
    assert "is read-only" in info.value.problem and "unreadable" not in info.value.problem
    assert "restore" not in info.value.fix and "write to" in info.value.fix
