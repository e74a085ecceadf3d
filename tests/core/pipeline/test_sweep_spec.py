"""SweepSpec: what the app's sweep dialog builds is a sweep file the CLI's parser reads back unchanged."""

from __future__ import annotations

import pytest

from core.pipeline.sweep import SweepError, load_sweep, parse_sweep
from core.pipeline.sweep_spec import Range, SweepSpec, grid_values

RECIPE = '''name = "prune-int8"
description = "prune then int8"

[[step]]
technique = "prune.structured"
ratio = 0.5
importance = "l1"
ignore_layers = ["fc"]

[[step]]
technique = "finetune"
enabled = false
epochs = 2

[[step]]
technique = "quantize.static"
'''


def test_a_grid_round_trips_through_the_cli_parser(tmp_path):
    spec = SweepSpec("grid4", RECIPE, axes={"prune.structured.ratio": [0.3, 0.5], "quantize.static": ["on", "off"]})
    assert spec.grid_size() == 4 and spec.size() == 4
    sweep = parse_sweep(spec.to_toml(), tmp_path)
    assert sweep.name == "grid4" and sweep.mode == "grid" and sweep.size() == 4
    assert sweep.grid_points()[1] == {"prune.structured.ratio": 0.3, "quantize.static": "off"}
    steps = sweep.recipe.steps
    assert [s.technique for s in steps] == ["prune.structured", "finetune", "quantize.static"]
    assert [s.enabled for s in steps] == [True, False, True]  # a disabled step stays disabled
    assert steps[0].config.ignore_layers == ("fc",) and steps[1].config.epochs == 2
    # saved, it is a file `edgeslim-cli sweep` runs: self-contained (the recipe inline)
    path = tmp_path / "elsewhere" / "grid4.toml"
    path.parent.mkdir()
    path.write_text(spec.to_toml())
    assert load_sweep(path).size() == 4


def test_an_optuna_search_keeps_ranges_objectives_and_constraints(tmp_path):
    spec = SweepSpec("search", RECIPE, mode="optuna", trials=7, sampler="tpe", objectives=["accuracy", "latency", "size"],
                     axes={"prune.structured.ratio": Range(0.1, 0.8), "finetune.epochs": Range(1, 3),
                           "prune.structured.importance": ["l1", "l2"], "quantize.static.calibration_samples": Range(32.0, 256.0)},
                     constraints={"max_size_bytes": 250_000, "min_accuracy": 0.9})
    text = spec.to_toml()
    assert '"prune.structured.ratio" = { min = 0.1, max = 0.8 }' in text
    sweep = parse_sweep(text, tmp_path)
    assert (sweep.mode, sweep.trials, sweep.sampler, sweep.objectives) == ("optuna", 7, "tpe", ["accuracy", "latency", "size"])
    axes = {a.key: a for a in sweep.axes}
    assert (axes["prune.structured.ratio"].low, axes["prune.structured.ratio"].high) == (0.1, 0.8)
    assert axes["finetune.epochs"].integer and not axes["prune.structured.ratio"].integer
    assert not axes["quantize.static.calibration_samples"].integer  # 32.0 stays a float: the writer keeps the type
    assert axes["prune.structured.importance"].values == ("l1", "l2")
    assert sweep.constraints == {"max_size_bytes": 250_000, "min_accuracy": 0.9}


def test_check_names_the_value_a_recipe_refuses(tmp_path):
    with pytest.raises(SweepError, match="1.5"):
        SweepSpec("bad", RECIPE, axes={"prune.structured.ratio": [0.5, 1.5]}).check(tmp_path)
    with pytest.raises(SweepError, match="no distill.kd step"):
        SweepSpec("bad", RECIPE, axes={"distill.kd.epochs": [1, 2]}).check(tmp_path)
    with pytest.raises(SweepError, match="nothing to vary"):
        SweepSpec("empty", RECIPE).check(tmp_path)


def test_text_values_are_quoted_safely(tmp_path):
    spec = SweepSpec('odd "name"', RECIPE, axes={"prune.structured.importance": ["l1", "l2"]})
    assert parse_sweep(spec.to_toml(), tmp_path).name == 'odd "name"'


@pytest.mark.parametrize("args, expected", [
    ((0.1, 0.5, 3), [0.1, 0.3, 0.5]),
    ((0.2, 0.8, 4), [0.2, 0.4, 0.6, 0.8]),
    ((1, 4, 3, True), [1, 2, 4]),
    ((1, 2, 5, True), [1, 2]),  # whole numbers are not repeated
    ((0.5, 0.9, 1), [0.5]),
])
def test_grid_values_are_evenly_spaced_and_readable(args, expected):
    assert grid_values(*args) == expected
