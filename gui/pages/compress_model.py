"""The Compress page's state and rules, without Qt: why Run is blocked, the run's stages and bars, its log.

The view (:mod:`gui.panels.compress_page`) hands every event of the run job to
:meth:`RunState.handle` and draws what the state says; the stage shown is the
one the runner announced (StageStarted), never guessed from message text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from core import fmt
from core.app.events import Done, Failed, PartialResult, Progress, StageFinished, StagesPlanned, StageStarted
from core.app.sources import DataSource, ModelSource
from core.jobs import stage_edges

LOG_EVERY_S = 2.0


@dataclass
class RunInputs:
    """What a run needs from the window: where to store it, and the model and data as they were opened."""

    workspace: Any  # core.store.workspace.Workspace
    model: ModelSource
    data: DataSource


def clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


TRAINING_TECHNIQUES = ("finetune", "distill.kd", "quantize.qat")  # steps that win lost accuracy back
FINETUNE_ADVICE = "follow this step with finetune"


def step_notes(steps: list[dict]) -> list[str]:
    """The stored steps' notes worth showing: advice to add finetune is dropped when a later step already trains."""
    notes = []
    for i, step in enumerate(steps):
        trains_later = any(s.get("technique") in TRAINING_TECHNIQUES for s in steps[i + 1:])
        notes += [n for n in step.get("notes", []) if not (trains_later and FINETUNE_ADVICE in n)]
    return notes


def fp32_layers(steps: list[dict]) -> list[str]:
    """For each int8 step that left weight layers in fp32: which ones, why, and what fp32 costs them.

    ``max_drop`` keeps the layers int8 hurts most; the card lists them with the
    bytes and multiply-adds fp32 costs, so the trade is read where it was made.
    """
    lines = []
    for step in steps:
        rows = [r for r in step.get("layers") or [] if r.get("excluded") or r.get("kept_fp32")]
        if not rows:
            continue
        extra = step.get("extra") or {}
        kept = [r for r in rows if r.get("kept_fp32")]
        asked = [r["layer"] for r in rows if not r.get("kept_fp32")]
        where = f"{step.get('index', '?')}. {step.get('technique')}"
        if kept:
            target = step.get("params", {}).get("max_drop")
            before, after = extra.get("int8_agreement_before_fallback"), extra.get("target_agreement")
            missed = "; target NOT met, the most accurate model within the fp32 budget" if extra.get("target_met") is False else ""
            gain = f" (agreement {before:.1%} → {after:.1%}{missed})" if before is not None and after is not None else ""
            costs = ", ".join(f"{r['layer']} (+{fmt.size(int(r.get('fp32_extra_bytes') or 0))}, "
                              f"{(r.get('macs_share') or 0):.1%} of MACs)" for r in kept)
            slower = extra.get("fp32_slowdown")
            total = (f"; in all +{fmt.size(int(extra.get('fp32_extra_bytes') or 0))} in the file, "
                     f"{(extra.get('fp32_macs_share') or 0):.1%} of the multiply-adds in fp32"
                     + (f", {slower:.2f}× all-int8's latency" if slower else ""))
            lines.append(f"{where} kept {len(kept)} layer{'s' if len(kept) != 1 else ''} in fp32 for max_drop {target:g}"
                         f"{gain}: {costs}{total}" if target is not None else f"{where} kept in fp32: {costs}{total}")
        if asked:
            lines.append(f"{where} left in fp32 as the recipe asks: {', '.join(asked)}")
    return lines


def run_blocker(*, ready: bool, running: bool, loading: bool, model: Any, data: Any, problems: list,
                inputs: Any) -> str:
    """Why Run is not possible now ("" when it is): the rules, in the order a user meets them."""
    if not ready:
        return "The compression techniques are still loading."
    if running:
        return "A run is in progress."
    if loading:
        return "Wait until the model and data have loaded."
    if model is None:
        return "Load a model first (Model page or File ▸ Open model)."
    if data is None:
        return "Load a dataset first (Data page or File ▸ Open dataset folder)."
    if problems:
        return f"Fix the recipe first: {problems[0].text}"
    if isinstance(inputs, str):
        return inputs
    return ""


