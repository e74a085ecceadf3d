"""The sweep dialog builds the CLI's sweep files as the user ticks and types; the sweep job streams trials from the worker."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QThreadPool

from core.pipeline.runner import RunOptions
from core.pipeline.sweep import load_sweep, parse_sweep
from core.store.workspace import Workspace
from core.app.events import Done, PartialResult
from core.app.sources import DataSource, ModelSource
from core.app.worker_tasks import ExecutorChoice, Sweep
from gui.dialogs.sweep_dialog import SweepDialog
from gui.jobs.controller import JobController

SWEEP_TIMEOUT_MS = 180_000
FAST = RunOptions(threads=1, warmup=1, repeats=3)  # trials measured cheaply: the test is about streaming, not timing
# the two-step recipe the dialog varies (the shipped "Prune 50% + int8" preset also fine-tunes in between)
PRUNE_INT8 = (
    'name = "prune50-int8"\n\n[[step]]\ntechnique = "prune.structured"\nratio = 0.5\nimportance = "l1"\n\n'
    '[[step]]\ntechnique = "quantize.static"\n'
)


@pytest.fixture(scope="module")
def techniques():
    from core.techniques import all_techniques

    return all_techniques()


@pytest.fixture
def dialog(qtbot, techniques):
    d = SweepDialog(PRUNE_INT8, techniques)
    qtbot.addWidget(d)
    d.show()
    return d


@pytest.fixture
def runner(shared_worker):
    jobs = JobController(shared_worker)
    yield jobs
    jobs.cancel_all()
    assert QThreadPool.globalInstance().waitForDone(30_000), "a sweep job outlived the test"


def type_values(row, text: str) -> None:
    """Type into a numeric row's value list as a user does (textEdited fires on typing, not on setText)."""
    row.editor.values.setText(text)
    row.editor.values.textEdited.emit(text)


def four_trial_grid(dialog) -> None:
    ratio = dialog.row("prune.structured.ratio")
    ratio.vary.setChecked(True)
    type_values(ratio, "0.3, 0.5")
    dialog.toggle("quantize.static").setChecked(True)


def test_the_dialog_builds_a_four_trial_grid_the_cli_can_run(dialog, tmp_path):
    assert not dialog.is_valid() and not dialog.run_button.isEnabled()
    assert "Tick at least one setting" in dialog.problems()[0]
    four_trial_grid(dialog)
    assert dialog.is_valid() and dialog.run_button.isEnabled(), dialog.problems()
    assert dialog.trial_count() == 4 and "4 trials" in dialog.summary.text()
    sweep = parse_sweep(dialog.sweep_toml(), tmp_path)
    assert sweep.size() == 4 and sweep.name == "prune50-int8-sweep"
    assert {(p["prune.structured.ratio"], p["quantize.static"]) for p in sweep.grid_points()} == {
        (0.3, "on"), (0.3, "off"), (0.5, "on"), (0.5, "off")}
    assert [s.technique for s in sweep.recipe.steps] == ["prune.structured", "quantize.static"]
    assert dialog.executor() == {"kind": "inprocess"}
    dialog.pool_radio.setChecked(True)
    dialog.workers.setValue(3)
    assert dialog.executor() == {"kind": "pool", "workers": 3}
    saved = dialog.save(tmp_path / "grid.toml")
    assert saved is not None and load_sweep(saved).size() == 4  # what Save writes, edgeslim-cli sweep reads


