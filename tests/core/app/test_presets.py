"""Shipped presets and example recipes deliver on the demo: within 3 points of the baseline.

Issue 14: "Prune 50% + int8" ended at 9.65 % (−89 pt) on the demo, and the app
showed it as fitting. A preset that removes channels or weights must win the
accuracy back before it ends; run as shipped, each stays within 3 points.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.app.presets import PRESETS, example_recipes
from core.pipeline.recipe import parse_recipe

MAX_DROP_PT = 3.0
DESTRUCTIVE = ("prune.structured", "prune.unstructured", "lowrank.svd", "lowrank.tucker")
RECOVERING = ("finetune", "distill.kd", "quantize.qat")
SHIPPED = [(p.name, p.toml) for p in PRESETS] + [(f.name, f.read_text()) for f in example_recipes()]
# the case-study reproduction trains a ResNet-18 for tens of epochs: tests/core/test_training_seed_pipeline.py runs it short
ON_THE_DEMO = [(n, t) for n, t in SHIPPED if n != "seed-pipeline.toml"]


@pytest.mark.parametrize("name, toml", SHIPPED, ids=[n for n, _ in SHIPPED])
def test_a_step_that_removes_channels_or_weights_is_followed_by_recovery(name, toml):
    techniques = [s.technique for s in parse_recipe(toml, source=name).steps]
    for i, technique in enumerate(techniques):
        if technique in DESTRUCTIVE:
            assert any(t in RECOVERING for t in techniques[i + 1:]), f"{name}: {technique} is never recovered from"


@pytest.mark.slow
@pytest.mark.parametrize("name, toml", ON_THE_DEMO, ids=[n for n, _ in ON_THE_DEMO])
def test_every_shipped_recipe_stays_within_3_points_on_the_demo(name, toml, tmp_path: Path):
    from core.data import load_dataset
    from core.models import load_model
    from core.pipeline.runner import RunOptions, run_recipe

    result = run_recipe(parse_recipe(toml, source=name), load_model("demo"), load_dataset("demo", seed=0), tmp_path / "run",
                        RunOptions(threads=1, warmup=1, repeats=3))
    base, final = result.baseline.metrics.accuracy, result.final.metrics.accuracy
    print(f"\n{name}: {base:.4f} → {final:.4f} ({100 * (final - base):+.2f} pt)")
    assert 100 * (base - final) <= MAX_DROP_PT
