"""What boards said about a model next to what the roofline estimates: one path for the CLI and the window.

A target profile's estimate is a lower bound; once boards of that profile have
been measured (``edgeslim-cli measure``), the profile learns a correction factor
(:func:`core.devices.measurements.estimate_correction`) and a run timed on such
a board has its own figures. Both front-ends ask :func:`device_figures` so they
show the same numbers with the same words.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from core.devices.measurements import estimate_correction, measurements_for_run, measurements_for_target


@dataclass(frozen=True)
class BoardFigure:
    """A run's latest measurement on one board of the chosen profile."""

    device: str
    median_ms: float
    p90_ms: float
    runs: Optional[int]  # timed inferences the median is taken over (None when the record does not say)
    peak_rss_mb: Optional[float]
    created: str  # when it was measured (ISO 8601, UTC)
    bundle: str = ""  # the measured file's format and precision ("onnx, fp32"): it may differ from the one checked now

    @property
    def text(self) -> str:
        """'measured on pi: 4.1 ms (median of 40, p90 4.5 ms)'."""
        of = f" of {self.runs}" if self.runs else ""
        return f"measured on {self.device}: {self.median_ms:.3g} ms (median{of}, p90 {self.p90_ms:.3g} ms)"

    @property
    def when(self) -> str:
        """'2026-12-05 03:40 UTC' (the stored time is UTC), or "" when unknown."""
        return f"{self.created[:16].replace('T', ' ')} UTC" if self.created else ""

    @property
    def details(self) -> list[str]:
        """What else the record says: the file timed, the peak memory, when ("onnx, fp32 file", "peak RSS 60 MB", …)."""
        rss = f"peak RSS {self.peak_rss_mb:.0f} MB" if self.peak_rss_mb is not None else ""
        return [d for d in (f"{self.bundle} file" if self.bundle else "", rss, self.when) if d]


@dataclass(frozen=True)
class DeviceFigures:
    """The estimate on ``target``, corrected by what its boards measured, and the run's own board figures."""

    target: str
    estimate_ms: float
    calibrated_ms: Optional[float] = None  # None until a board of this profile was measured with an estimate
    factor: float = 1.0
    count: int = 0  # measurements the factor was learned from
    label: str = "estimated (roofline lower bound)"
    measured: list[BoardFigure] = field(default_factory=list)

    @property
    def calibrated_text(self) -> str:
        """'estimated, calibrated on 3 measurements: 4.2 ms (the roofline × 3.1)', or "" before any measurement."""
        if self.calibrated_ms is None:
            return ""
        return f"{self.label}: {self.calibrated_ms:.3g} ms (the roofline × {self.factor:.3g})"

    def to_dict(self) -> dict:
        return {**asdict(self), "measured": [asdict(m) for m in self.measured]}


def _bundle(card: Any) -> str:
    """"onnx, fp32" or "onnx-int8" (the precision only when the format does not already say it)."""
    card = card if isinstance(card, dict) else {}
    fmt, precision = str(card.get("format") or ""), str(card.get("precision") or "")
    return ", ".join(p for p in (fmt, precision if precision not in fmt else "") if p)


def device_figures(ws: Any, run_id: Optional[int], target: Any, estimate_ms: float) -> DeviceFigures:
    """The figures for run ``run_id`` (None: a model that is not a stored run) estimated at ``estimate_ms`` on ``target``.

    ``ws`` is an open Workspace or its database path (None: no workspace, so
    nothing measured); ``target`` a TargetProfile or its name. Only the run's
    own model counts (not its baseline), on boards registered with this profile.
    """
    name = getattr(target, "name", target)
    if ws is None:
        return DeviceFigures(name, estimate_ms)
    cal = estimate_correction(name, measurements_for_target(ws, name))
    latest: dict[str, dict] = {}
    if run_id is not None:
        for m in measurements_for_run(ws, run_id):  # oldest first: the last one per board wins
            if m["role"] == "run" and m["target"] == name:
                latest[m["device"]] = m
    measured = [BoardFigure(device=m["device"], median_ms=m["latency_ms"]["median"], p90_ms=m["latency_ms"]["p90"],
                            runs=m.get("runs"), peak_rss_mb=m.get("peak_rss_mb"), created=m.get("created", ""),
                            bundle=_bundle(m.get("bundle")))
                for m in sorted(latest.values(), key=lambda m: m["device"])]
    return DeviceFigures(name, estimate_ms, cal.apply(estimate_ms) if cal.count else None, cal.factor, cal.count, cal.label,
                         measured)
