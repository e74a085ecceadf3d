"""Two stored runs side by side: their metrics, and what each did to every layer.

The per-layer diff is read from the step records the runner stored (pruning
and low-rank steps list each layer's channels, params and MACs before and
after), so comparing needs no model to be loaded: a layer's state in a run is
the original's (the first "before" seen) changed by every step in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from core import fmt
from core.pipeline.pareto import metric


@dataclass
class LayerState:
    channels: Optional[int] = None  # output channels / features
    params: Optional[int] = None
    macs: Optional[int] = None
    rank: Optional[str] = None  # what a low-rank step factored it into

    def text(self) -> str:
        parts = [self.rank] if self.rank else []
        if self.channels is not None:
            parts.append(f"{self.channels} ch")
        if self.params is not None:
            parts.append(f"{fmt.si(self.params)} params")
        if self.macs is not None:
            parts.append(f"{fmt.si(self.macs)} MACs")
        return ", ".join(parts) or "—"


@dataclass
class LayerDiff:
    name: str
    type: str
    original: LayerState
    a: LayerState
    b: LayerState

    @property
    def differs(self) -> bool:
        return self.a != self.b


@dataclass
class MetricRow:
    label: str
    a: str
    b: str
    better: Optional[str]  # "a", "b" or None (equal, or not comparable)


@dataclass
class RunComparison:
    a_title: str
    b_title: str
    metrics: list[MetricRow]
    layers: list[LayerDiff]
    notes: list[str] = field(default_factory=list)


def _number(record: dict, *keys: str) -> Optional[int]:
    for key in keys:
        v = record.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return int(v)
    return None


def _state(record: dict, before: bool) -> LayerState:
    """A layer record's state before or after its step (pruning writes ``params``, low-rank ``params_after``)."""
    if before:
        return LayerState(_number(record, "out_channels_before", "out_features_before", "out"),
                          _number(record, "params_before"), _number(record, "macs_before"))
    state = LayerState(_number(record, "out_channels", "out_features", "out"),
                       _number(record, "params", "params_after"), _number(record, "macs", "macs_after"))
    if record.get("skipped") is None:
        if record.get("rank_out") is not None:
            state.rank = f"Tucker ranks {record['rank_out']}×{record['rank_in']}"
        elif record.get("rank") is not None:
            state.rank = f"SVD rank {record['rank']}"
    return state


def layer_states(steps: list[dict]) -> dict[str, tuple[str, LayerState, LayerState]]:
    """Layer name -> (type, original state, state after the run), for the layers a step changed."""
    out: dict[str, tuple[str, LayerState, LayerState]] = {}
    for step in steps or []:
        for rec in step.get("layers") or []:
            name = rec.get("layer") or rec.get("name")
            if not name:
                continue
            before, after = _state(rec, True), _state(rec, False)
            if name in out:
                kind, original, _ = out[name]
                out[name] = (kind, original, after)
            else:
                out[name] = (str(rec.get("type", "")), before, after)
    return out


def _ratio_text(v: Optional[float]) -> str:
    return "—" if v is None else f"{v:.2f}×"


# label, how to read it from a run, how to show it, which way is better
_METRICS: list[tuple[str, Callable[[Any], Optional[float]], Callable[[Optional[float]], str], str]] = [
    ("Top-1 accuracy", lambda r: metric(r.final, "accuracy"), lambda v: "—" if v is None else f"{100 * v:.2f} %", "max"),
    ("Δ accuracy vs its baseline", lambda r: _delta(r), lambda v: "—" if v is None else f"{v:+.2f} pt", "max"),
    ("ONNX file", lambda r: metric(r.final, "size"), fmt.size, "min"),
    ("Zipped file", lambda r: metric(r.final, "zip"), fmt.size, "min"),
    ("Size ratio vs baseline", lambda r: ((r.final or {}).get("ratios") or {}).get("size"), _ratio_text, "max"),
    ("Parameters", lambda r: (r.final or {}).get("params"), fmt.si, "min"),
    ("MACs per image", lambda r: metric(r.final, "macs"), fmt.si, "min"),
    ("Latency, ONNX Runtime", lambda r: metric(r.final, "latency"), lambda v: "—" if v is None else f"{v:.3f} ms", "min"),
    ("Speed-up vs baseline", lambda r: ((r.final or {}).get("ratios") or {}).get("speedup_onnxruntime"), _ratio_text, "max"),
    ("Run time", lambda r: r.seconds, lambda v: "—" if v is None else f"{v:.0f} s", "min"),
]


def _delta(row) -> Optional[float]:
    a, b = metric(row.final or {}, "accuracy"), metric(row.baseline or {}, "accuracy")
    return None if a is None or b is None else 100 * (a - b)


def compare_runs(a, b) -> RunComparison:
    """Compare two :class:`core.store.workspace.RunRow` objects."""
    rows = []
    for label, read, show, direction in _METRICS:
        va, vb = read(a), read(b)
        better = None
        if va is not None and vb is not None and va != vb:
            better = "a" if (va > vb) == (direction == "max") else "b"
        rows.append(MetricRow(label, show(va), show(vb), better))
    la, lb = layer_states(a.steps), layer_states(b.steps)
    layers = []
    for name in list(dict.fromkeys([*la, *lb])):
        kind, original, after_a = la.get(name, (None, None, None))
        kind_b, original_b, after_b = lb.get(name, (None, None, None))
        original = original or original_b
        layers.append(LayerDiff(name, kind or kind_b or "", original, after_a or original, after_b or original))
    notes = []
    if a.model_spec != b.model_spec:
        notes.append(f"the runs start from different models ({a.model_spec} and {b.model_spec}): layer rows are matched by name")
    if not layers:
        notes.append("neither run changed the network's structure (no pruning or low-rank step): every layer keeps its shape")
    return RunComparison(f"#{a.id} {a.name}", f"#{b.id} {b.name}", rows, layers, notes)
