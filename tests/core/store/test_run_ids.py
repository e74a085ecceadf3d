"""Run ids are never reused, and a lost database beside earlier runs' files is an error (issue 15, item 2).

A reused id means a new run writes into an old ``artifacts/run-<id>`` folder and
its files mix with the old ones.
"""

from __future__ import annotations

import sqlite3

import pytest

from core.errors import EdgeSlimError
from core.store import schema
from core.store.workspace import Workspace

RECIPE = '[[step]]\ntechnique = "finetune"\n'


def _new_run(ws: Workspace, key: str = "k") -> int:
    return ws.create_run(name="r", recipe_name="r", recipe_toml=RECIPE, techniques=["finetune"], model_spec="demo",
                         data_spec="demo", load_options={}, options={}, trial_key=key)


def test_ids_are_never_reused_after_a_delete(tmp_path):
    with Workspace(tmp_path) as ws:
        first, second = _new_run(ws), _new_run(ws)
        ws.delete_run(second)
        third = _new_run(ws)
        assert third > second
        ws.delete_run(third)
        ws.delete_run(first)
        assert _new_run(ws) > third
    with Workspace(tmp_path) as again:  # the high-water mark is in the file, not in the object
        assert _new_run(again) > third + 1


def test_a_new_id_is_above_every_run_folder_on_disk(tmp_path):
    Workspace(tmp_path).close()
    (tmp_path / "artifacts" / "run-7").mkdir()  # files of a run the database does not know (a restored older backup)
    with Workspace(tmp_path) as ws:
        assert _new_run(ws) == 8


@pytest.mark.parametrize("state", ["empty", "missing"])
def test_a_lost_database_beside_earlier_runs_files_is_an_error(tmp_path, state):
    with Workspace(tmp_path) as ws:
        run_dir = ws.run_dir(_new_run(ws))
    run_dir.mkdir()
    (run_dir / "model.onnx").write_bytes(b"earlier result")
    db = tmp_path / "edgeslim.sqlite"
    for side in tmp_path.glob("edgeslim.sqlite-*"):
        side.unlink()
    if state == "empty":
        db.write_bytes(b"")
    else:
        db.unlink()
    with pytest.raises(EdgeSlimError, match="is empty|is missing") as info:
        Workspace(tmp_path)
    assert "1 earlier run" in str(info.value) and "backup" in str(info.value)
    assert (run_dir / "model.onnx").read_bytes() == b"earlier result"
    assert (db.stat().st_size == 0) if state == "empty" else not db.exists()  # nothing was recreated


def test_an_empty_database_without_run_files_is_a_new_workspace(tmp_path):
    (tmp_path / "edgeslim.sqlite").write_bytes(b"")
    (tmp_path / "artifacts").mkdir()
    with Workspace(tmp_path) as ws:
        assert _new_run(ws) == 1


def test_a_version_1_workspace_keeps_its_runs_and_their_ids(tmp_path):
    conn = sqlite3.connect(tmp_path / "edgeslim.sqlite")
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for sql in schema.MIGRATIONS[0][1]:
        conn.execute(sql)
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.execute("INSERT INTO recipes (id, name, toml, hash, created) VALUES (1, 'r', '', 'h', 'now')")
    for run_id in (1, 5):
        conn.execute("INSERT INTO runs (id, name, recipe_id, trial_key, status, model_spec, data_spec, load_options, options, created) "
                     "VALUES (?, 'old', 1, 'k', 'done', 'demo', 'demo', '{}', '{}', 'now')", (run_id,))
    conn.commit()
    conn.close()
    with Workspace(tmp_path) as ws:
        assert [r.id for r in ws.list_runs()] == [1, 5] and ws.get_run(5).model_sha256 is None
        assert schema.current_version(ws._conn) == schema.LATEST
        ws.delete_run(5)
        assert _new_run(ws) == 6
