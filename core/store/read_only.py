"""Opening a workspace database that cannot be written (a read-only folder, mount or file).

Listing and showing runs need no writes, but the normal open turns WAL on,
migrates and marks dead runs interrupted, and SQLite's "attempt to write a
readonly database" then read as "unreadable, restore from a backup" though
the file was intact. Here the file is opened with ``mode=ro`` (and, when even
the WAL side files cannot be made, ``immutable=1``) and nothing is written.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from core.errors import EdgeSlimError
from core.store.schema import LATEST


def is_writable(folder: Path, db: Path) -> bool:
    """Whether the workspace folder and its database file can be written (False on a read-only mount, even for root)."""
    return os.access(folder, os.W_OK) and (not db.exists() or os.access(db, os.W_OK))


def connect_read_only(db: Path, folder: Path) -> sqlite3.Connection:
    """A connection that never writes, to a database at the schema this EdgeSlim reads."""
    last: Exception | None = None
    for extra in ("", "&immutable=1"):  # immutable: a WAL database whose -shm file cannot be created in a read-only folder
        try:
            conn = sqlite3.connect(f"file:{quote(str(db.absolute()))}?mode=ro{extra}", uri=True, timeout=30.0,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            version = schema_version(conn)
            break
        except sqlite3.OperationalError as exc:
            last = exc
    else:
        raise EdgeSlimError(f"the workspace database {db} cannot be opened read-only ({last})",
                            "check that the file can be read, or open another workspace folder")
    if version != LATEST:
        conn.close()
        if version > LATEST:
            raise EdgeSlimError(f"the workspace {folder} was written by a newer EdgeSlim (schema {version}, this one knows {LATEST})",
                                "upgrade EdgeSlim, or open another workspace")
        raise EdgeSlimError(
            f"the workspace {folder} is read-only and at an older schema ({version}; this EdgeSlim uses {LATEST}), "
            "so it cannot be upgraded to be read",
            "make the folder writable once (or copy it to a folder you can write to) and open it again",
        )
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    """The stored schema version, read without creating anything (0: none yet)."""
    try:
        row = conn.execute("SELECT version FROM schema_version").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # a real database, just never migrated
            return 0
        raise
    return int(row[0]) if row else 0
