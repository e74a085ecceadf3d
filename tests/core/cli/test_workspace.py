"""A --workspace path that holds no workspace yet is created and said so on stderr (a typo is seen at once)."""

from __future__ import annotations

import io

import core.cli as cli
from core.cli.workspace import open_workspace


def test_runs_list_on_a_mistyped_path_says_it_created_a_workspace(tmp_path, capsys):
    typo = tmp_path / "workspce"
    assert cli.main(["runs", "list", "--workspace", str(typo)]) == 0
    assert f"created new workspace at {typo}" in capsys.readouterr().err
    assert cli.main(["runs", "list", "--workspace", str(typo)]) == 0
    assert "created new workspace" not in capsys.readouterr().err  # only the first time


def test_the_default_workspace_is_announced_when_first_made(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESLIM_WORKSPACE", str(tmp_path / "default-ws"))
    out = io.StringIO()
    with open_workspace(None, stream=out) as ws:
        assert ws.path == tmp_path / "default-ws"
    with open_workspace("", stream=out):
        pass
    assert out.getvalue() == f"edgeslim-cli: created new workspace at {tmp_path / 'default-ws'}\n"


def test_export_of_a_run_in_a_mistyped_workspace_says_so(tmp_path, capsys):
    typo = tmp_path / "nope"
    code = cli.main(["export", "--run", "1", "--workspace", str(typo), "--target", "x86-64", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and f"created new workspace at {typo}" in err and "run 1" in err
