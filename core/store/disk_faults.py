"""Telling a full disk (and a read-only folder) apart from a bug, wherever a write failed.

A run that fills the disk fails deep inside torch, ONNX or SQLite, each with
its own exception; without this it was stored as a crash ("interrupted") or
shown as an internal error. The errno is what they share (SQLite says it in words).
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path
from typing import Optional

from core.errors import EdgeSlimError

_WORDS = {errno.ENOSPC: ("no space left on device", "database or disk is full"), errno.EROFS: ("read-only file system",)}


def write_fault(exc: BaseException) -> Optional[int]:
    """ENOSPC or EROFS when ``exc`` (or what caused it) is a failed write for want of space or a writable disk."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _WORDS:
            return exc.errno
        if isinstance(exc, (OSError, sqlite3.Error, RuntimeError)):
            text = str(exc).lower()
            for code, words in _WORDS.items():
                if any(w in text for w in words):
                    return code
        exc = exc.__cause__ or exc.__context__
    return None


def write_fault_error(code: int, where: Path, run_id: Optional[int] = None) -> EdgeSlimError:
    """The user's words for a full or read-only disk under ``where``."""
    run = f"run {run_id} stopped: " if run_id is not None else ""
    resume = f"; then resume it with `edgeslim-cli runs resume {run_id}`" if run_id is not None else ""
    if code == errno.ENOSPC:
        return EdgeSlimError(f"{run}disk full while writing to {where}", f"free space on that disk (or choose a folder on another disk){resume}")
    return EdgeSlimError(f"{run}{where} is on a read-only file system", f"choose a folder you can write to{resume}")


def as_user_error(exc: BaseException) -> Optional[EdgeSlimError]:
    """``exc`` in the user's words when it is a full or read-only disk (naming the file when it is known), else None."""
    code = write_fault(exc)
    if code is None:
        return None
    where, seen = None, set()
    while exc is not None and id(exc) not in seen and where is None:
        seen.add(id(exc))
        where = getattr(exc, "filename", None) if isinstance(exc, OSError) else None
        exc = exc.__cause__ or exc.__context__
    return write_fault_error(code, Path(where) if where else Path("the output folder"))
