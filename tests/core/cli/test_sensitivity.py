"""edgeslim-cli sensitivity: a ranked table with a pasteable step, one JSON object, one clear line for bad input."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from core.pipeline.recipe import parse_recipe
from tests.core.cli.helpers import assert_clear_error, run_cli

FAST = ("--model", "demo", "--data", "demo", "--max-batches", "1", "--quiet")


def test_prune_table_ranks_layers_and_prints_a_valid_step(capsys):
    code, out, err = run_cli(capsys, "sensitivity", *FAST, "--technique", "prune.structured",
                             "--layers", "conv1,layer3.1.conv1")
    assert code == 0, err
    lines = out.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("layer "))):]
    ranked = [line.split()[0] for line in table[2:6]]
    assert ranked[:3] == ["conv1", "layer1.0.conv2", "layer1.1.conv2"]  # the residual group, pruned together, first
    assert ranked[3] == "layer3.1.conv1"
    step = out[out.index("[[step]]"): out.index("note:")]
    recipe = parse_recipe(step)  # what the user pastes into a recipe is valid as it is
    assert recipe.steps[0].technique == "prune.structured"
    assert "conv1" in recipe.steps[0].config.ignore_layers


def test_quant_error_json_is_one_object(capsys):
    code, out, err = run_cli(capsys, "sensitivity", *FAST, "--technique", "quantize.static", "--method", "error",
                             "--calibration-samples", "32", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["technique"] == "quantize.static" and report["method"] == "error" and report["key"] == "lost_db"
    assert len(report["rows"]) == 16 and {"layer", "input_sqnr_db", "output_sqnr_db", "lost_db"} <= set(report["rows"][0])
    losses = [r["lost_db"] for r in report["rows"]]
    assert losses == sorted(losses, reverse=True)
    assert report["suggestion"]["technique"] == "quantize.static"
    assert report["settings"]["eval_images"] == 128


@pytest.mark.parametrize("argv, needles", [
    (("--technique", "prune.structure"), ("prune.structure", "prune.structured")),
    (("--technique", "quantize.static", "--method", "leave_one"), ("leave_one", "exclude_one")),
    (("--technique", "prune.structured", "--method", "error"), ("--method",)),
    (("--technique", "prune.structured", "--layers", "layer9.conv1"), ("layer9.conv1",)),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, needles):
    code, _, err = run_cli(capsys, "sensitivity", *FAST, *argv)
    assert_clear_error(code, err, *needles)


def test_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["sensitivity", "--help"])
    assert info.value.code == 0
    assert "--technique" in capsys.readouterr().out
