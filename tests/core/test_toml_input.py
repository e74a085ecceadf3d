"""User TOML: a UTF-8 BOM is accepted; 100,000-deep nesting is a clear error naming the file, not a RecursionError."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.export.targets import TargetError, load_profile
from core.pipeline.recipe import RecipeError, load_recipe, parse_recipe
from core.pipeline.sweep import SweepError, load_sweep
from tests.core.export.test_targets import VALID

RECIPE = 'name = "r"\n[[step]]\ntechnique = "prune.structured"\nratio = 0.3\n'
DEEP = "[" * 100_000 + "]" * 100_000


def test_a_recipe_saved_with_a_bom_loads_with_its_line_numbers(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_text("[[step]]\ntechnique = \"prune.structured\"\nratio = 0.3\n", encoding="utf-8-sig")
    recipe = load_recipe(path)
    assert recipe.steps[0].config.ratio == 0.3 and recipe.steps[0].line == 1
    with pytest.raises(RecipeError, match="bom.toml, line 4"):  # lines still counted from the file's first line
        parse_recipe("\ufeff" + RECIPE.replace("0.3", "7"), source="bom.toml")


def test_a_sweep_and_a_profile_saved_with_a_bom_load(tmp_path):
    sweep = tmp_path / "s.toml"
    sweep.write_text(RECIPE + '[grid]\n"prune.structured.ratio" = [0.2, 0.4]\n', encoding="utf-8-sig")
    assert load_sweep(sweep).size() == 2
    profile = tmp_path / "tiny-mcu.toml"
    profile.write_text(VALID, encoding="utf-8-sig")
    assert load_profile(profile).name == "tiny-mcu"


def test_deep_nesting_is_a_clear_error_everywhere(tmp_path):
    with pytest.raises(RecipeError, match=r"deep\.toml: arrays or inline tables are nested too deeply"):
        parse_recipe(RECIPE + f"ignore_layers = {DEEP}\n", source="deep.toml")
    sweep = tmp_path / "s.toml"
    sweep.write_text(RECIPE + f'[grid]\n"prune.structured.ratio" = {DEEP}\n')
    with pytest.raises(SweepError, match="nested too deeply"):
        load_sweep(sweep)
    profile = tmp_path / "tiny-mcu.toml"
    profile.write_text(VALID + f"\n[ops]\nsupported = {DEEP}\n")
    with pytest.raises(TargetError, match=f"{profile}: arrays or inline tables are nested too deeply"):
        load_profile(profile)
    inline = "{ a = " * 50_000 + "1" + " }" * 50_000
    with pytest.raises(RecipeError, match="nested too deeply"):
        parse_recipe(RECIPE + f"ignore_layers = {inline}\n")
