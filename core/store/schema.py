"""The workspace database's schema and its ordered migrations.

``schema_version`` holds one row: the version the file is at. Opening a file
runs every migration above that version, each in its own transaction, so an
old workspace is brought up to date and a crash mid-migration leaves it at the
last complete version. A file from a newer EdgeSlim is refused, not damaged.
"""

from __future__ import annotations

import sqlite3

from core.errors import EdgeSlimError

# the columns of runs after its id, as version 1 made them (version 2 copies them into a table with AUTOINCREMENT)
_RUN_COLUMNS = """name TEXT NOT NULL,
            recipe_id INTEGER NOT NULL REFERENCES recipes(id),
            model_id INTEGER REFERENCES models(id), dataset_id INTEGER REFERENCES datasets(id),
            sweep_id INTEGER REFERENCES sweeps(id),
            trial_key TEXT NOT NULL, status TEXT NOT NULL,
            model_spec TEXT NOT NULL, data_spec TEXT NOT NULL, load_options TEXT NOT NULL, options TEXT NOT NULL,
            seed INTEGER NOT NULL DEFAULT 0, techniques TEXT NOT NULL DEFAULT '',
            pid INTEGER, host TEXT, created TEXT NOT NULL, started TEXT, finished TEXT, seconds REAL,
            baseline TEXT, final TEXT, steps TEXT, artifacts TEXT, error TEXT, versions TEXT"""
_RUN_NAMES = ("name, recipe_id, model_id, dataset_id, sweep_id, trial_key, status, model_spec, data_spec, load_options, options, "
              "seed, techniques, pid, host, created, started, finished, seconds, baseline, final, steps, artifacts, error, versions")

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
    # run ids are never reused (AUTOINCREMENT), so a new run never writes into a deleted run's artifacts/run-<id>;
    # model_sha256 is the model file's hash at the first attempt, which a resume must match
    (2, (
        f"CREATE TABLE runs_v2 (id INTEGER PRIMARY KEY AUTOINCREMENT, {_RUN_COLUMNS}, model_sha256 TEXT)",
        f"INSERT INTO runs_v2 (id, {_RUN_NAMES}) SELECT id, {_RUN_NAMES} FROM runs",
        "DROP TABLE runs",
        "ALTER TABLE runs_v2 RENAME TO runs",
        "CREATE INDEX runs_trial ON runs(trial_key)",
        "CREATE INDEX runs_sweep ON runs(sweep_id)",
    )),
    # the device a run trained on, in words ("cpu", "cuda:0 (NVIDIA …)"), as result.json records it
    (3, (
        "ALTER TABLE runs ADD COLUMN device TEXT",
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
        if conn.in_transaction:
            conn.commit()
        conn.execute("BEGIN IMMEDIATE")  # one transaction per migration, DDL included; one process migrates at a time
        try:
            if current_version(conn) < version:  # another process may have applied it while this one waited
                for sql in statements:
                    conn.execute(sql)
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return before
