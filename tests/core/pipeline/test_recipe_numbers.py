"""TOML's nan and inf are refused wherever a number is read, naming the field (they pass every range check)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.pipeline.recipe import RecipeError, parse_recipe
from core.pipeline.sweep import SweepError, parse_sweep

STEP = '[[step]]\ntechnique = "{technique}"\n{key} = {value}\n'


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+nan"])
@pytest.mark.parametrize("technique, key", [("prune.structured", "ratio"), ("finetune", "lr"), ("distill.kd", "alpha")])
def test_non_finite_parameters_are_refused_with_the_field_name(technique, key, value):
    with pytest.raises(RecipeError) as err:
        parse_recipe(STEP.format(technique=technique, key=key, value=value), source="r.toml")
    text = str(err.value)
    assert f"{technique}: {key} = " in text and "finite number" in text and "line 3" in text


def test_whole_number_parameters_refuse_nan_and_inf_too():
    for value in ("nan", "inf"):
        with pytest.raises(RecipeError, match="finetune: epochs = .* whole number"):
            parse_recipe(STEP.format(technique="finetune", key="epochs", value=value))


@pytest.mark.parametrize("table", [
    'mode = "optuna"\n{steps}[search]\n"prune.structured.ratio" = {{ min = nan, max = 0.5 }}\n',
    'mode = "optuna"\n{steps}[search]\n"prune.structured.ratio" = {{ min = 0.1, max = inf }}\n',
    '{steps}[grid]\n"prune.structured.ratio" = [0.2, nan]\n',
    '{steps}[grid]\n"prune.structured.ratio" = [0.2]\n[constraints]\nmax_size_bytes = nan\n',
    '{steps}[grid]\n"prune.structured.ratio" = [0.2]\n[constraints]\nmin_accuracy = -inf\n',
])
def test_sweeps_refuse_non_finite_values(table):
    steps = STEP.format(technique="prune.structured", key="ratio", value=0.5)
    with pytest.raises(SweepError, match=r"nan|inf"):
        parse_sweep(table.format(steps=steps), Path("."))
