"""Recipes: TOML in and out, and every mistake caught before anything runs, with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

import core.paths as paths
from core.pipeline.recipe import Recipe, RecipeError, load_recipe, parse_recipe

GOOD = """
name = "prune-then-int8"

[[step]]
technique = "prune.unstructured"
sparsity = 0.5

[[step]]
technique = "finetune"
epochs = 2
enabled = false
"""


def _error(text: str) -> RecipeError:
    with pytest.raises(RecipeError) as err:
        parse_recipe(text, source="r.toml").check_order()
    return err.value


def test_parse_builds_validated_configs_and_keeps_lines():
    r = parse_recipe(GOOD, source="r.toml")
    assert r.name == "prune-then-int8"
    assert [s.technique for s in r.steps] == ["prune.unstructured", "finetune"]
    assert r.steps[0].config.sparsity == 0.5 and r.steps[0].line == 4
    assert r.steps[1].enabled is False and [s.technique for s in r.active_steps] == ["prune.unstructured"]


def test_round_trip_through_toml_keeps_every_setting():
    r = parse_recipe(GOOD)
    again = parse_recipe(r.to_toml())
    assert again.to_dict() == r.to_dict()
    assert again.steps[0].config == r.steps[0].config


def test_save_and_load(tmp_path):
    path = parse_recipe(GOOD).save(tmp_path / "x.toml")
    assert load_recipe(path).to_dict() == parse_recipe(GOOD).to_dict()


def test_unknown_technique_names_the_line_and_suggests():
    err = _error('[[step]]\ntechnique = "prune.unstructurd"\n')
    assert err.line == 2 and "line 2" in str(err)
    assert "prune.unstructured" in str(err)


def test_unknown_parameter_names_the_line_and_lists_the_allowed_ones():
    err = _error('[[step]]\ntechnique = "finetune"\nepochs = 2\nlearning_rate = 0.1\n')
    assert err.line == 4
    assert "learning_rate" in str(err) and "lr" in str(err) and "batch_size" in str(err)


def test_out_of_range_value_names_the_line_and_the_range():
    err = _error('[[step]]\ntechnique = "prune.unstructured"\nsparsity = 1.5\n')
    assert err.line == 3
    assert "1.5" in str(err) and "from 0 to 0.99" in str(err)


def test_wrong_choice_lists_the_choices():
    err = _error('[[step]]\ntechnique = "prune.unstructured"\nscope = "everywhere"\n')
    assert "'global'" in str(err) and "'per_layer'" in str(err)


def test_wrong_type_is_reported():
    err = _error('[[step]]\ntechnique = "finetune"\nepochs = "two"\n')
    assert err.line == 3 and "whole number" in str(err)


def test_bad_toml_reports_its_line():
    err = _error('[[step]]\ntechnique = "finetune"\nepochs = = 2\n')
    assert err.line == 3 and "TOML" in str(err)


def test_step_without_technique():
    err = _error("[[step]]\nepochs = 2\n")
    assert err.line == 1 and "no technique" in str(err)


def test_unknown_top_level_key_suggests_step():
    err = _error('[[steps]]\ntechnique = "finetune"\n')
    assert "'step'" in str(err)


def test_empty_recipe_is_rejected():
    err = _error('name = "nothing"\n')
    assert "no enabled steps" in str(err)


def test_pytorch_step_after_onnx_quantization_is_rejected_with_both_lines():
    text = '[[step]]\ntechnique = "quantize.static"\n\n[[step]]\ntechnique = "finetune"\n'
    err = _error(text)
    assert err.line == 4
    assert "finetune cannot follow quantize.static (line 1)" in str(err) and "last" in str(err)


def test_two_onnx_quantizations_are_rejected():
    err = _error('[[step]]\ntechnique = "quantize.static"\n[[step]]\ntechnique = "quantize.fp16"\n')
    assert err.line == 3


def test_an_onnx_model_accepts_only_onnx_side_quantization():
    ok = parse_recipe('[[step]]\ntechnique = "quantize.static"\n')
    ok.check_order(input_is_onnx=True)
    bad = parse_recipe('[[step]]\ntechnique = "prune.unstructured"\n', source="r.toml")
    with pytest.raises(RecipeError, match="ONNX file"):
        bad.check_order(input_is_onnx=True)


def test_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="no such recipe file"):
        load_recipe(tmp_path / "nope.toml")


def test_with_step_validates_like_the_parser():
    r = Recipe(name="x").with_step("finetune", epochs=3)
    assert r.steps[0].config.epochs == 3
    with pytest.raises(RecipeError, match="epochs"):
        Recipe().with_step("finetune", epochs=0)


@pytest.mark.parametrize("path", sorted((paths.RESOURCES_DIR / "recipes").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_example_recipes_are_valid(path: Path):
    recipe = load_recipe(path)
    recipe.check_order()
    assert recipe.name == path.stem
