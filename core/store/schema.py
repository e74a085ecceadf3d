"""The workspace database's schema and its ordered migrations.

``schema_version`` holds one row: the version the file is at. Opening a file
runs every migration above that version, each in its own transaction, so an
old workspace is brought up to date and a crash mid-migration leaves it at the
last complete version. A file from a newer EdgeSlim is refused, not damaged.
"""

from __future__ import annotations

import sqlite3

from core.errors import EdgeSlimError

# (version, statements) in order; never edit a released entry, append a new one.
MIGRATIONS: list[tuple[int, tuple[str, ...]]] = [
    (1, (
        """CREATE TABLE models (
            id INTEGER PRIMARY KEY, spec TEXT NOT NULL, fingerprint TEXT NOT NULL UNIQUE,
            name TEXT, info TEXT, created TEXT NOT NULL)""",
        """CREATE TABLE datasets (
            id INTEGER PRIMARY KEY, spec TEXT NOT NULL, fingerprint TEXT NOT NULL UNIQUE,
            name TEXT, info TEXT, created TEXT NOT NULL)""",
        """CREATE TABLE recipes (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL, toml TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created TEXT NOT NULL)""",
        """CREATE TABLE sweeps (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, status TEXT NOT NULL,
            created TEXT NOT NULL, finished TEXT, info TEXT)""",
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL,
            recipe_id INTEGER NOT NULL REFERENCES recipes(id),
            model_id INTEGER REFERENCES models(id), dataset_id INTEGER REFERENCES datasets(id),
            sweep_id INTEGER REFERENCES sweeps(id),
            trial_key TEXT NOT NULL, status TEXT NOT NULL,
            model_spec TEXT NOT NULL, data_spec TEXT NOT NULL, load_options TEXT NOT NULL, options TEXT NOT NULL,
            seed INTEGER NOT NULL DEFAULT 0, techniques TEXT NOT NULL DEFAULT '',
            pid INTEGER, host TEXT, created TEXT NOT NULL, started TEXT, finished TEXT, seconds REAL,
            baseline TEXT, final TEXT, steps TEXT, artifacts TEXT, error TEXT, versions TEXT)""",
        "CREATE INDEX runs_trial ON runs(trial_key)",
        "CREATE INDEX runs_sweep ON runs(sweep_id)",
    )),
]
LATEST = MIGRATIONS[-1][0]


def current_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, path: str = "") -> int:
    """Bring the database to ``LATEST``; returns the version it was at before."""
    before = current_version(conn)
    if before > LATEST:
        raise EdgeSlimError(
            f"the workspace {path} was written by a newer EdgeSlim (schema {before}, this one knows {LATEST})",
            "upgrade EdgeSlim, or open another workspace",
        )
    for version, statements in MIGRATIONS:
        if version <= before:
            continue
        with conn:  # one transaction per migration
            for sql in statements:
                conn.execute(sql)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    return before
