"""Ready-made recipes the app offers in its "Presets" menu (the CLI reads the same TOML).

Each preset is plain recipe TOML, so choosing one in the app and saving it gives
exactly the file a user would write for ``edgeslim-cli run``. The shipped
example recipes in ``resources/recipes/`` are listed alongside by
:func:`example_recipes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.paths import RESOURCES_DIR

RECIPES_DIR = RESOURCES_DIR / "recipes"
# Two epochs at a high peak rate without augmentation: what a pruned network needs to win its accuracy back
# (shifts and rotations slow the recovery that two epochs have to make).
RECOVERY_FINETUNE = '[[step]]\ntechnique = "finetune"\nepochs = 2\nbatch_size = 32\nlr = 0.05\naugment = false\n\n'


@dataclass(frozen=True)
class Preset:
    name: str  # shown in the menu
    description: str  # one line: what it does and when to use it
    toml: str  # the recipe

    def recipe(self):
        """The preset as a validated :class:`core.pipeline.recipe.Recipe` (imports the technique registry)."""
        from core.pipeline.recipe import parse_recipe

        return parse_recipe(self.toml, source=self.name)


PRESETS: tuple[Preset, ...] = (
    Preset(
        "Fast int8",
        "Post-training static int8 with ONNX Runtime: about 4× smaller, faster on most CPUs, no training "
        "(on the demo: 3.6× smaller file, ±0.0 pt).",
        'name = "fast-int8"\n\n[[step]]\ntechnique = "quantize.static"\ncalibration_samples = 128\n',
    ),
    Preset(
        "Prune 50% + int8",
        "Remove half of the channels (fewer MACs on any runtime), win the accuracy back with two epochs of "
        "fine-tuning, then quantize to int8: on the demo 11× smaller file for −1.7 pt (without the fine-tune "
        "it fell to chance, −89 pt).",
        'name = "prune50-int8"\n\n[[step]]\ntechnique = "prune.structured"\nratio = 0.5\nimportance = "l1"\n\n'
        + RECOVERY_FINETUNE + '[[step]]\ntechnique = "quantize.static"\n',
    ),
    Preset(
        "Distil to MobileNetV3-Small",
        "Train a MobileNetV3-Small on the current model's soft targets (knowledge distillation), its width "
        "chosen to keep it at most half the teacher's parameters. On the demo: ×0.15, 53 k params (3.3× fewer), "
        "−0.7 pt after 15 epochs, about a minute on one CPU core; larger models and data take far longer.",
        'name = "distil-mobilenet-v3-small"\n\n[[step]]\ntechnique = "distill.kd"\nstudent = "mobilenet_v3_small"\n'
        "epochs = 15\n",
    ),
    Preset(
        "Deep compression: prune → finetune → int8",
        "Remove 40 % of the channels (counts kept multiples of 8), win the accuracy back with two epochs of "
        "fine-tuning, then int8: on the demo 8.8× smaller for −0.6 pt.",
        'name = "deep-compression"\n\n[[step]]\ntechnique = "prune.structured"\nratio = 0.4\nimportance = "l1"\nround_to = 8\n\n'
        + RECOVERY_FINETUNE + '[[step]]\ntechnique = "quantize.static"\n',
    ),
)


def get_preset(name: str) -> Preset:
    for preset in PRESETS:
        if preset.name == name:
            return preset
    raise KeyError(name)


def example_recipes() -> list[Path]:
    """The example recipe files shipped with EdgeSlim, by name."""
    return sorted(RECIPES_DIR.glob("*.toml")) if RECIPES_DIR.is_dir() else []
