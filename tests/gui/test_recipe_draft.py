"""The pure helpers behind the Compress page (core.app.recipe_draft, core.app.presets, core.app.estimate): no Qt needed."""

from __future__ import annotations

import pytest

from core.pipeline.recipe import RecipeError, parse_recipe
from core.app.presets import PRESETS, example_recipes, get_preset
from core.app.recipe_draft import RecipeDraft


def test_values_are_kept_while_wrong_and_the_rule_is_recorded():
    draft = RecipeDraft()
    step = draft.add("prune.structured")
    assert draft.set_value(step.uid, "ratio", 1.5) == "1.5 is out of range from 0 to 0.95"
    assert step.values["ratio"] == 1.5 and not step.valid
    problems = draft.problems()
    assert len(problems) == 1 and problems[0].uid == step.uid and problems[0].field == "ratio"
    assert "Channel ratio" in problems[0].text
    with pytest.raises(RecipeError):
        draft.to_recipe()
    assert draft.set_value(step.uid, "ratio", 0.25) is None
    assert draft.problems() == [] and draft.to_recipe().steps[0].config.ratio == 0.25


def test_the_order_problem_names_the_step_that_cannot_run_there():
    draft = RecipeDraft()
    quant = draft.add("quantize.static")
    tune = draft.add("finetune")
    problem = draft.order_problem()
    assert problem.uid == tune.uid and "finetune cannot follow quantize.static" in problem.text
    draft.move(tune.uid, 0)
    assert draft.order_problem() is None
    draft.set_enabled(quant.uid, False)
    draft.set_enabled(tune.uid, False)
    assert "no enabled steps" in draft.order_problem().text
    # an ONNX model takes only ONNX-side steps
    only_quant = RecipeDraft()
    only_quant.add("quantize.dynamic")
    assert only_quant.order_problem(input_is_onnx=True) is None
    prune_first = RecipeDraft()
    prune_first.add("prune.unstructured")
    assert "ONNX file" in prune_first.order_problem(input_is_onnx=True).text


def test_toml_round_trip_keeps_order_values_and_disabled_steps(tmp_path):
    draft = RecipeDraft("mine")
    a = draft.add("prune.unstructured", {"sparsity": 0.6, "ignore_layers": ("fc",)})
    draft.add("finetune", {"epochs": 1}, enabled=False)
    draft.add("quantize.static")
    draft.reorder([s.uid for s in draft.steps])
    path = draft.save(tmp_path / "mine.toml")
    again = RecipeDraft()
    again.load_file(path)
    assert again.name == "mine"
    assert [(s.technique, s.enabled) for s in again.steps] == [("prune.unstructured", True), ("finetune", False), ("quantize.static", True)]
    assert again.steps[0].values["ignore_layers"] == ("fc",) and again.steps[0].values["sparsity"] == 0.6
    assert again.steps[0].changed_values() == {"sparsity": 0.6, "ignore_layers": ("fc",)}
    assert parse_recipe(draft.to_toml()).to_dict() == parse_recipe(again.to_toml()).to_dict()
    draft.remove(a.uid)
    assert len(draft.steps) == 2


def test_every_preset_and_example_is_a_valid_recipe():
    for preset in PRESETS:
        recipe = preset.recipe()
        recipe.check_order()
        assert recipe.steps and preset.description
    assert get_preset("Fast int8").recipe().steps[0].technique == "quantize.static"
    assert {p.stem for p in example_recipes()} >= {"int8-static", "prune-finetune-int8"}


def test_run_stages_cover_the_bar_in_the_runners_order():
    from core.app.estimate import run_stages

    stages = run_stages(get_preset("Deep compression: prune → finetune → int8").recipe())
    assert [s.label for s in stages] == ["baseline", "step 1/3: prune.structured", "step 2/3: finetune",
                                         "step 3/3: quantize.static", "ONNX Runtime latency"]
    assert stages[0].start == 0.0 and stages[-1].end == 0.99
    assert all(a.end == pytest.approx(b.start) for a, b in zip(stages, stages[1:]))
    finetune = stages[2]
    assert finetune.end - finetune.start > stages[1].end - stages[1].start  # training gets the larger slice


def test_undo_redo_walk_back_and_forth_and_modified_compares_with_the_loaded_recipe():
    draft = RecipeDraft()
    draft.load(get_preset("Prune 50% + int8").recipe())
    assert not draft.modified and not draft.can_redo()
    prune = draft.steps[0]
    for ratio in (0.4, 0.35, 0.3):  # typing into one field: one undo step
        draft.set_value(prune.uid, "ratio", ratio)
    draft.set_enabled(draft.steps[1].uid, False)
    assert draft.modified
    assert draft.undo() and draft.steps[1].enabled and draft.steps[0].values["ratio"] == 0.3
    assert draft.undo() and draft.steps[0].values["ratio"] == 0.5 and not draft.modified
    assert draft.steps[0].uid == prune.uid  # the same steps, so a view keeps its selection
    assert draft.redo() and draft.steps[0].values["ratio"] == 0.3
    draft.load(get_preset("Fast int8").recipe())
    assert [s.technique for s in draft.steps] == ["quantize.static"] and not draft.can_redo()
    assert draft.undo() and [s.technique for s in draft.steps] == ["prune.structured", "finetune", "quantize.static"]


def test_a_suggestion_goes_where_it_can_run():
    draft = RecipeDraft()
    draft.load(get_preset("Fast int8").recipe())
    applied = draft.apply_suggestion("prune.structured", {"ratio": 0.3, "ignore_layers": ["fc"]})
    assert applied.added and applied.index == 0  # a PyTorch-side step before the ONNX-side int8
    assert [s.technique for s in draft.steps] == ["prune.structured", "quantize.static"] and draft.problems() == []
    again = draft.apply_suggestion("prune.structured", {"ratio": 0.4})
    assert not again.added and again.changes == ["ratio: 0.3 → 0.4"] and len(draft.steps) == 2
    assert "applied to step 1 (prune.structured): ratio: 0.3 → 0.4" in again.describe("prune.structured")
