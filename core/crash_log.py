"""Reporting an internal error: the traceback in a file of its own, and never a second failure.

One fixed log path was overwritten by every crash (two users, or two runs, lost
each other's report) and, when it could not be written, the write raised inside
the handler and printed two raw tracebacks. Here each crash gets a new file
(``mkstemp``: unique, created exclusively, readable by its owner only) in the
user's state folder, else the temp folder; if nowhere is writable the caller is
told so, and nothing here raises.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Optional


def crash_dirs() -> list[Path]:
    """Where crash logs go, best first: ``$XDG_STATE_HOME/EdgeSlim/crash-logs`` (``~/.local/state/…``), then temp."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return [Path(state) / "EdgeSlim" / "crash-logs", Path(tempfile.gettempdir())]


def write_crash_log(text: str, prefix: str = "edgeslim-cli-crash", dirs: Optional[list[Path]] = None) -> Optional[Path]:
    """``text`` in a new file; its path, or None when no folder could take it. Never raises."""
    try:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for folder in dirs if dirs is not None else crash_dirs():
            name = None
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(prefix=f"{prefix}-{stamp}-{os.getpid()}-", suffix=".log", dir=folder)
                with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
                    f.write(text)
                return Path(name)
            except (OSError, ValueError):  # read-only, full, missing or odd folder: try the next one
                if name:
                    Path(name).unlink(missing_ok=True)
                continue
    except Exception:  # noqa: BLE001 - reporting a failure must not fail
        pass
    return None


def describe(exc: BaseException) -> str:
    """``Type: first line of the message`` — safe even when the exception's ``__str__`` itself fails."""
    try:
        lines = str(exc).splitlines()
        first = lines[0] if lines else ""
    except Exception:  # noqa: BLE001
        first = "(its message could not be shown)"
    return f"{type(exc).__name__}: {first}"
