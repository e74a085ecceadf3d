"""What the Explore page shows of each stored run: plot coordinates, table cells, front and budget verdicts.

Kept out of the GUI so the numbers on screen are the same ones ``runs list``
and ``runs pareto`` compute, and so they are tested without Qt. No torch here:
the page builds these on the GUI thread, every time the workspace changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence

from core import fmt
from core.pipeline.pareto import DEFAULT_FLOOR_PT, floors_from_baselines, metric, pareto_indices

# plot axes: key -> (label, unit, objective name in core.pipeline.pareto)
AXES: dict[str, tuple[str, str, str]] = {
    "size": ("ONNX file size", "bytes", "size"),
    "latency": ("Latency (ONNX Runtime, this machine)", "ms", "latency"),
    "macs": ("MACs per image", "MACs", "macs"),
    "device": ("Latency measured on the board", "ms", "device_latency"),
}
MIXED = "Chain"  # a recipe that combines several families
FAMILY_OF_PREFIX = {"prune": "Pruning", "quantize": "Quantization", "distill": "Distillation", "arch": "Distillation",
                    "lowrank": "Low-rank", "finetune": "Fine-tune"}


def family_of(techniques: Sequence[str], families: Optional[Mapping[str, str]] = None) -> str:
    """The technique family a run belongs to; fine-tuning alongside another family does not count.

    ``families`` (technique name -> family) comes from the loaded registry; the
    name's prefix stands in until it has loaded.
    """
    found: list[str] = []
    for name in techniques:
        fam = (families or {}).get(name) or FAMILY_OF_PREFIX.get(name.split(".")[0], "Other")
        if fam not in found:
            found.append(fam)
    if len(found) > 1 and "Fine-tune" in found:
        found.remove("Fine-tune")
    if not found:
        return "Baseline"
    return found[0] if len(found) == 1 else MIXED


@dataclass(frozen=True)
class Budgets:
    """A target's limits as the plots draw them: file size (bytes) and latency measured here (ms)."""

    label: str = ""
    size_bytes: Optional[int] = None
    latency_ms: Optional[float] = None

    @classmethod
    def for_target(cls, profile, latency_ms: Optional[float] = None) -> "Budgets":
        """The storage a model file may take on ``profile`` (RAM too when weights are loaded into it)."""
        mem = profile.memory
        size = min(mem.storage_bytes, mem.ram_bytes) if profile.weights_in_ram else mem.storage_bytes
        return cls(profile.label, size, latency_ms)

    def limit(self, axis: str) -> Optional[float]:
        return {"size": self.size_bytes, "latency": self.latency_ms, "device": self.latency_ms}.get(axis)

    def verdict(self, size_bytes: Optional[float], latency_ms: Optional[float]) -> tuple[Optional[bool], list[str]]:
        """(fits, reasons): None when there is no budget or nothing measured to check."""
        reasons: list[str] = []
        checked = False
        if self.size_bytes is not None and size_bytes is not None:
            checked = True
            if size_bytes > self.size_bytes:
                reasons.append(f"file {size_bytes / self.size_bytes:.1f}× the size budget")
        if self.latency_ms is not None and latency_ms is not None:
            checked = True
            if latency_ms > self.latency_ms:
                reasons.append(f"latency {latency_ms / self.latency_ms:.1f}× the budget")
        return (not reasons if checked else None), reasons


@dataclass
class RunSummary:
    """One run as a point and a table row. Accuracy is a fraction; ``delta_pt`` in percentage points."""

    id: int
    name: str
    status: str
    techniques: list[str]
    family: str
    model_spec: str
    sweep_id: Optional[int]
    finished: Optional[str]
    accuracy: Optional[float] = None
    delta_pt: Optional[float] = None
    size_bytes: Optional[float] = None
    size_ratio: Optional[float] = None
    params: Optional[float] = None
    macs: Optional[float] = None
    latency_ms: Optional[float] = None
    device_latency_ms: Optional[float] = None  # median measured on a board, when the page merged one in
    speedup: Optional[float] = None
    fits: Optional[bool] = None
    misfit: list[str] = field(default_factory=list)
    on_front: bool = False
    error: Optional[str] = None

    def value(self, axis: str) -> Optional[float]:
        return {"size": self.size_bytes, "latency": self.latency_ms, "macs": self.macs, "accuracy": self.accuracy,
                "device": self.device_latency_ms}[axis]

    @property
    def plottable(self) -> bool:
        """Runs with measured numbers: finished ones, and stopped ones that measured a step before stopping."""
        return self.accuracy is not None