def estimate_html(est) -> str:
    """The estimate as the page shows it: a one-line summary and a table of params and MACs per stage."""
    rows = est.rows
    before, after = rows[0], rows[-1]
    cells = ["<tr><td></td><td align=right><b>params</b></td><td align=right><b>MACs</b></td><td></td></tr>"]
    for r in rows:
        nz = f" ({fmt.si(r.nonzero)} non-zero)" if r.nonzero is not None and r.params and r.nonzero < r.params * 0.98 else ""
        cells.append(f"<tr><td>{r.label}</td><td align=right>&nbsp;{fmt.si(r.params)}{nz}</td>"
                     f"<td align=right>&nbsp;{fmt.si(r.macs)}</td><td>&nbsp;<i>{r.note}</i></td></tr>")
    summary = []
    if before.params and after.params:
        ref = after.nonzero if after.nonzero is not None and after.nonzero < after.params else after.params
        ratio = before.params / max(ref, 1)
        if abs(ratio - 1) > 0.005:
            which = "non-zero " if ref != after.params else ""
            summary.append(f"{ratio:.2f}× fewer {which}params" if ratio > 1 else f"{1 / ratio:.2f}× more {which}params")
    if before.macs and after.macs and abs(before.macs / after.macs - 1) > 0.005:
        ratio = before.macs / after.macs
        summary.append(f"{ratio:.2f}× fewer MACs" if ratio > 1 else f"{1 / ratio:.2f}× more MACs")
    if not summary:
        summary.append("the same params and MACs" + (f"; {after.note}" if after.note else ""))
    return ("<b>Estimate before running</b> (structure only; accuracy and latency need a run): "
            + ", ".join(summary) + f"<table cellspacing=0 cellpadding=1>{''.join(cells)}</table>")


def step_lines(payload: dict, later: tuple = ()) -> list[str]:
    """The log's lines for a finished step (a PartialResult("step") payload); ``later``: the techniques after it."""
    m = payload.get("metrics") or {}
    acc = m.get("accuracy")
    parts = [f"top-1 {100 * acc:.2f} %" if acc is not None else None, f"{fmt.si(m.get('params'))} params",
             f"{fmt.si(m.get('macs'))} MACs", f"ONNX {fmt.size(m.get('size_bytes'))}"]
    lines = [f"step {payload.get('index')} {payload.get('technique')} finished in {payload.get('seconds', 0):.1f} s: "
             f"{payload.get('summary', '')}", "    " + ", ".join(p for p in parts if p)]
    lines += [f"    note: {note}" for note in step_notes([payload, *({"technique": t} for t in later)])]
    return lines


