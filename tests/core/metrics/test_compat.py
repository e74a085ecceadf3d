from __future__ import annotations

import pytest
from torch import nn

from core.errors import ShapeMismatchError
from core.metrics import check_compatible
from core.models.onnx_model import OnnxModel

from .conftest import TinyCNN, linear_onnx, make_bundle, make_loaded


def test_matching_model_and_data_give_the_shape():
    assert check_compatible(make_loaded(TinyCNN()), make_bundle()) == (3, 16, 16)


def test_input_shape_mismatch_names_both_shapes_and_the_fix():
    model = make_loaded(TinyCNN(), (3, 224, 224))
    with pytest.raises(ShapeMismatchError) as info:
        check_compatible(model, make_bundle(shape=(1, 28, 28)))
    text = str(info.value)
    assert "3×224×224" in text and "1×28×28" in text
    assert "--image-size" in info.value.fix


def test_class_count_mismatch_suggests_num_classes():
    model = make_loaded(TinyCNN(num_classes=1000), num_classes=1000)
    with pytest.raises(ShapeMismatchError) as info:
        check_compatible(model, make_bundle(num_classes=10))
    assert "1000 outputs" in info.value.problem and "10 classes" in info.value.problem
    assert "--num-classes 10" in info.value.fix


def test_unknown_shape_is_probed_and_a_failure_named():
    model = make_loaded(nn.Sequential(nn.Flatten(), nn.Linear(48, 10)), input_shape=None, num_classes=None)
    assert check_compatible(model, make_bundle(shape=(3, 4, 4))) == (3, 4, 4)
    with pytest.raises(ShapeMismatchError) as info:
        check_compatible(model, make_bundle(shape=(3, 8, 8)))
    assert "3×8×8" in info.value.problem
    assert "cannot be multiplied" in info.value.problem  # the RuntimeError's own first line
    assert isinstance(info.value.__cause__, RuntimeError)


def test_unknown_class_count_is_probed():
    model = make_loaded(TinyCNN(num_classes=5), num_classes=None)
    with pytest.raises(ShapeMismatchError, match="5 outputs but the data has 10 classes"):
        check_compatible(model, make_bundle(num_classes=10))


def test_onnx_runtime_failure_becomes_shape_mismatch(tmp_path):
    onnx = OnnxModel(linear_onnx(tmp_path / "lin.onnx", shape=(3, 4, 4), num_classes=10))
    model = make_loaded(onnx, input_shape=None, num_classes=None)
    assert check_compatible(model, make_bundle(shape=(3, 4, 4))) == (3, 4, 4)
    with pytest.raises(ShapeMismatchError, match="3×8×8"):
        check_compatible(model, make_bundle(shape=(3, 8, 8)))
