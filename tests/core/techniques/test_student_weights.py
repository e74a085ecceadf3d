"""Students start from weights: a state_dict file (any class count) or torchvision's cached ImageNet weights."""

from __future__ import annotations

import copy

import pytest
import torch

from core.errors import EdgeSlimError
from core.models.students import build_student
from core.techniques.arch_swap import ArchSwap
from core.techniques.distill_kd import DistillKD
from tests.core.small_models import loaded


@pytest.fixture(scope="module")
def imagenet_mobilenet(tmp_path_factory):
    """A 1000-class MobileNetV3-Small state_dict (random weights, ImageNet's shapes)."""
    torch.manual_seed(0)
    net, _ = build_student("mobilenet_v3_small", 1000, (3, 224, 224))
    path = tmp_path_factory.mktemp("w") / "mobilenet_v3_small-imagenet.pth"
    torch.save(net.state_dict(), path)
    return net.state_dict(), path


def test_a_distillation_student_starts_from_a_1000_class_file(trained_net, make_ctx, imagenet_mobilenet):
    source, path = imagenet_mobilenet
    teacher = loaded(copy.deepcopy(trained_net))
    cfg = DistillKD(student="mobilenet_v3_small", student_weights=str(path), epochs=1, batch_size=16, augment=False)
    student, notes = cfg.make_student(teacher, make_ctx())
    assert notes[0] == f"backbone from {path.name}; head replaced: 1000 -> 4 classes (newly initialised: train it)"
    assert any("width ×1" in n for n in notes)  # weights fix the published width
    state = student.state_dict()
    assert state["classifier.3.weight"].shape == (4, 1024)
    assert all(torch.equal(v, source[k]) for k, v in state.items() if not k.startswith("classifier.3."))
    out = cfg.apply(teacher, make_ctx())
    assert out.model.num_classes == 4 and "head replaced" in " ".join(out.notes)
    assert 0.0 <= out.extra["history"][-1]["val_accuracy"] <= 1.0


def test_student_weights_for_another_width_say_how_to_fix_it(trained_net, make_ctx, imagenet_mobilenet):
    _, path = imagenet_mobilenet
    cfg = ArchSwap(student="mobilenet_v3_small", width=0.5, student_weights=str(path), epochs=1)
    with pytest.raises(EdgeSlimError, match="do not fit") as err:
        cfg.make_student(loaded(copy.deepcopy(trained_net)), make_ctx())
    assert "width = 1" in err.value.fix


def test_pretrained_names_the_missing_cache_file(trained_net, make_ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cfg = ArchSwap(student="resnet18", pretrained=True, epochs=1)
    with pytest.raises(EdgeSlimError, match=r"hub/checkpoints/resnet18-[0-9a-f]+\.pth") as err:
        cfg.make_student(loaded(copy.deepcopy(trained_net)), make_ctx())
    assert "never downloads" in err.value.problem
    with pytest.raises(EdgeSlimError, match="no torchvision ImageNet weights"):
        ArchSwap(student="demo_w8", pretrained=True).make_student(loaded(copy.deepcopy(trained_net)), make_ctx())
    with pytest.raises(EdgeSlimError, match="not both"):
        ArchSwap(student="resnet18", pretrained=True, student_weights="x.pth").make_student(loaded(copy.deepcopy(trained_net)), make_ctx())


def test_pretrained_loads_the_cached_imagenet_file(trained_net, make_ctx, tmp_path, monkeypatch):
    import torchvision

    from core.models.torchvision_zoo import weight_file_names

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    net = torchvision.models.resnet18()
    torch.save(net.state_dict(), cache / weight_file_names("resnet18")[0])
    student, notes = ArchSwap(student="resnet18", pretrained=True).make_student(loaded(copy.deepcopy(trained_net)), make_ctx())
    assert "head replaced: 1000 -> 4 classes" in notes[0]
    assert torch.equal(student.layer4[1].conv2.weight, net.layer4[1].conv2.weight)


def test_the_catalogue_has_a_resnet34_student():
    model, _ = build_student("resnet34", 10, (3, 32, 32), width=0.25)
    assert len(model.layer3) == 6 and model.fc.out_features == 10
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
