"""The evaluate service: one request (sources + timing options) in, progress events out, the metrics back."""

from __future__ import annotations

from core.app.evaluate import EvaluateRequest, evaluate
from core.app.events import Progress, Recorder
from core.app.sources import DataSource, ModelSource
from core.metrics.latency import TimingOptions


def test_evaluate_reports_progress_and_times_with_the_options_given():
    events = Recorder()
    timing = TimingOptions(batch=2, threads=1, warmup=1, repeats=3)
    outcome = evaluate(EvaluateRequest(ModelSource("demo"), DataSource("demo"), timing), events)
    out = outcome.metrics.to_dict()
    assert out["accuracy"] >= 0.97 and outcome.data.name and outcome.model.name
    assert out["latency_ms"]["batch"] == 2 and out["latency_ms"]["threads"] == 1
    fractions = [e.fraction for e in events.events if isinstance(e, Progress)]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
