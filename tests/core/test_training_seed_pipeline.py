"""seed-pipeline.toml: the case study's chain (distil into ResNet-18 → prune 30 % group-L2 → finetune → QAT) as shipped."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import core.paths as paths
from core.pipeline.recipe import Recipe, load_recipe

RECIPE = Path(paths.RESOURCES_DIR) / "recipes" / "seed-pipeline.toml"


def _small(recipe: Recipe, epochs: int = 1, width: float = 0.25) -> Recipe:
    """The recipe with ``epochs`` per training step and a narrower student: the chain, at a size a shared CPU runs."""
    def shrink(config):
        changes = {"epochs": epochs} if hasattr(config, "epochs") else {}
        if hasattr(config, "width"):
            changes["width"] = width
        return dataclasses.replace(config, **changes)

    return dataclasses.replace(recipe, steps=[dataclasses.replace(s, config=shrink(s.config)) for s in recipe.steps])


def test_the_seed_pipeline_parses_in_the_case_study_order_with_its_settings():
    recipe = load_recipe(RECIPE)
    recipe.check_order()
    assert [s.technique for s in recipe.steps] == ["distill.kd", "prune.structured", "finetune", "quantize.qat"]
    distill, prune, finetune, _ = (s.config for s in recipe.steps)
    assert (distill.student, distill.width, distill.optimizer, distill.schedule) == ("resnet18", 1.0, "adam", "step")
    assert distill.weight_decay == pytest.approx(1e-3) and not distill.pretrained and distill.student_weights == ""
    assert (prune.ratio, prune.importance) == (0.3, "l2")
    assert (finetune.optimizer, finetune.schedule, finetune.augmentation) == ("adam", "step", "auto")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_seed_pipeline_runs_end_to_end_on_the_demo(tmp_path):
    from core.data import load_dataset
    from core.models import load_model
    from core.pipeline.runner import RunOptions, run_recipe

    recipe = _small(load_recipe(RECIPE))
    result = run_recipe(recipe, load_model("demo"), load_dataset("demo", seed=0), tmp_path / "run",
                        RunOptions(threads=2, warmup=1, repeats=3, device="cpu"))
    assert [s.technique for s in result.steps] == ["distill.kd", "prune.structured", "finetune", "quantize.qat"]
    student = result.steps[0]
    assert "ResNet-18" in student.outcome.model.name
    assert result.steps[1].outcome.extra["channels_removed"] == pytest.approx(0.3, abs=0.05)
    final = result.final.metrics
    assert final.accuracy is not None and final.accuracy > 0.5  # one epoch per step already learns the digits
    print(f"\nseed pipeline, 1 epoch per step, ResNet-18 ×0.25: baseline {result.baseline.metrics.accuracy:.4f} → final {final.accuracy:.4f}")
