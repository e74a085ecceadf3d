"""``edgeslim --screenshot`` (packaging's smoke test) ends with an error when the workspace cannot be opened (issue 15, item 12).

It used to wait for ever: the workspace error opened a modal box inside the
window's constructor, so the ``idle`` signal that takes the screenshot never came.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def corrupt_database(ws: Path) -> None:
    ws.mkdir()
    (ws / "edgeslim.sqlite").write_bytes(b"this is not SQLite " * 300)


def empty_database_beside_artifacts(ws: Path) -> None:
    (ws / "artifacts" / "run-1").mkdir(parents=True)
    (ws / "artifacts" / "run-1" / "model.onnx").write_bytes(b"kept")
    (ws / "edgeslim.sqlite").write_bytes(b"")


@pytest.mark.parametrize("damage, fragment", [(corrupt_database, "unreadable"), (empty_database_beside_artifacts, "empty (0 bytes)")],
                         ids=["corrupt", "0-bytes"])
def test_screenshot_with_an_unreadable_workspace_exits_with_the_error(tmp_path, damage, fragment):
    ws = tmp_path / "ws"
    damage(ws)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    try:
        done = subprocess.run([sys.executable, "-m", "gui.app", "--screenshot", str(tmp_path / "shot.png"), "--workspace", str(ws)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("edgeslim --screenshot did not exit with an unreadable workspace")
    assert done.returncode == 2, done.stderr
    assert f"edgeslim: error: the workspace database {ws / 'edgeslim.sqlite'}" in done.stderr
    assert fragment in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "shot.png").exists()


def test_screenshot_size_is_the_asked_for_size(tmp_path):
    """``--size WxH``: the PNG has exactly that size, even below the size the pages would ask for."""
    import struct

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    shot = tmp_path / "explore.png"
    done = subprocess.run([sys.executable, "-m", "gui.app", "--page", "explore", "--size", "1024x640", "--screenshot", str(shot),
                           "--workspace", str(tmp_path / "ws")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert struct.unpack(">II", shot.read_bytes()[16:24]) == (1024, 640)


@pytest.mark.parametrize("bad", ["1024", "wide", "100x100"])
def test_a_bad_size_is_a_usage_error(bad, capsys):
    from gui.app import parse_args

    with pytest.raises(SystemExit) as info:
        parse_args(["--size", bad])
    assert info.value.code == 2 and "is not a window size WxH" in capsys.readouterr().err


def test_edgeslim_workspace_wins_over_the_remembered_one(qtbot, tmp_path, monkeypatch):
    """Item 9: the environment names this start's workspace; the settings only remember the last one."""
    from PySide6.QtCore import QSettings

    from gui.app import open_window, parse_args

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("workspace", str(tmp_path / "remembered"))
    monkeypatch.setenv("EDGESLIM_WORKSPACE", str(tmp_path / "from-env"))
    win = open_window(parse_args([]), settings=settings, persist=False, headless=True)
    qtbot.addWidget(win)
    try:
        assert win.workspace.path == tmp_path / "from-env"
    finally:
        win.close()
    win = open_window(parse_args(["--workspace", str(tmp_path / "flag")]), settings=settings, persist=False, headless=True)
    qtbot.addWidget(win)
    try:
        assert win.workspace.path == tmp_path / "flag"  # the command line wins over both
    finally:
        win.close()
