"""Latency and memory measured on a device, stored with the run in the workspace's database.

The table is this module's own (created if missing), beside the store's, so
the store's schema and migrations stay untouched. A measurement is written in
one transaction, after everything it reports is known: a cancel or a dropped
connection leaves no half-written row. Each target profile learns a correction
factor from the measurements made on boards of that profile, so its later
estimates can say "estimated, calibrated on N measurements".
"""

from __future__ import annotations

import json
import math
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Optional

from core.errors import EdgeSlimError

ROLES = ("run", "baseline")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS measurements (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL,
        role TEXT NOT NULL,
        session TEXT NOT NULL,
        device TEXT NOT NULL,
        target TEXT NOT NULL,
        created TEXT NOT NULL,
        latency_median_ms REAL NOT NULL,
        latency_p90_ms REAL NOT NULL,
        peak_rss_mb REAL,
        estimated_ms REAL,
        info TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS measurements_run ON measurements(run_id)",
)


@dataclass
class Measurement:
    """One model timed on one device: the figures and the device's and runtime's description."""

    run_id: int
    role: str  # run (the run's final model) | baseline (the model the run started from)
    device: str
    target: str  # the profile name the device was registered with
    latency_median_ms: float
    latency_p90_ms: float
    peak_rss_mb: Optional[float]
    estimated_ms: Optional[float]  # the profile's roofline estimate for the same file, for the calibration
    info: dict = field(default_factory=dict)  # device self-description, runtime, threads, runs, parity, bundle
    session: str = ""  # measurements taken together (a run and its interleaved baseline) share it
    created: str = ""
    id: Optional[int] = None

    def to_dict(self) -> dict:
        return {"id": self.id, "run_id": self.run_id, "role": self.role, "device": self.device, "target": self.target,
                "created": self.created, "session": self.session,
                "latency_ms": {"median": self.latency_median_ms, "p90": self.latency_p90_ms},
                "peak_rss_mb": self.peak_rss_mb, "estimated_ms": self.estimated_ms, **self.info}


def _db(ws_or_path) -> Path:
    return Path(getattr(ws_or_path, "db_path", ws_or_path))


def store_measurements(ws, measurements: Iterable[Measurement]) -> list[Measurement]:
    """Write the measurements in one transaction (all or none) and return them with their ids."""
    rows = list(measurements)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        with closing(sqlite3.connect(str(_db(ws)), timeout=30.0)) as conn:
            with conn:  # one transaction: both rows of an interleaved pair, or neither
                for statement in SCHEMA:
                    conn.execute(statement)
                for m in rows:
                    if m.role not in ROLES:
                        raise ValueError(f"unknown measurement role {m.role!r}")
                    m.created = m.created or created
                    cur = conn.execute(
                        "INSERT INTO measurements (run_id, role, session, device, target, created, latency_median_ms, "
                        "latency_p90_ms, peak_rss_mb, estimated_ms, info) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (m.run_id, m.role, m.session, m.device, m.target, m.created, m.latency_median_ms, m.latency_p90_ms,
                         m.peak_rss_mb, m.estimated_ms, json.dumps(m.info, default=str)))
                    m.id = cur.lastrowid
    except sqlite3.DatabaseError as exc:
        raise EdgeSlimError(f"cannot store the measurement in {_db(ws)} ({exc})",
                            "open a workspace you can write to with --workspace") from None
    return rows


def _select(ws, where: str, params: tuple) -> list[Measurement]:
    db = _db(ws)
    if not db.is_file():
        return []
    try:
        with closing(sqlite3.connect(f"{db.absolute().as_uri()}?mode=ro", uri=True, timeout=30.0)) as conn:
            rows = conn.execute(
                "SELECT id, run_id, role, session, device, target, created, latency_median_ms, latency_p90_ms, peak_rss_mb, "
                f"estimated_ms, info FROM measurements WHERE {where} ORDER BY id", params).fetchall()
    except sqlite3.OperationalError:  # no table yet: nothing was measured in this workspace
        return []
    return [Measurement(id=r[0], run_id=r[1], role=r[2], session=r[3], device=r[4], target=r[5], created=r[6],
                        latency_median_ms=r[7], latency_p90_ms=r[8], peak_rss_mb=r[9], estimated_ms=r[10],
                        info=json.loads(r[11] or "{}")) for r in rows]


def measurements_for_run(ws, run_id: int) -> list[dict]:
    """Every measurement of a run (its model and its baseline), oldest first, as JSON-ready dicts."""
    return [m.to_dict() for m in _select(ws, "run_id = ?", (int(run_id),))]


def measurements_for_target(ws, target: str) -> list[dict]:
    """Every measurement made on devices of the profile ``target`` (the input of :func:`estimate_correction`)."""
    return [m.to_dict() for m in _select(ws, "target = ?", (target,))]


def device_latencies(ws, device: str, role: str = "run") -> dict[int, dict]:
    """Run id -> the latest measurement of that run's own model (``role="baseline"``: of its baseline) on ``device``."""
    latest: dict[int, dict] = {}
    for m in _select(ws, "device = ? AND role = ?", (device, role)):
        latest[m.run_id] = m.to_dict()
    return latest


def measured_devices(ws) -> list[str]:
    """The devices that have measurements in this workspace (the choices of a device-latency axis)."""
    return sorted({m.device for m in _select(ws, "1 = 1", ())})


def delete_measurements(ws, run_id: int) -> None:
    """Remove a run's measurements (for the store's run deletion)."""
    db = _db(ws)
    if not db.is_file():
        return
    with closing(sqlite3.connect(str(db), timeout=30.0)) as conn:
        with conn:
            try:
                conn.execute("DELETE FROM measurements WHERE run_id = ?", (int(run_id),))
            except sqlite3.OperationalError:
                pass


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Calibration:
    """measured ≈ factor × estimated on one profile's devices, from ``count`` measurements."""

    target: str
    factor: float = 1.0
    count: int = 0

    def apply(self, estimated_ms: float) -> float:
        return estimated_ms * self.factor

    @property
    def label(self) -> str:
        if not self.count:
            return "estimated (roofline lower bound)"
        return f"estimated, calibrated on {self.count} measurement{'s' if self.count != 1 else ''}"


def estimate_correction(profile, measurements: Iterable[dict]) -> Calibration:
    """The factor that turns ``profile``'s estimates into what its boards measured (geometric mean of the ratios).

    ``profile`` is a TargetProfile or its name; measurements of other profiles,
    or without an estimate, are left out. No usable measurement gives factor 1.
    """
    name = getattr(profile, "name", profile)
    logs = []
    for m in measurements:
        est = m.get("estimated_ms")
        med = (m.get("latency_ms") or {}).get("median")
        if m.get("target") == name and est and med and est > 0 and med > 0:
            logs.append(math.log(med / est))
    if not logs:
        return Calibration(name)
    return Calibration(name, math.exp(sum(logs) / len(logs)), len(logs))
