"""Training settings take effect: optimizers, schedules, augmentations, label smoothing, keep-best, device."""

from __future__ import annotations

import copy

import pytest
import torch

import core.training as training
from core.errors import EdgeSlimError
from core.techniques import TechniqueError
from core.techniques.finetune import Finetune
from core.training import TrainConfig, train_classifier
from core.training_setup import augmenter, choose_augmentation, loader_options, make_optimizer, make_scheduler
from tests.core.small_models import BlockNet, loaded


def _params():
    return [torch.nn.Parameter(torch.zeros(3))]


@pytest.mark.parametrize("name, cls", [("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam)])
def test_each_optimizer_is_the_one_asked_for_with_its_weight_decay(name, cls):
    opt = make_optimizer(name, _params(), lr=0.01, momentum=0.9, weight_decay=1e-3)
    assert type(opt) is cls and opt.param_groups[0]["weight_decay"] == 1e-3
    if name == "sgd":
        assert opt.param_groups[0]["nesterov"]


def _rates(schedule: str, epochs: int = 4, steps: int = 5, **kw) -> list[float]:
    opt = make_optimizer("sgd", _params(), lr=0.1, momentum=0.9, weight_decay=0.0)
    sched, per_batch = make_scheduler(schedule, opt, 0.1, epochs, steps, kw.get("step_size", 2), kw.get("gamma", 0.1))
    rates = []
    for _ in range(epochs):
        for _ in range(steps):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()
            if per_batch:
                sched.step()
        if not per_batch:
            sched.step()
    return rates


def test_the_schedules_shape_the_learning_rate():
    step = _rates("step", step_size=2, gamma=0.1)
    assert step[:10] == [pytest.approx(0.1)] * 10 and step[10:] == [pytest.approx(0.01)] * 10  # drop after 2 epochs
    cosine = _rates("cosine")
    assert cosine[0] == pytest.approx(0.1) and cosine[-1] < 0.005 and cosine == sorted(cosine, reverse=True)
    onecycle = _rates("onecycle")
    assert onecycle[0] < 0.01 and max(onecycle) == pytest.approx(0.1, rel=0.05)  # warm-up to the peak
    with pytest.raises(EdgeSlimError, match="unknown schedule"):
        _rates("linear")


def test_auto_augmentation_follows_the_data(quadrants):
    assert choose_augmentation("auto", quadrants) == "digits"  # 16 px
    photos = copy.copy(quadrants)
    photos.input_shape = (3, 224, 224)
    assert choose_augmentation("auto", photos) == "photo"
    assert choose_augmentation("none", photos) == "none"


def test_photo_augmentation_flips_and_crops_and_keeps_the_size():
    torch.manual_seed(0)
    x = torch.zeros(3, 64, 64)
    x[:, :, :32] = 1.0  # bright left half
    photo = augmenter("photo", (3, 64, 64))
    outs = [photo(x) for _ in range(30)]
    assert all(o.shape == x.shape for o in outs)
    left_brighter = [bool(o[:, :, :32].mean() > o[:, :, 32:].mean()) for o in outs]
    assert any(left_brighter) and not all(left_brighter)  # some were mirrored
    assert any(not torch.equal(o, x) and not torch.equal(o, x.flip(-1)) for o in outs)  # and cropped
    assert augmenter("none", (3, 64, 64)) is None


def test_optimizer_and_label_smoothing_change_the_training(quadrants):
    def run(**kw):
        torch.manual_seed(0)
        net = BlockNet(num_classes=quadrants.num_classes)
        result = train_classifier(net, quadrants, TrainConfig(epochs=6, batch_size=16, augment=False, threads=1, **kw))
        return net, result

    sgd, r_sgd = run(lr=0.05)
    adam, r_adam = run(lr=0.01, optimizer="adam", schedule="cosine")
    adamw, r_adamw = run(lr=0.01, optimizer="adamw", schedule="step", step_size=3, gamma=0.5)
    assert min(r.final_val_accuracy for r in (r_sgd, r_adam, r_adamw)) > 0.8  # every choice trains
    assert not torch.equal(sgd.fc.weight, adam.fc.weight) and not torch.equal(adam.fc.weight, adamw.fc.weight)
    _, smooth = run(lr=0.05, label_smoothing=0.3)
    assert smooth.history[-1].train_loss > r_sgd.history[-1].train_loss + 0.2  # smoothed targets keep the loss up


def test_keep_best_restores_the_best_epoch(quadrants, monkeypatch):
    scores = iter([0.5, 0.9, 0.6])
    states = []

    def fake_accuracy(module, loader, cancel=None):
        states.append(copy.deepcopy(module.state_dict()))
        return next(scores)

    monkeypatch.setattr(training, "accuracy", fake_accuracy)
    net = BlockNet(num_classes=quadrants.num_classes)
    result = train_classifier(net, quadrants, TrainConfig(epochs=3, batch_size=16, lr=0.05, augment=False, threads=1, keep_best=True))
    assert result.best_epoch == 2 and result.final_val_accuracy == 0.9
    assert all(torch.equal(v, states[1][k]) for k, v in net.state_dict().items())


def test_training_on_cuda_without_a_gpu_is_refused(quadrants):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(EdgeSlimError, match="no CUDA GPU"):
        train_classifier(BlockNet(num_classes=4), quadrants, TrainConfig(epochs=1, device="cuda:0"))


def test_loaders_feed_a_gpu_from_workers_and_pinned_memory():
    assert loader_options("cpu") == {"num_workers": 0}
    cuda = loader_options("cuda:0")
    assert cuda["pin_memory"] and cuda["num_workers"] >= 1


def test_the_training_device_comes_from_the_step_and_the_model_ends_on_the_cpu(trained_net, make_ctx):
    out = Finetune(epochs=1, batch_size=16, augment=False).apply(loaded(copy.deepcopy(trained_net)), make_ctx(device="cpu"))
    assert out.extra["device"] == "cpu" and out.extra["augmentation"] == "none"
    assert all(p.device.type == "cpu" for p in out.model.module.parameters())


def test_a_bad_training_choice_built_in_code_is_refused(trained_net, make_ctx):
    with pytest.raises(TechniqueError, match="optimizer = 'rmsprop'"):
        Finetune(epochs=1, optimizer="rmsprop").apply(loaded(copy.deepcopy(trained_net)), make_ctx())
