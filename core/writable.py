"""Checking, before any model is loaded, that an output folder can be written.

A read-only folder, a full disk or a file where a folder must go used to
surface as Errno 28/30 or FileExistsError only after minutes of loading and
measuring. A small probe file written where the output will go finds all of
these at once, root's read-only mounts included (``os.access`` alone does not).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from core.errors import EdgeSlimError
from core.store.disk_faults import write_fault

MIN_FREE_BYTES = 16 * 1024 * 1024  # less than this cannot hold even a small model's files and database pages


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (what will be written into when the rest is created)."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or ".")


def check_writable(path: Path | str, flag: str) -> None:
    """Refuse ``flag PATH`` now if its folder is a file, read-only, or on a full disk."""
    path = Path(path).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise EdgeSlimError(f"{flag} {path} is a file", f"give a folder path for {flag}")
    base = nearest_existing(path)
    if not base.is_dir():
        raise EdgeSlimError(f"{flag} {path} cannot be created: {base} is a file", f"give a folder path for {flag} that is not under a file")
    try:
        fd, probe = tempfile.mkstemp(prefix=".edgeslim-write-check-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _unwritable(exc, flag, path, base) from None
    try:
        free = shutil.disk_usage(base).free
    except OSError:
        return
    if free < MIN_FREE_BYTES:
        raise EdgeSlimError(f"disk full: the disk of {flag} {path} has only {free // 1024} KiB free",
                            f"free space on that disk, or choose a folder on another disk for {flag}")


def _unwritable(exc: OSError, flag: str, path: Path, base: Path) -> EdgeSlimError:
    fault = write_fault(exc)
    if fault == errno.ENOSPC:
        return EdgeSlimError(f"disk full: nothing can be written to {base} (for {flag} {path})",
                             f"free space on that disk, or choose a folder on another disk for {flag}")
    if fault == errno.EROFS:
        return EdgeSlimError(f"{flag} {path} is on a read-only file system", f"choose a folder you can write to for {flag}")
    return EdgeSlimError(f"cannot write to {base} for {flag} {path} ({exc.strerror or exc})", f"choose a folder you can write to for {flag}")
