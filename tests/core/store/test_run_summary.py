"""What the Explore page shows of stored runs: families, deltas, the front, budget verdicts."""

from __future__ import annotations

import pytest

from core.pipeline.pareto import pareto_indices
from core.store.run_summary import Budgets, baselines, family_of, summarise_runs
from core.store.workspace import Workspace
from tests.store_runs import fill


def test_family_ignores_finetune_next_to_another_family_and_marks_chains():
    assert family_of(["prune.structured", "finetune"]) == "Pruning"
    assert family_of(["finetune"]) == "Fine-tune"
    assert family_of(["arch.swap"]) == "Distillation"
    assert family_of(["prune.structured", "finetune", "quantize.static"]) == "Chain"
    assert family_of(["my.plugin"], {"my.plugin": "Quantization"}) == "Quantization"
    assert family_of([]) == "Baseline"


@pytest.mark.parametrize("axis,objective", [("size", "size"), ("latency", "latency"), ("macs", "macs")])
def test_front_flags_match_the_core_pareto_front(tmp_path, axis, objective):
    with Workspace(tmp_path / "ws") as ws:
        fill(ws)
        rows = ws.list_runs()
    summaries = summarise_runs(rows, axis, floor_pt=None)
    done = [r for r in rows if r.status == "done"]
    expected = {done[i].id for i in pareto_indices([r.final for r in done], [objective, "accuracy"])}
    assert {s.id for s in summaries if s.on_front} == expected and expected


def test_a_run_far_below_its_baseline_is_not_on_the_front(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        fill(ws)
        done = [r for r in ws.list_runs() if r.status == "done"]
        smallest = min(done, key=lambda r: r.final["size_bytes"])
        chance = {**smallest.final, "accuracy": 0.1, "size_bytes": smallest.final["size_bytes"] // 2}
        run_id = ws.create_run(name="chance", recipe_name="chance", recipe_toml="", techniques=["prune.structured"],
                               model_spec="demo", data_spec="demo", load_options={}, options={}, trial_key="chance")
        ws.start_run(run_id)
        ws.finish_run(run_id, "done", {"baseline": smallest.baseline, "final": chance, "steps": [], "artifacts": {}})
        rows = ws.list_runs()
    on_front = {s.id for s in summarise_runs(rows, "size") if s.on_front}
    assert run_id not in on_front and on_front  # the smallest file, at chance level: no trade-off
    assert run_id in {s.id for s in summarise_runs(rows, "size", floor_pt=None) if s.on_front}


def test_deltas_ratios_and_status_come_from_the_stored_metrics(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        ids = fill(ws)
        by_id = {s.id: s for s in summarise_runs(ws.list_runs())}
    int8 = by_id[ids["int8"]]
    assert int8.delta_pt == pytest.approx(-0.1) and int8.size_ratio == pytest.approx(700_000 / 190_000)
    assert int8.speedup == pytest.approx(2.0) and int8.family == "Quantization"
    failed = by_id[ids["failed"]]
    assert failed.status == "failed" and not failed.plottable and not failed.on_front
    cancelled = by_id[ids["cancelled"]]
    assert cancelled.plottable and not cancelled.on_front  # measured before it stopped, but never on the front


def test_budget_verdicts_name_what_is_over():
    b = Budgets("tiny", size_bytes=200_000, latency_ms=0.1)
    assert b.verdict(150_000, 0.05) == (True, [])
    fits, why = b.verdict(400_000, 0.3)
    assert fits is False and why == ["file 2.0× the size budget", "latency 3.0× the budget"]
    assert Budgets().verdict(1e9, 1e3) == (None, [])


def test_target_budget_uses_ram_when_weights_are_loaded_into_it():
    from core.export.targets import get_target

    stm = get_target("stm32h7")
    assert Budgets.for_target(stm).size_bytes == (stm.memory.storage_bytes if not stm.weights_in_ram
                                                  else min(stm.memory.storage_bytes, stm.memory.ram_bytes))
    rpi = get_target("rpi4")
    assert Budgets.for_target(rpi, 5.0) == Budgets(rpi.label, min(rpi.memory.storage_bytes, rpi.memory.ram_bytes), 5.0)


def test_one_baseline_point_per_starting_model(tmp_path):
    from tests.store_runs import add_run, final_metrics

    with Workspace(tmp_path / "ws") as ws:
        fill(ws)
        add_run(ws, "other-model", ["quantize.static"], final_metrics(0.7, 1000, 10, 0.01), model_spec="torchvision:resnet18")
        points = baselines(ws.list_runs())
    assert sorted(p.model_spec for p in points) == ["demo", "torchvision:resnet18"]
    demo = next(p for p in points if p.model_spec == "demo")
    assert demo.accuracy == 0.99 and demo.size_bytes == 700_000 and demo.runs == 11
