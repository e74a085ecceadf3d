"""Hidden folders beside a destination, where a result is written before it is moved into place whole.

A writer makes ``.<name>.partial-<pid>-<random>`` next to the destination and
renames it into place only when complete, so a crash or a kill never leaves
half a result at the destination. The owner's process id is in the name: a
folder whose owner no longer runs is debris of a killed writer, and the next
writer to the same destination removes it.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Sequence

from core.errors import EdgeSlimError

_PARTIAL = re.compile(r"\.(?P<name>.+)\.partial-(?P<pid>\d+)-[0-9a-f]{8}")


def partial_dir(target: Path) -> Path:
    """A fresh hidden folder beside ``target`` (same file system, so a rename moves it into place atomically)."""
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise EdgeSlimError(f"cannot write beside {target} ({exc.strerror})", "choose a folder you can write to") from None
    return staging


def _owner_alive(pid: int) -> bool:
    from core.store.workspace import pid_alive

    return pid == os.getpid() or pid_alive(pid)


def stale_partials(target: Path) -> list[Path]:
    """The hidden partial folders of ``target`` left by writers that no longer run."""
    parent = target.parent
    if not parent.is_dir():
        return []
    stale = []
    for entry in parent.iterdir():
        m = _PARTIAL.fullmatch(entry.name)
        if m and m["name"] == target.name and entry.is_dir() and not entry.is_symlink() and not _owner_alive(int(m["pid"])):
            stale.append(entry)
    return sorted(stale)


def clean_stale_partials(target: Path) -> list[Path]:
    """Remove what killed writers left beside ``target``; returns the folders removed."""
    removed = []
    for folder in stale_partials(target):
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


def swap_into_place(staging: Path, target: Path, keep: Sequence[str] = ()) -> None:
    """Rename ``staging`` to ``target``; an existing ``target`` is moved aside first and removed only after.

    The names in ``keep`` (the user's own files in an earlier folder) are moved
    from the old folder into the new one before the old one is removed.
    """
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        target.rmdir()
    if not target.exists():
        os.rename(staging, target)  # fails rather than merging if something appeared meanwhile
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(old, target)
        raise
    for name in keep:
        os.rename(old / name, target / name)
    shutil.rmtree(old, ignore_errors=True)
