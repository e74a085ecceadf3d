"""edgeslim-cli: a model and data that do not fit are refused at once with the flags to use; --labels maps subsets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from core.data import imagenet

from tests.core.colour_model import BLUE, GREEN, RED, colour_folder, colour_onnx
from tests.core.cli.helpers import assert_clear_error, run_cli

GOLDEN = "n02099601"


@pytest.fixture(scope="module")
def demo_onnx(tmp_path_factory):
    """The demo network (10 classes, 32×32) exported as an ONNX file with a fixed input size."""
    from core.models import load_model
    from core.models.onnx_export import export_onnx

    return export_onnx(load_model("demo").module, (3, 32, 32), tmp_path_factory.mktemp("demo") / "demo32.onnx")


@pytest.fixture(scope="module")
def photos224(tmp_path_factory):
    """A 3-class folder of 224×224 images."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog", "fox"):
        (root / cls).mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory):
    return colour_onnx(tmp_path_factory.mktemp("colour") / "colour.onnx")


RECIPE = "resources/recipes/int8-static.toml"


@pytest.mark.parametrize("command", [
    ["evaluate"],
    ["run", RECIPE, "--out", "{out}"],
    ["sensitivity", "--technique", "quantize.static"],
    ["sweep", "resources/sweeps/prune-grid.toml", "--workspace", "{out}"],
    ["export", "--target", "x86-64", "--out", "{out}"],
])
def test_a_fixed_size_model_and_other_data_are_refused_at_once_with_the_flags(capsys, tmp_path, demo_onnx, photos224, command):
    argv = [a.replace("{out}", str(tmp_path / "out")) for a in command]
    model = [str(demo_onnx)] if command[0] == "evaluate" else ["--model", str(demo_onnx)]
    code, out, err = run_cli(capsys, *argv, *model, "--data", str(photos224), "--quiet")
    assert_clear_error(code, err, "takes 3×32×32 input but the data gives 3×224×224", "10 outputs but the data has 3 classes",
                       "--image-size 32", "--labels FILE")
    assert not (tmp_path / "out" / "result.json").exists()  # refused before the run started


def test_the_fix_it_names_works(capsys, tmp_path, demo_onnx, photos224):
    labels = tmp_path / "labels.csv"
    labels.write_text("cat,3\ndog,5\nfox,8\n")
    code, out, err = run_cli(capsys, "evaluate", str(demo_onnx), "--data", str(photos224), "--image-size", "32",
                             "--labels", str(labels), "--repeats", "1", "--json", "--quiet")
    assert code == 0, err
    report = json.loads(out)
    assert report["n_eval"] > 0 and report["input_shape"] == [3, 32, 32]


def test_labels_file_maps_a_subset_folder_onto_1000_outputs(capsys, tmp_path, colour_model):
    folder = colour_folder(tmp_path / "pets", {RED: "cat", GREEN: "dog", BLUE: "fox"})
    code, _, err = run_cli(capsys, "evaluate", str(colour_model), "--data", str(folder), "--repeats", "1", "--quiet")
    assert_clear_error(code, err, "1000 outputs but the data has 3 classes", "--labels FILE")
    labels = tmp_path / "labels.csv"
    labels.write_text(f"folder,index\ncat,{RED}\ndog,{GREEN}\nfox,{BLUE}\n")
    code, out, err = run_cli(capsys, "evaluate", str(colour_model), "--data", str(folder), "--labels", str(labels),
                             "--repeats", "1", "--json", "--quiet")
    assert code == 0, err
    assert json.loads(out)["accuracy"] == 1.0  # argmax over all 1000 outputs == each folder's output


def test_folders_named_by_index_and_wordnet_id_need_no_file(capsys, tmp_path, colour_model, monkeypatch):
    ids = [f"n01{i:06d}" for i in range(RED)] + [GOLDEN] + [f"n03{i:06d}" for i in range(RED + 1, 1000)]
    (tmp_path / "synsets.txt").write_text("\n".join(ids))
    monkeypatch.setattr(imagenet, "_timm_synsets_file", lambda: tmp_path / "synsets.txt")  # as timm ships it
    imagenet.imagenet_wnids.cache_clear()
    try:
        folder = colour_folder(tmp_path / "subset", {RED: GOLDEN, GREEN: str(GREEN), BLUE: str(BLUE)})
        code, out, err = run_cli(capsys, "evaluate", str(colour_model), "--data", str(folder), "--repeats", "1", "--json", "--quiet")
    finally:
        imagenet.imagenet_wnids.cache_clear()
    assert code == 0, err
    assert json.loads(out)["accuracy"] == 1.0


def test_run_stores_the_labels_and_measures_in_the_model_label_space(capsys, tmp_path, colour_model):
    folder = colour_folder(tmp_path / "pets", {RED: "cat", GREEN: "dog", BLUE: "fox"})
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"cat": RED, "dog": GREEN, "fox": BLUE}))
    recipe = tmp_path / "dyn.toml"
    recipe.write_text('name = "dyn"\n[[step]]\ntechnique = "quantize.dynamic"\n')
    code, out, err = run_cli(capsys, "run", str(recipe), "--model", str(colour_model), "--data", str(folder),
                             "--labels", str(labels), "--workspace", str(tmp_path / "ws"), "--repeats", "1", "--json", "--quiet")
    assert code == 0, err
    result = json.loads(out)
    assert result["baseline"]["accuracy"] == 1.0
    from core.store.workspace import Workspace

    with Workspace(tmp_path / "ws") as ws:
        row = ws.get_run(result["run_id"])
    assert row.load_options["labels"] == str(labels.resolve())  # a resume maps the folders the same way


@pytest.mark.slow
def test_torchvision_imagenet_model_on_a_small_subset_folder(capsys, tmp_path):
    """The issue's case: a 1000-output torchvision net (random weights) at 32 px on 3 classes named by index and id."""
    folder = colour_folder(tmp_path / "subset", {RED: GOLDEN, GREEN: str(GREEN), BLUE: str(BLUE)}, size=48)
    labels = tmp_path / "labels.csv"
    labels.write_text(f"{GOLDEN},{RED}\n{GREEN},{GREEN}\n{BLUE},{BLUE}\n")
    code, out, err = run_cli(capsys, "evaluate", "torchvision:mobilenet_v3_small", "--data", str(folder), "--image-size", "32",
                             "--labels", str(labels), "--repeats", "1", "--json", "--quiet")
    assert code == 0, err
    report = json.loads(out)
    assert report["input_shape"] == [3, 32, 32] and report["n_eval"] == 3