@dataclass
class BaselinePoint:
    """The model a group of runs started from, as measured by the runs (their shared baseline)."""

    model_spec: str
    accuracy: Optional[float]
    size_bytes: Optional[float]
    macs: Optional[float]
    latency_ms: Optional[float]
    runs: int
    device_latency_ms: Optional[float] = None

    def value(self, axis: str) -> Optional[float]:
        return {"size": self.size_bytes, "latency": self.latency_ms, "macs": self.macs, "accuracy": self.accuracy,
                "device": self.device_latency_ms}[axis]


def summarise_run(row, families: Optional[Mapping[str, str]] = None, budgets: Budgets = Budgets()) -> RunSummary:
    """A stored :class:`core.store.workspace.RunRow` as the page shows it."""
    final, base = row.final or {}, row.baseline or {}
    ratios = final.get("ratios") or {}
    acc, acc0 = metric(final, "accuracy"), metric(base, "accuracy")
    out = RunSummary(
        id=row.id, name=row.name, status=row.status, techniques=list(row.techniques),
        family=family_of(row.techniques, families), model_spec=row.model_spec, sweep_id=row.sweep_id,
        finished=row.finished, accuracy=acc, delta_pt=None if acc is None or acc0 is None else 100 * (acc - acc0),
        size_bytes=metric(final, "size"), size_ratio=ratios.get("size"), params=final.get("params"),
        macs=metric(final, "macs"), latency_ms=metric(final, "latency"), speedup=ratios.get("speedup_onnxruntime"),
        device_latency_ms=metric(final, "device_latency"), error=row.error,
    )
    out.fits, out.misfit = budgets.verdict(out.size_bytes, out.latency_ms)
    return out


def summarise_runs(
    rows: Iterable, x_axis: str = "size", families: Optional[Mapping[str, str]] = None, budgets: Budgets = Budgets(),
    floor_pt: Optional[float] = DEFAULT_FLOOR_PT,
) -> list[RunSummary]:
    """Every run, with ``on_front`` set for the finished runs on the accuracy-vs-``x_axis`` Pareto front.

    Runs more than ``floor_pt`` points below their baseline are never on the front (None: no floor).
    """
    rows = list(rows)
    out = [summarise_run(r, families, budgets) for r in rows]
    done = [(s, r) for s, r in zip(out, rows) if s.status == "done" and s.plottable and s.value(x_axis) is not None]
    if done:
        floors = floors_from_baselines([r.baseline for _, r in done], floor_pt)
        for i in pareto_indices([r.final for _, r in done], [AXES[x_axis][2], "accuracy"], floors):
            done[i][0].on_front = True
    return out


def baselines(rows: Iterable) -> list[BaselinePoint]:
    """One point per starting model (model spec), from the newest run that measured it."""
    seen: dict[str, BaselinePoint] = {}
    counts: dict[str, int] = {}
    for r in rows:
        if not r.baseline:
            continue
        counts[r.model_spec] = counts.get(r.model_spec, 0) + 1
        b = r.baseline
        measured = metric(b, "device_latency") or (seen[r.model_spec].device_latency_ms if r.model_spec in seen else None)
        seen[r.model_spec] = BaselinePoint(r.model_spec, metric(b, "accuracy"), metric(b, "size"), metric(b, "macs"),
                                           metric(b, "latency"), 0, measured)
    for spec, point in seen.items():
        point.runs = counts[spec]
    return list(seen.values())


def run_tooltip(s: RunSummary) -> str:
    """A run in a few lines: what the plot's hover and the table's tooltip show."""
    lines = [f"#{s.id} {s.name}", " → ".join(s.techniques) or "baseline", f"status: {s.status}"]
    if s.accuracy is not None:
        delta = "" if s.delta_pt is None else f" ({s.delta_pt:+.2f} pt)"
        lines.append(f"top-1 {100 * s.accuracy:.2f} %{delta}")
    lines.append(f"file {fmt.size(s.size_bytes)}" + ("" if not s.size_ratio else f" ({s.size_ratio:.2f}× smaller)"))
    lines.append(f"MACs {fmt.si(s.macs)}")
    if s.latency_ms is not None:
        lines.append(f"latency {s.latency_ms:.3f} ms" + ("" if not s.speedup else f" ({s.speedup:.2f}× faster)"))
    if s.on_front:
        lines.append("on the Pareto front")
    if s.fits is False:
        lines.append("over budget: " + "; ".join(s.misfit))
    return "\n".join(lines)
