"""A run reports typed events: the planned stages (the estimate's list), each stage's start and end, progress, steps."""

from __future__ import annotations

import pytest

from core.app.estimate import run_stages
from core.app.events import (
    Done, Failed, PartialResult, Progress, Recorder, StageFinished, StagesPlanned, StageStarted, reported,
)
from core.app.execute import RunRequest, execute_run
from core.app.sources import DataSource, ModelSource
from core.errors import EdgeSlimError
from core.pipeline.recipe import parse_recipe
from core.pipeline.runner import RunOptions, plan_stages
from core.store.workspace import Workspace

FAST = RunOptions(threads=1, warmup=1, repeats=3, device="cpu")
TWO_STEPS = ('[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.3\n'
             '[[step]]\ntechnique = "finetune"\nepochs = 1\nbatch_size = 128\n')


def test_the_estimate_reads_the_runners_stage_list():
    recipe = parse_recipe(TWO_STEPS)
    plan = plan_stages(recipe)
    assert [s.key for s in plan] == ["baseline", "step-1", "step-2", "timing"]
    assert plan[2].weight > plan[1].weight  # a training step weighs more than pruning
    stages = run_stages(recipe)
    assert [s.key for s in stages] == [s.key for s in plan] and [s.label for s in stages] == [s.label for s in plan]
    assert stages[0].start == 0.0 and all(a.end == pytest.approx(b.start) for a, b in zip(stages, stages[1:]))


def test_a_stored_run_emits_its_stages_in_order_with_progress_and_steps(tmp_path):
    events = Recorder()
    with Workspace(tmp_path) as ws:
        row = execute_run(ws, RunRequest(TWO_STEPS, ModelSource("demo"), DataSource("demo"), FAST), emit=events).row
    assert row.status == "done" and row.device == "cpu"
    planned = [e for e in events.events if isinstance(e, StagesPlanned)]
    assert len(planned) == 1 and [s.key for s in planned[0].stages] == ["baseline", "step-1", "step-2", "timing"]
    started = [e.stage.key for e in events.events if isinstance(e, StageStarted)]
    finished = [e.stage.key for e in events.events if isinstance(e, StageFinished)]
    assert started == finished == ["baseline", "step-1", "step-2", "timing"]
    progress = [e for e in events.events if isinstance(e, Progress)]
    assert {e.stage for e in progress} >= {"baseline", "step-1", "step-2", "timing"}
    fractions = [e.fraction for e in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    steps = [e.payload for e in events.events if isinstance(e, PartialResult) and e.kind == "step"]
    assert [s["technique"] for s in steps] == ["prune.unstructured", "finetune"]
    assert any(isinstance(e, PartialResult) and e.kind == "baseline" for e in events.events)
    epochs = [e.payload for e in events.events if isinstance(e, PartialResult) and e.kind == "epoch"]
    assert [(p["step"], p["technique"], p["epoch"]) for p in epochs] == [(2, "finetune", 1)]  # live training curves
    assert 0.0 <= epochs[0]["val_accuracy"] <= 1.0 and epochs[0]["train_loss"] > 0


def test_reported_ends_with_done_or_failed():
    events = Recorder()
    assert reported(events, lambda: 42) == 42 and events.events == [Done(42)]
    events = Recorder()
    with pytest.raises(EdgeSlimError):
        reported(events, lambda: (_ for _ in ()).throw(EdgeSlimError("bad", "fix it")))
    assert isinstance(events.events[-1], Failed) and not events.events[-1].cancelled
