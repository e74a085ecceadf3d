"""Read-only folders and full disks are found before any model is loaded (issue 15, item 11).

Tests run as root here, where chmod does not stop writes, so the file system's
answer is simulated: creating a file under the test's folder raises the errno.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest

import core.models
from core.cli import main
from core.errors import EdgeSlimError
from core.writable import check_writable


def refuse_writes(monkeypatch, under: Path, code: int) -> None:
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).is_relative_to(under):
            raise OSError(code, os.strerror(code))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.mark.parametrize("code, words", [(errno.EROFS, "read-only file system"), (errno.ENOSPC, "disk full"),
                                         (errno.EACCES, "cannot write to")])
def test_an_unwritable_folder_is_named(tmp_path, monkeypatch, code, words):
    refuse_writes(monkeypatch, tmp_path, code)
    with pytest.raises(EdgeSlimError) as info:
        check_writable(tmp_path / "new" / "out", "--out")
    assert words in info.value.problem and "--out" in info.value.fix
    assert not (tmp_path / "new").exists()


def test_a_writable_folder_passes_and_leaves_nothing(tmp_path):
    check_writable(tmp_path / "a" / "b", "--out")
    assert list(tmp_path.iterdir()) == []


def test_too_little_free_space_is_disk_full(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(100 << 30, 100 << 30, 4096))
    with pytest.raises(EdgeSlimError, match="disk full"):
        check_writable(tmp_path / "o", "--out")


@pytest.mark.parametrize("argv", [
    ("run", "{tmp}/r.toml", "--model", "demo", "--data", "demo", "--out", "{tmp}/o"),
    ("run", "{tmp}/r.toml", "--model", "demo", "--data", "demo", "--workspace", "{tmp}/ws"),
    ("export", "--model", "demo", "--target", "x86-64", "--out", "{tmp}/b"),
    ("sweep", "{tmp}/s.toml", "--model", "demo", "--data", "demo", "--workspace", "{tmp}/ws"),
], ids=["run-out", "run-workspace", "export-out", "sweep-workspace"])
def test_cli_refuses_a_read_only_output_before_loading_the_model(tmp_path, monkeypatch, capsys, argv):
    (tmp_path / "r.toml").write_text('[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.3\n')
    (tmp_path / "s.toml").write_text('name = "g"\nrecipe = "r.toml"\n[grid]\n"prune.unstructured.sparsity" = [0.2, 0.5]\n')
    refuse_writes(monkeypatch, tmp_path, errno.EROFS)

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before the output folder was checked")

    monkeypatch.setattr(core.models, "load_model", no_loading)
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and "read-only file system" in err and "Traceback" not in err
