"""The Compress page's model without Qt: stages from the runner's events, bars, the log and why Run waits."""

from __future__ import annotations

from core.app.events import Done, Failed, PartialResult, Progress, StageFinished, StagesPlanned, StageStarted
from core.jobs import Cancelled, Stage
from gui.pages.compress_model import RunState, run_blocker

STAGES = (Stage("baseline", "baseline", 1.0), Stage("step-1", "step 1/1: quantize.static", 2.0),
          Stage("timing", "ONNX Runtime latency", 1.0))


def started_state() -> tuple[RunState, list[str]]:
    log: list[str] = []
    clock = iter(range(0, 10_000, 3))  # every reading 3 s later: every progress line is logged
    state = RunState(log=log.append, clock_now=lambda: float(next(clock)))
    state.start(first_run_id=1)
    state.handle(StagesPlanned(STAGES))
    return state, log


def test_the_stage_shown_is_the_one_the_runner_announced_not_one_read_from_text():
    state, log = started_state()
    state.handle(StageStarted(STAGES[1], 1))
    # a message that starts like another stage's label does not move the page to that stage
    state.handle(Progress(0.5, "baseline: this text mentions another stage", "step-1"))
    assert state.stage_text.startswith("Stage 2 of 3 · ")
    assert state.stage_fraction == 0.5  # halfway through step-1's share (0.25 .. 0.75 of the bar)
    assert state.overall == 0.5
    state.handle(StageFinished(STAGES[1], 1, 2.0))
    state.handle(PartialResult("step", {"index": 1, "technique": "quantize.static", "seconds": 2.0, "summary": "int8",
                                        "metrics": {"accuracy": 0.9, "params": 10, "macs": 20, "size_bytes": 1024}}))
    assert "step 1/1: quantize.static: started" in log and any("finished in 2.0 s" in line for line in log)
    state.handle(Done({"run_id": 7, "status": "done", "reused": False}))
    assert not state.running and state.overall == 1.0 and state.stage_text == "Finished: run #7"


def test_cancel_keeps_the_bars_where_they_were():
    """Issue 17 #2: the run's closing "progress 1.0" after Cancel is not the recipe finishing."""
    state, _ = started_state()
    state.handle(StageStarted(STAGES[1], 1))
    state.handle(Progress(0.4, "step 1/1: quantize.static: calibrating", "step-1"))
    state.cancel()
    state.handle(Progress(1.0, "cancelled"))
    state.handle(Done({"run_id": 3, "status": "cancelled"}))
    assert state.overall == 0.4 and state.stage_text == "Run #3 cancelled"
    state.start(first_run_id=4)
    state.cancel()
    state.handle(Failed(Cancelled("cancelled by the user"), cancelled=True))
    assert state.stage_text == "Cancelled" and state.error is None


def test_run_blocker_names_the_first_thing_to_do():
    ok = {"ready": True, "running": False, "loading": False, "model": object(), "data": object(), "problems": [],
          "inputs": object()}
    assert run_blocker(**ok) == ""
    assert "still loading" in run_blocker(**{**ok, "ready": False})
    assert "Load a model" in run_blocker(**{**ok, "model": None})
    assert run_blocker(**{**ok, "inputs": "Open a workspace first."}) == "Open a workspace first."


def test_the_result_card_lists_the_layers_int8_kept_in_fp32_with_their_cost(qtbot, tmp_path):
    """Issue 18: the layers max_drop kept in fp32 are named on the card, with bytes and multiply-adds, from the step itself."""
    from types import SimpleNamespace

    from core.techniques.quantize_static import QuantizeStatic
    from gui.pages.compress_model import fp32_layers
    from gui.widgets.result_card import ResultCard
    from tests.core.techniques.mobile_helpers import fragile_layer, loaded_torchscript_onnx
    from tests.core.techniques.quant_helpers import context

    step = QuantizeStatic(calibration_samples=40, max_drop=1.0, exclude_nodes=()).apply(loaded_torchscript_onnx(), context(tmp_path))
    stored = {"index": 1, "technique": "quantize.static", "params": {"max_drop": 1.0}, **step.to_dict()}
    lines = fp32_layers([stored])
    assert len(lines) == 1
    kept = next(r for r in step.layers if r["kept_fp32"])
    assert lines[0].startswith("1. quantize.static kept 1 layer in fp32 for max_drop 1")
    assert f"{fragile_layer()} (+{kept['fp32_extra_bytes'] / 1024:.2f} KiB, {kept['macs_share']:.1%} of MACs)" in lines[0]
    assert f"{step.extra['int8_agreement_before_fallback']:.1%} → {step.extra['target_agreement']:.1%}" in lines[0]
    assert fp32_layers([{**stored, "layers": [{**r, "kept_fp32": False, "excluded": False} for r in step.layers]}]) == []

    asked = {"index": 2, "technique": "quantize.static", "params": {}, "layers": [{"layer": "fc", "excluded": True}]}
    assert fp32_layers([asked]) == ["2. quantize.static left in fp32 as the recipe asks: fc"]

    card = ResultCard()
    qtbot.addWidget(card)
    row = SimpleNamespace(id=7, name="int8-target", status="done", seconds=3.0, error=None, baseline={}, final={},
                          steps=[stored], artifacts={})
    card.show_row(row)
    assert fragile_layer() in card.steps.text() and "for max_drop 1" in card.steps.text()


def test_the_card_says_a_missed_target_and_the_latency_the_fp32_layers_cost():
    """A max_drop the time budget could not meet: the card says NOT met beside the layers and their latency."""
    from gui.pages.compress_model import fp32_layers

    layers = [{"layer": "stem", "kept_fp32": True, "excluded": True, "fp32_extra_bytes": 2592, "macs_share": 0.019},
              {"layer": "fc", "kept_fp32": False, "excluded": False}]
    step = {"index": 1, "technique": "quantize.static", "params": {"max_drop": 2.0}, "layers": layers,
            "extra": {"int8_agreement_before_fallback": 0.885, "target_agreement": 0.93, "target_met": False,
                      "fp32_slowdown": 1.29, "fp32_extra_bytes": 2592, "fp32_macs_share": 0.019}}
    line = fp32_layers([step])[0]
    assert "(agreement 88.5% → 93.0%; target NOT met, the most accurate model within the fp32 budget): stem" in line
    assert line.endswith("1.9% of the multiply-adds in fp32, 1.29× all-int8's latency")
    met = fp32_layers([{**step, "extra": {**step["extra"], "target_met": True}}])[0]
    assert "NOT met" not in met
