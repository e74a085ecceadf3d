"""Opening the workspace a CLI command names, and saying so when that starts a new one.

Opening a folder without a database creates an empty workspace — right for a
first run, but a mistyped ``--workspace`` path would silently start a second,
empty one, and ``runs list`` would show nothing. So every command that opens a
workspace says "created new workspace at …" on stderr when it made one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional, TextIO, Union

from core.controls import ask

if TYPE_CHECKING:
    from core.store.workspace import Workspace


def workspace_path(given: Optional[Union[str, Path]]) -> Path:
    """``--workspace W`` as a path; the user's default workspace when W is left out."""
    from core.store.workspace import default_workspace

    return Path(given).expanduser() if given else default_workspace()


def check_workspace_writable(given: Optional[Union[str, Path]]) -> None:
    """Refuse a ``--workspace`` folder that is a file, read-only or on a full disk, before any model is loaded."""
    from core.writable import check_writable

    check_writable(workspace_path(given), ask("workspace", action=False))


def open_workspace(given: Optional[Union[str, Path]], stream: Optional[TextIO] = None, **kwargs) -> "Workspace":
    """The workspace at ``given`` (default when empty), opened; a newly created one is announced on ``stream``."""
    from core.store.workspace import DB_NAME, Workspace

    path = workspace_path(given)
    existed = (path / DB_NAME).exists()
    ws = Workspace(path, **kwargs)
    if not existed:
        (stream or sys.stderr).write(f"edgeslim-cli: created new workspace at {ws.path.resolve()}\n")
    return ws


def open_workspace_to_read(given: Optional[Union[str, Path]], stream: Optional[TextIO] = None) -> "Workspace":
    """For commands that only read (``runs list``, ``runs show``): a workspace this process cannot write opens read-only."""
    from core.store.read_only import is_writable
    from core.store.workspace import DB_NAME, Workspace

    path = workspace_path(given)
    if (path / DB_NAME).is_file() and not is_writable(path, path / DB_NAME):
        return Workspace(path, read_only=True)
    return open_workspace(given, stream)


def workspace_for(args: argparse.Namespace, read: bool = False) -> "Workspace":
    """The workspace ``--workspace`` names: read-only when only reading and not writable; announced when new."""
    if read:  # listing and showing: a read-only workspace opens read-only
        return open_workspace_to_read(args.workspace)
    return open_workspace(args.workspace)  # says so when it creates one (a mistyped path)