@dataclass
class RunState:
    """One run as the page follows it: stages, bars (0..1), the line under them, and the log lines to add."""

    log: Callable[[str], None] = lambda line: None
    clock_now: Callable[[], float] = time.monotonic
    running: bool = False
    cancelling: bool = False
    stages: tuple = ()
    stage_index: Optional[int] = None
    overall: float = 0.0
    stage_fraction: float = 0.0
    stage_text: str = "Not running"
    started_at: float = 0.0
    stored_seconds: Optional[float] = None  # the stored run's own time: the one duration shown once it has ended
    last_log_at: float = 0.0
    first_run_id: int = 0
    techniques: tuple = ()  # the enabled steps' techniques, in order
    outcome: Optional[dict] = None  # the run task's result: run_id, reused, status
    error: Optional[BaseException] = None
    edges: list = field(default_factory=list)

    def start(self, first_run_id: int, techniques: tuple = ()) -> None:
        self.running, self.cancelling, self.outcome, self.error = True, False, None, None
        self.stages, self.stage_index, self.edges = (), None, []
        self.overall = self.stage_fraction = 0.0
        self.stage_text = "Starting…"
        self.started_at = self.clock_now()
        self.stored_seconds = None
        self.last_log_at = 0.0
        self.first_run_id = first_run_id
        self.techniques = tuple(techniques)

    def elapsed(self) -> float:
        return self.clock_now() - self.started_at

    def time_text(self) -> str:
        elapsed = self.elapsed()
        if not self.running:
            return f"Took {clock(self.stored_seconds if self.stored_seconds is not None else elapsed)}"
        text = f"Elapsed {clock(elapsed)}"
        f = self.overall
        if f > 0.03 and elapsed > 2 and not self.cancelling:
            text += f" · about {clock(elapsed * (1 - f) / f)} left"
        return text

    def cancel(self) -> None:
        """Cancel asked: the bars stay where they are (the run's last "progress 100 %" is not the recipe finishing)."""
        self.cancelling = True
        self.stage_text = "Cancelling…"
        self.log("Cancelling: the run stops at the end of the current batch…")

    def handle(self, event: Any) -> None:
        if isinstance(event, StagesPlanned):
            self.stages, self.edges = tuple(event.stages), stage_edges(event.stages)
        elif isinstance(event, StageStarted):
            self.stage_index, self.stage_fraction = event.index, 0.0
            self.stage_text = self._stage_words(event.stage.label)
            self.log(f"{event.stage.label}: started")
            self.last_log_at = self.clock_now()
        elif isinstance(event, StageFinished):
            self.log(f"{event.stage.label}: done ({event.seconds:.1f} s)")
        elif isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, PartialResult) and event.kind == "step":
            payload = event.payload or {}
            for line in step_lines(payload, self.techniques[int(payload.get("index") or 0):]):
                self.log(line)
        elif isinstance(event, Done):
            self._done(event.result or {})
        elif isinstance(event, Failed):
            self.running = False
            if event.cancelled:
                self.log("Cancelled.")
                self.stage_text = "Cancelled"
            else:
                self.error = event.error
                message = event.error.for_app() if hasattr(event.error, "for_app") else str(event.error)
                self.log(f"FAILED: {message}")
                self.stage_text = "Failed"

    def stored(self, seconds: Optional[float], reused: bool = False) -> None:
        """The stored run's time (the card's): from now on the clock says this one (a reused run's too)."""
        self.stored_seconds = seconds
        if seconds is not None and not reused:
            self.log(f"The run took {clock(seconds)}.")

    def _stage_words(self, detail: str) -> str:
        n = len(self.stages)
        return f"Stage {self.stage_index + 1} of {n} · {detail}" if self.stage_index is not None and n else detail

    def _progress(self, event: Progress) -> None:
        if self.cancelling:
            return
        self.overall = max(self.overall, float(event.fraction))
        i = self.stage_index
        if i is not None and self.edges and event.stage == self.stages[i].key:
            lo, hi = self.edges[i], self.edges[i + 1]
            self.stage_fraction = min(max((event.fraction - lo) / max(hi - lo, 1e-6), 0.0), 1.0)
            self.stage_text = self._stage_words(event.message or self.stages[i].label)
        elif event.message:
            self.stage_text = event.message
        now = self.clock_now()
        if event.message and now - self.last_log_at >= LOG_EVERY_S:
            self.last_log_at = now
            self.log(event.message)

    def _done(self, outcome: dict) -> None:
        self.running = False
        self.outcome = outcome
        run_id, status = outcome.get("run_id"), outcome.get("status")
        if outcome.get("reused"):
            self.log(f"An identical run is stored as #{run_id}: showing it (untick “Reuse identical runs” to run again).")
        else:
            self.log(f"Run #{run_id} {status}; stored in the workspace.")
        if outcome.get("note"):
            self.log(outcome["note"])
        if status == "done":
            self.overall = self.stage_fraction = 1.0
            self.stage_text = f"Finished: run #{run_id}"
        else:
            self.stage_text = f"Run #{run_id} {status}"
