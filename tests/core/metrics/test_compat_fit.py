"""Model and data checked as soon as both are chosen: fixed vs dynamic input size, class counts, label maps."""

from __future__ import annotations

import pytest
from torch import nn

from core.data import load_dataset
from core.errors import ShapeMismatchError
from core.metrics import check_compatible, evaluate_accuracy
from core.metrics.compat import find_mismatches, fit_data
from core.models import load_model

from ..colour_model import BLUE, GREEN, RED, colour_folder, colour_onnx
from .conftest import TinyCNN, linear_onnx, make_bundle, make_loaded


def test_a_dynamic_size_network_takes_another_input_size():
    """A torchvision-style net (adaptive pooling) at 16 px is not refused for being 'built for 224'."""
    model = make_loaded(TinyCNN(), (3, 224, 224))
    assert check_compatible(model, make_bundle(shape=(3, 16, 16))) == (3, 16, 16)


def test_a_dynamic_network_that_fails_on_the_size_names_the_image_size_to_use():
    model = make_loaded(nn.Sequential(nn.Flatten(), nn.Linear(48, 10)), (3, 4, 4))
    with pytest.raises(ShapeMismatchError) as info:
        check_compatible(model, make_bundle(shape=(3, 8, 8)))
    assert "3×4×4" in info.value.problem and "--image-size 4" in info.value.fix


def test_a_fixed_size_onnx_model_is_refused_without_running_it(tmp_path):
    model = load_model(str(linear_onnx(tmp_path / "lin.onnx", shape=(3, 4, 4), num_classes=10)))
    found = find_mismatches(model, make_bundle(shape=(3, 8, 8), num_classes=3), probe=False)
    assert [m.kind for m in found] == ["input", "classes"]  # both at once, not one per attempt
    shape, classes = found
    assert shape.problem == "the model takes 3×4×4 input but the data gives 3×8×8"
    assert "--image-size 4" in shape.fix_cli and "Image size on the Data page to 4" in shape.fix_app
    assert "--labels FILE" in classes.fix_cli and "Labels file…" in classes.fix_app
    assert "--num-classes" not in classes.fix_cli  # an ONNX file cannot be given a new head
    assert "--" not in shape.fix_app + classes.fix_app  # the app speaks of its controls, not of flags
    with pytest.raises(ShapeMismatchError) as info:
        check_compatible(model, make_bundle(shape=(3, 8, 8), num_classes=3))
    assert "--image-size 4" in str(info.value) and "--labels FILE" in str(info.value)


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory):
    return load_model(str(colour_onnx(tmp_path_factory.mktemp("colour") / "colour.onnx")))


def _accuracy(model, data) -> float:
    return evaluate_accuracy(model, data.loader("val", batch_size=8), topk=(1,)).top1


def test_a_labels_file_maps_a_subset_folder_and_accuracy_uses_all_outputs(tmp_path, colour_model):
    folder = colour_folder(tmp_path / "pets", {RED: "cat", GREEN: "dog", BLUE: "fox"})
    data = load_dataset(str(folder), preset="as-is")
    with pytest.raises(ShapeMismatchError, match="1000 outputs but the data has 3 classes"):
        check_compatible(colour_model, data)
    labels = tmp_path / "labels.csv"
    labels.write_text(f"cat,{RED}\ndog,{GREEN}\nfox,{BLUE}\n")
    fitted = fit_data(colour_model, data, labels)
    assert fitted.num_classes == 1000 and fitted.label_map.indices == {"cat": RED, "dog": GREEN, "fox": BLUE}
    assert _accuracy(colour_model, fitted) == 1.0


def test_folders_named_by_index_fit_a_1000_output_model_without_a_file(tmp_path, colour_model):
    folder = colour_folder(tmp_path / "subset", {RED: str(RED), GREEN: str(GREEN), BLUE: str(BLUE)})
    fitted = fit_data(colour_model, load_dataset(str(folder), preset="as-is"))
    assert _accuracy(colour_model, fitted) == 1.0