def test_invalid_input_is_flagged_as_the_user_types(dialog, tmp_path):
    ratio = dialog.row("prune.structured.ratio")
    ratio.vary.setChecked(True)
    type_values(ratio, "0.3, abc")
    assert ratio.error.isVisible() and "'abc' is not a number" in ratio.error.text()
    assert ratio.editor.values.property("invalid") is True and not dialog.run_button.isEnabled()
    type_values(ratio, "0.3, 1.5")
    assert "1.5 is out of range from 0 to 0.95" in ratio.error.text()
    type_values(ratio, "0.3")
    assert not ratio.error.isVisible()
    assert "single run" in dialog.problems()[0] and not dialog.is_valid()  # a 1-point grid is refused
    type_values(ratio, "0.3 0.6")
    assert dialog.is_valid() and dialog.trial_count() == 2

    # a choice field takes the values ticked; none ticked is an error
    importance = dialog.row("prune.structured.importance")
    importance.vary.setChecked(True)
    for box in importance.editor.boxes:
        box.setChecked(False)
    assert "tick at least one value" in importance.error.text() and not dialog.is_valid()
    importance.editor.set_values(["l1", "l2"])
    assert dialog.is_valid() and dialog.trial_count() == 4

    # Optuna: a range needs min < max, and two or three objectives
    dialog.optuna_radio.setChecked(True)
    ratio.editor.set_range(0.6, 0.2)
    assert "min must be below max" in ratio.error.text()
    ratio.editor.set_range(0.2, 0.6)
    assert dialog.is_valid()
    dialog.objective_boxes["size"].setChecked(False)
    assert "two or three objectives" in dialog.problems()[0]
    dialog.objective_boxes["latency"].setChecked(True)
    dialog.min_accuracy[0].setChecked(True)
    assert dialog.is_valid()
    sweep = parse_sweep(dialog.sweep_toml(), tmp_path)
    assert sweep.mode == "optuna" and sweep.objectives == ["accuracy", "latency"]
    assert sweep.constraints == {"min_accuracy": 0.9}
    axis = next(a for a in sweep.axes if a.key == "prune.structured.ratio")
    assert (axis.low, axis.high) == (0.2, 0.6)

    # the Dask address is checked too
    dialog.dask_radio.setChecked(True)
    assert not dialog.is_valid() and dialog.address.property("invalid") is True
    dialog.address.setText("local:2")
    dialog.address.textEdited.emit("local:2")
    assert dialog.is_valid() and dialog.executor() == {"kind": "dask", "address": "local:2"}


def test_a_range_in_a_grid_becomes_evenly_spaced_values(dialog, tmp_path):
    ratio = dialog.row("prune.structured.ratio")
    ratio.vary.setChecked(True)
    ratio.editor.set_range(0.2, 0.6, count=3)
    assert ratio.editor.count.isVisible()
    sweep = parse_sweep(dialog.sweep_toml(), tmp_path)
    assert [p["prune.structured.ratio"] for p in sweep.grid_points()] == [0.2, 0.4, 0.6]


def _request(dialog, tmp_path, model_options: dict) -> Sweep:
    return Sweep(str(tmp_path / "ws"), dialog.sweep_toml(), ModelSource("demo", **model_options), DataSource("demo"), FAST,
                 ExecutorChoice(**dialog.executor()))


def test_cancel_stops_a_sweep_and_its_pending_trials(qtbot, dialog, runner, tiny_demo, tmp_path):
    ratio = dialog.row("prune.structured.ratio")
    ratio.vary.setChecked(True)
    type_values(ratio, "0.2, 0.3, 0.4, 0.6")
    dialog.toggle("quantize.static").setChecked(True)
    assert dialog.trial_count() == 8
    trials, results = [], []

    def on_event(event):
        if isinstance(event, PartialResult) and event.kind == "trial":
            trials.append(event.payload)
            runner.cancel(job)  # after the first trial: the running one stops, the pending ones never start
        elif isinstance(event, Done):
            results.append(event.result)

    job = runner.start(_request(dialog, tmp_path, tiny_demo), on_event, title="sweep")
    with qtbot.waitSignal(job.done, timeout=SWEEP_TIMEOUT_MS):
        pass
    assert results and results[0]["status"] == "cancelled"
    assert len(results[0]["trials"]) < 8
    with Workspace(tmp_path / "ws") as ws:
        runs = ws.list_runs()
        assert len(runs) < 8 and not [r for r in runs if r.status == "running"]
        assert ws.get_sweep(results[0]["sweep_id"])["status"] == "cancelled"
