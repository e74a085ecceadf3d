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
