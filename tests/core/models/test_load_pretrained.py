"""Pretrained starts: an ImageNet-shaped (1000-class) state_dict loads onto a 10-class task with a new head.

The files hold random weights saved with torch.save: the shapes are what
matters, and nothing is ever downloaded.
"""

from __future__ import annotations

import pytest
import torch
import torchvision

from core.errors import ModelLoadError
from core.models import load_model
from core.models.load import with_new_head
from core.models.torchvision_zoo import cached_torchvision_weights, weight_file_names


@pytest.fixture(scope="module")
def imagenet_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("imagenet")
    torch.manual_seed(0)
    nets = {name: torchvision.models.get_model(name, weights=None) for name in ("resnet18", "mobilenet_v3_small")}
    paths = {}
    for name, net in nets.items():
        paths[name] = folder / f"{name}-imagenet.pth"
        torch.save(net.state_dict(), paths[name])
    return nets, paths


@pytest.mark.parametrize("name, head", [("resnet18", "fc"), ("mobilenet_v3_small", "classifier.3")])
def test_a_1000_class_file_loads_onto_10_classes_with_a_new_head(imagenet_files, name, head):
    nets, paths = imagenet_files
    model = load_model(f"torchvision:{name}", weights=paths[name], num_classes=10, input_shape=(3, 32, 32))
    assert model.num_classes == 10
    assert f"backbone from {paths[name].name}; head replaced: 1000 -> 10 classes" in " ".join(model.notes)
    source = nets[name].state_dict()
    for key, value in model.module.state_dict().items():
        if key.startswith(head + "."):
            assert value.shape[0] == 10
        else:
            assert torch.equal(value, source[key]), key  # the backbone is the file's
    with torch.no_grad():
        assert model.predict(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_a_file_that_fits_whole_keeps_its_head_and_says_nothing(imagenet_files):
    nets, paths = imagenet_files
    model = load_model("torchvision:resnet18", weights=paths["resnet18"])
    assert model.num_classes == 1000 and not model.notes
    assert torch.equal(model.module.fc.weight, nets["resnet18"].fc.weight)


def test_with_new_head_fits_a_loaded_model_to_the_data(imagenet_files):
    nets, paths = imagenet_files
    model = with_new_head(load_model("torchvision:mobilenet_v3_small", weights=paths["mobilenet_v3_small"]), 10)
    assert model.num_classes == 10 and model.module.classifier[3].out_features == 10
    assert torch.equal(model.module.features[0][0].weight, nets["mobilenet_v3_small"].features[0][0].weight)
    assert any("head replaced: 1000 -> 10 classes" in n for n in model.notes)
    with pytest.raises(ModelLoadError, match="cannot be replaced"):
        with_new_head(load_model("demo"), 3)


def test_the_backbone_must_still_fit(imagenet_files):
    _, paths = imagenet_files
    with pytest.raises(ModelLoadError, match="do not fit"):
        load_model("torchvision:resnet34", weights=paths["resnet18"], num_classes=10)


def test_cached_torchvision_weights_are_found_in_torch_home_and_never_fetched(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert cached_torchvision_weights("resnet18") is None
    name = weight_file_names("resnet18")[0]
    assert name.startswith("resnet18-") and name.endswith(".pth")
    target = tmp_path / "hub" / "checkpoints" / name
    target.parent.mkdir(parents=True)
    target.write_bytes(b"")
    assert cached_torchvision_weights("torchvision:resnet18") == target
    assert cached_torchvision_weights("not_a_model") is None
