"""A workspace: one folder holding an SQLite database (WAL mode) and an ``artifacts/`` tree.

Every run is a row from the moment it is queued; its metrics are written after
each step and its files live in ``artifacts/run-<id>/`` (written atomically by
the runner). A run left ``running`` by a process that no longer exists is
marked ``interrupted`` the next time the workspace is opened, and can be run
again with :func:`core.app.execute.resume_run`. Several processes (sweep
workers) may write at once: WAL lets readers go on while one writer commits,
and each write is one short transaction.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Optional

from core.controls import ask
from core.errors import EdgeSlimError
from core.store.read_only import connect_read_only
from core.store.schema import migrate

DB_NAME = "edgeslim.sqlite"
STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")


def default_workspace() -> Path:
    """``$EDGESLIM_WORKSPACE``, else the user's data directory (XDG on Linux)."""
    env = os.environ.get("EDGESLIM_WORKSPACE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "EdgeSlim" / "workspace"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _json(value: Any) -> Optional[str]:
    return None if value is None else json.dumps(value, default=str)


def _unjson(text: Optional[str], empty: Any = None) -> Any:
    return empty if text is None else json.loads(text)


@dataclass
class RunRow:
    """A run as stored: what was asked, where it got to, and what it measured."""

    id: int
    name: str
    status: str
    recipe_name: str
    recipe_toml: str
    model_spec: str
    data_spec: str
    techniques: list[str]
    trial_key: str
    sweep_id: Optional[int]
    seed: int
    created: str
    started: Optional[str]
    finished: Optional[str]
    seconds: Optional[float]
    load_options: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    baseline: Optional[dict] = None
    final: Optional[dict] = None
    steps: list = field(default_factory=list)
    artifacts: dict = field(default_factory=dict)
    error: Optional[str] = None
    versions: dict = field(default_factory=dict)
    pid: Optional[int] = None
    host: Optional[str] = None
    model_sha256: Optional[str] = None  # the model file's hash at the first attempt (None: no file)
    device: Optional[str] = None  # what it trained on, in words ("cpu", "cuda:0 (NVIDIA …)"); None before it started

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def run_folder_ids(artifacts: Path) -> list[int]:
    """The ids of the ``run-<id>`` folders under ``artifacts`` (files of runs, stored or not)."""
    try:
        names = [p.name for p in artifacts.iterdir()]
    except OSError:
        return []
    return sorted(int(n[4:]) for n in names if n.startswith("run-") and n[4:].isdigit())


def missing_artifacts(row: "RunRow") -> list[str]:
    """The files a finished run recorded that are gone (all of them named when none was recorded)."""
    paths = [v for k, v in (row.artifacts or {}).items() if isinstance(v, str)]
    if not paths:
        return ["(no files recorded)"]
    return [p for p in paths if not Path(p).exists()]


def pid_alive(pid: Optional[int]) -> bool:
    """Whether a process with this id runs on this machine (a zombie does not count)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) holds its pid but runs nothing
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class Workspace:
    """The experiment store of one folder. Use it from one process at a time per object; it is thread-safe."""

    def __init__(self, path: Path | str, *, check_interrupted: bool = True, read_only: bool = False) -> None:
        """Open (creating when new) the workspace; ``read_only`` opens an existing one without writing anything."""
        self.path = Path(path).expanduser()
        if self.path.exists() and not self.path.is_dir():
            raise EdgeSlimError(f"the workspace {self.path} is a file, not a folder", "choose a folder for the workspace")
        self._refuse_lost_database()
        self.read_only = read_only
        self._lock = threading.RLock()
        self.interrupted: list[int] = []
        if read_only:
            try:
                self._conn = connect_read_only(self.db_path, self.path)
            except sqlite3.DatabaseError as exc:
                raise EdgeSlimError(f"the workspace database {self.db_path} is unreadable ({exc})",
                                    "open another workspace folder, or restore the file from a backup") from None
            return
        try:
            self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgeSlimError(f"cannot create the workspace folder {self.path} ({exc.strerror})", "choose a folder you can write to") from None
        try:
            self._conn = sqlite3.connect(str(self.db_path), timeout=30.0, check_same_thread=False, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.isolation_level = ""  # back to implicit transactions for `with conn:` blocks
            migrate(self._conn, str(self.path))
        except sqlite3.DatabaseError as exc:
            if "readonly" in str(exc) or "read-only" in str(exc):  # intact, but this process may not write it
                raise EdgeSlimError(f"the workspace {self.path} is read-only ({exc}); runs cannot be stored in it",
                                    f"choose a folder you can write to for {ask('workspace', action=False)} (listing and showing runs works read-only)") from None
            raise EdgeSlimError(
                f"the workspace database {self.db_path} is unreadable ({exc})", "open another workspace folder, or restore the file from a backup"
            ) from None
        self.interrupted = self.mark_interrupted() if check_interrupted else []

    def _refuse_lost_database(self) -> None:
        """A missing or empty database beside earlier runs' files is a loss to report, not a new workspace to start.

        Recreating it would restart the run ids at 1 and write new runs into
        the old ``artifacts/run-<id>`` folders.
        """
        db = self.db_path
        try:
            lost = not db.exists() or db.stat().st_size == 0
        except OSError:
            return  # unreadable: connecting says so
        runs = run_folder_ids(self.artifacts_dir) if lost else []
        if runs:
            state = "is empty (0 bytes)" if db.exists() else "is missing"
            raise EdgeSlimError(
                f"the workspace database {db} {state}, but {self.artifacts_dir} holds the files of {len(runs)} earlier run(s)",
                f"restore {DB_NAME} from a backup; or, to start afresh, move the artifacts folder out of {self.path} "
                "or choose another workspace folder",
            )

    # ------------------------------------------------------------------ basics

    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME

    @property
    def artifacts_dir(self) -> Path:
        return self.path / "artifacts"

    def run_dir(self, run_id: int) -> Path:
        return self.artifacts_dir / f"run-{run_id}"

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock, self._conn:
            return self._conn.execute(sql, tuple(params))

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    # ------------------------------------------------------------------ models, datasets, recipes

    def _upsert(self, table: str, spec: str, fingerprint: str, name: str, info: dict) -> int:
        self._write(
            f"INSERT OR IGNORE INTO {table} (spec, fingerprint, name, info, created) VALUES (?, ?, ?, ?, ?)",
            (spec, fingerprint, name, _json(info), now()),
        )
        return int(self._read(f"SELECT id FROM {table} WHERE fingerprint = ?", (fingerprint,))[0]["id"])

    def add_model(self, spec: str, fingerprint: str, name: str, info: Optional[dict] = None) -> int:
        return self._upsert("models", spec, fingerprint, name, info or {})

    def add_dataset(self, spec: str, fingerprint: str, name: str, info: Optional[dict] = None) -> int:
        return self._upsert("datasets", spec, fingerprint, name, info or {})

    def add_recipe(self, name: str, toml_text: str) -> int:
        import hashlib

        digest = hashlib.sha256(toml_text.encode()).hexdigest()
        self._write("INSERT OR IGNORE INTO recipes (name, toml, hash, created) VALUES (?, ?, ?, ?)", (name, toml_text, digest, now()))
        return int(self._read("SELECT id FROM recipes WHERE hash = ?", (digest,))[0]["id"])

    # ------------------------------------------------------------------ runs

    def create_run(
        self, *, name: str, recipe_name: str, recipe_toml: str, techniques: list[str], model_spec: str, data_spec: str,
        load_options: dict, options: dict, trial_key: str, seed: int = 0, model_id: Optional[int] = None,
        dataset_id: Optional[int] = None, sweep_id: Optional[int] = None, model_sha256: Optional[str] = None,
    ) -> int:
        """A queued run with a new id: above every id ever used here and every ``artifacts/run-<id>`` folder.

        Trust is never stored (``load_options['trust']`` is dropped): a replay
        asks for it again.
        """
        recipe_id = self.add_recipe(recipe_name, recipe_toml)
        stored = {k: v for k, v in load_options.items() if k != "trust"}
        floor = max(run_folder_ids(self.artifacts_dir), default=0)
        # one statement: it takes the write lock before it reads, so concurrent writers get distinct ids
        cur = self._write(
            """INSERT INTO runs (id, name, recipe_id, model_id, dataset_id, sweep_id, trial_key, status, model_spec, data_spec,
               load_options, options, seed, techniques, created, model_sha256)
               VALUES (MAX(?, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'runs'), 0),
                              COALESCE((SELECT MAX(id) FROM runs), 0)) + 1,
                       ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)""",
            (floor, name, recipe_id, model_id, dataset_id, sweep_id, trial_key, model_spec, data_spec, _json(stored),
             _json(options), seed, ",".join(techniques), now(), model_sha256),
        )
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def start_run(self, run_id: int) -> None:
        """Mark a run as running in this process (cleared of any earlier attempt's results)."""
        self._write(
            """UPDATE runs SET status='running', pid=?, host=?, started=?, finished=NULL, error=NULL,
               baseline=NULL, final=NULL, steps=NULL, artifacts=NULL WHERE id=?""",
            (os.getpid(), socket.gethostname(), now(), run_id),
        )

    def record_progress(self, run_id: int, result: dict) -> None:
        """Store a runner result dict (baseline, steps, final so far) while the run goes on."""
        self._write(
            "UPDATE runs SET baseline=?, steps=?, final=?, artifacts=?, versions=?, device=? WHERE id=?",
            (_json(result.get("baseline")), _json(result.get("steps", [])), _json(result.get("final")),
             _json(result.get("artifacts", {})), _json(result.get("versions", {})), result.get("device"), run_id),
        )

    def finish_run(self, run_id: int, status: str, result: Optional[dict] = None, error: Optional[str] = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if result is not None:
            self.record_progress(run_id, result)
        self._write(
            "UPDATE runs SET status=?, error=?, finished=?, seconds=? WHERE id=?",
            (status, error, now(), (result or {}).get("seconds"), run_id),
        )

    def get_run(self, run_id: int) -> RunRow:
        rows = self._read(_RUN_SELECT + " WHERE runs.id = ?", (run_id,))
        if not rows:
            raise EdgeSlimError(f"there is no run {run_id} in the workspace {self.path}", "list the runs with `edgeslim-cli runs list`")
        return _row(rows[0])

    def list_runs(self, status: Optional[str] = None, sweep_id: Optional[int] = None) -> list[RunRow]:
        where, params = [], []
        if status:
            where.append("runs.status = ?")
            params.append(status)
        if sweep_id is not None:
            where.append("runs.sweep_id = ?")
            params.append(sweep_id)
        sql = _RUN_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY runs.id"
        return [_row(r) for r in self._read(sql, params)]

    def data_version(self) -> int:
        """A number that changes whenever another process commits to the database (SQLite ``PRAGMA data_version``).

        Cheap enough to poll every second: the window watches it to show runs
        that a sweep, a worker or ``edgeslim-cli`` store while it is open.
        """
        return int(self._read("PRAGMA data_version")[0][0])

    def find_done_trial(self, trial_key: str) -> Optional[RunRow]:
        rows = self._read(_RUN_SELECT + " WHERE runs.trial_key = ? AND runs.status = 'done' ORDER BY runs.id DESC LIMIT 1", (trial_key,))
        return _row(rows[0]) if rows else None

    def delete_run(self, run_id: int) -> None:
        """Delete a run's row and files; refused while a process runs it (it would crash and leave orphan files)."""
        import shutil

        row = self.get_run(run_id)
        if row.status == "running" and (row.host != socket.gethostname() or pid_alive(row.pid)):
            where = f"process {row.pid}" + (f" on {row.host}" if row.host != socket.gethostname() else "")
            raise EdgeSlimError(f"run {run_id} is running ({where})",
                                "wait until it ends, or stop it (Ctrl+C, or Cancel in the app) and then delete it")
        self._write("DELETE FROM runs WHERE id = ?", (run_id,))
        from core.devices.measurements import delete_measurements

        delete_measurements(self, run_id)  # what was measured on a board goes with the run
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    def mark_interrupted(self) -> list[int]:
        """Runs left 'running' by a dead process on this machine become 'interrupted'; returns their ids."""
        host = socket.gethostname()
        dead = [
            int(r["id"]) for r in self._read("SELECT id, pid, host FROM runs WHERE status = 'running'")
            if r["host"] == host and not pid_alive(r["pid"])
        ]
        for run_id in dead:
            self._write(
                "UPDATE runs SET status='interrupted', error=?, finished=? WHERE id=? AND status='running'",
                ("the process running it stopped (crash, kill or power loss); resume it with `edgeslim-cli runs resume`", now(), run_id),
            )
        return dead

    # ------------------------------------------------------------------ sweeps

    def create_sweep(self, name: str, spec: str, info: Optional[dict] = None) -> int:
        cur = self._write("INSERT INTO sweeps (name, spec, status, created, info) VALUES (?, ?, 'running', ?, ?)", (name, spec, now(), _json(info or {})))
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def finish_sweep(self, sweep_id: int, status: str, info: Optional[dict] = None) -> None:
        self._write("UPDATE sweeps SET status=?, finished=?, info=COALESCE(?, info) WHERE id=?", (status, now(), _json(info), sweep_id))

    def get_sweep(self, sweep_id: int) -> dict:
        rows = self._read("SELECT * FROM sweeps WHERE id = ?", (sweep_id,))
        if not rows:
            raise EdgeSlimError(f"there is no sweep {sweep_id} in the workspace", "list the runs with `edgeslim-cli runs list`")
        d = dict(rows[0])
        d["info"] = _unjson(d.get("info"), {})
        return d


_RUN_SELECT = """SELECT runs.*, recipes.name AS recipe_name, recipes.toml AS recipe_toml
                 FROM runs JOIN recipes ON recipes.id = runs.recipe_id"""


def _row(r: sqlite3.Row) -> RunRow:
    return RunRow(
        id=r["id"], name=r["name"], status=r["status"], recipe_name=r["recipe_name"], recipe_toml=r["recipe_toml"],
        model_spec=r["model_spec"], data_spec=r["data_spec"], techniques=[t for t in (r["techniques"] or "").split(",") if t],
        trial_key=r["trial_key"], sweep_id=r["sweep_id"], seed=r["seed"], created=r["created"], started=r["started"],
        finished=r["finished"], seconds=r["seconds"], load_options=_unjson(r["load_options"], {}), options=_unjson(r["options"], {}),
        baseline=_unjson(r["baseline"]), final=_unjson(r["final"]), steps=_unjson(r["steps"], []),
        artifacts=_unjson(r["artifacts"], {}), error=r["error"], versions=_unjson(r["versions"], {}), pid=r["pid"], host=r["host"],
        model_sha256=r["model_sha256"] if "model_sha256" in r.keys() else None,
        device=r["device"] if "device" in r.keys() else None,
    )
