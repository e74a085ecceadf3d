"""Width-scaled builders for every student family in the catalogue.

A student only pays off when it is smaller than its teacher, and the teachers
users bring range from the 175 k-parameter demo to 25 M-parameter ImageNet
nets. So every family takes a width multiplier, not only the MobileNets whose
torchvision builders have one: channel counts of each stage (and of the wide
last layers before the classifier, which dominate a small-class student's
parameter count) are multiplied by ``width`` and rounded to multiples of 8, as
the MobileNet papers do. ``width = 1`` gives exactly torchvision's network.
"""

from __future__ import annotations

import math
import warnings
from functools import partial
from typing import Callable

from torch import nn

MIN_CHANNELS = 8


def scale(channels: int, width: float, divisor: int = 8) -> int:
    """``channels × width`` rounded to the nearest multiple of ``divisor`` (never below it, never 10 % under)."""
    if width == 1.0:
        return channels
    v = channels * width
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if out < 0.9 * v:
        out += divisor
    return out


def _mobilenet_v3(tv_name: str, num_classes: int, width: float) -> nn.Module:
    import torchvision

    return torchvision.models.get_model(tv_name, weights=None, num_classes=num_classes, width_mult=width)


def _mobilenet_v2(num_classes: int, width: float) -> nn.Module:
    """torchvision's MobileNetV2; below width 1 its fixed 1280-channel last layer is scaled too."""
    import torchvision
    from torchvision.ops.misc import Conv2dNormActivation

    model = torchvision.models.mobilenet_v2(weights=None, num_classes=num_classes, width_mult=width)
    if width < 1.0:
        last = scale(1280, width)
        in_ch = model.features[-1][0].in_channels
        model.features[-1] = Conv2dNormActivation(in_ch, last, kernel_size=1, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU6)
        model.classifier[-1] = nn.Linear(last, num_classes)
        model.last_channel = last
        _torchvision_init(model)
    return model


def _shufflenet_v2(stages: tuple[int, ...], num_classes: int, width: float) -> nn.Module:
    from torchvision.models.shufflenetv2 import ShuffleNetV2

    channels = [stages[0]] + [scale(c, width) for c in stages[1:]]
    return ShuffleNetV2([4, 8, 4], channels, num_classes=num_classes)


def _squeezenet1_1(num_classes: int, width: float) -> nn.Module:
    """SqueezeNet 1.1 with every Fire module's widths scaled, a BatchNorm after each convolution, linear logits.

    Without BatchNorm the signal fades layer by layer (mean activation 0.4 → 0.03
    at initialisation) and a student trained from scratch for a few hundred
    steps stays at chance whatever the optimizer. The ReLU torchvision puts on
    the class scores zeroes the gradient of every class whose score starts
    negative: with it the BatchNorm student stalled at 36 % on the demo. These
    changes are the usual ones for training SqueezeNet from scratch on small
    data; BatchNorm folds into the convolutions on export.
    """
    import torchvision
    from torchvision.models.squeezenet import Fire

    model = torchvision.models.squeezenet1_1(weights=None, num_classes=num_classes)
    if width != 1.0:
        _scale_squeezenet(model, num_classes, width, Fire)
    for name, m in list(model.features.named_modules()):
        if isinstance(m, nn.Conv2d):
            parent_name, _, attr = name.rpartition(".")
            parent = model.features.get_submodule(parent_name) if parent_name else model.features
            setattr(parent, attr, nn.Sequential(m, nn.BatchNorm2d(m.out_channels)))
    dropout, final, _relu, pool = model.classifier
    final.reset_parameters()  # PyTorch's default scale, not N(0, 0.01): see build_torchvision_student
    model.classifier = nn.Sequential(dropout, final, pool)
    return model


def _scale_squeezenet(model: nn.Module, num_classes: int, width: float, Fire: type) -> None:
    s = partial(scale, width=width)
    fires = [(16, 64), (16, 64), None, (32, 128), (32, 128), None, (48, 192), (48, 192), (64, 256), (64, 256)]
    layers: list[nn.Module] = [nn.Conv2d(3, s(64), 3, stride=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True)]
    in_ch = s(64)
    for fire in fires:
        if fire is None:
            layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            continue
        squeeze, expand = s(fire[0]), s(fire[1])
        layers.append(Fire(in_ch, squeeze, expand, expand))
        in_ch = 2 * expand
    model.features = nn.Sequential(*layers)
    final = nn.Conv2d(in_ch, num_classes, 1)
    model.classifier[1] = final
    for m in model.modules():  # torchvision's SqueezeNet initialisation
        if isinstance(m, nn.Conv2d):
            if m is final:
                nn.init.normal_(m.weight, mean=0.0, std=0.01)
            else:
                nn.init.kaiming_uniform_(m.weight)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)


def _resnet(tv_name: str, blocks: tuple[int, int, int, int], num_classes: int, width: float) -> nn.Module:
    """torchvision's ResNet-18 / ResNet-34 with its four stage widths (64-512) scaled."""
    import torchvision
    from torchvision.models.resnet import BasicBlock

    model = torchvision.models.get_model(tv_name, weights=None, num_classes=num_classes)
    if width == 1.0:
        return model
    c = [scale(ch, width) for ch in (64, 128, 256, 512)]
    model.inplanes = c[0]
    model.conv1 = nn.Conv2d(3, c[0], kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(c[0])
    model.layer1 = model._make_layer(BasicBlock, c[0], blocks[0])
    model.layer2 = model._make_layer(BasicBlock, c[1], blocks[1], stride=2)
    model.layer3 = model._make_layer(BasicBlock, c[2], blocks[2], stride=2)
    model.layer4 = model._make_layer(BasicBlock, c[3], blocks[3], stride=2)
    model.fc = nn.Linear(c[3], num_classes)
    _torchvision_init(model)
    return model


def _efficientnet_b0(num_classes: int, width: float) -> nn.Module:
    """EfficientNet-B0's block table with torchvision's own width multiplier (its last layer follows, 4× the last block)."""
    from torchvision.models.efficientnet import EfficientNet, MBConvConfig

    conf = partial(MBConvConfig, width_mult=width, depth_mult=1.0)
    setting = [
        conf(1, 3, 1, 32, 16, 1), conf(6, 3, 2, 16, 24, 2), conf(6, 5, 2, 24, 40, 2), conf(6, 3, 2, 40, 80, 3),
        conf(6, 5, 1, 80, 112, 3), conf(6, 5, 2, 112, 192, 4), conf(6, 3, 1, 192, 320, 1),
    ]
    return EfficientNet(setting, dropout=0.2, num_classes=num_classes)


def _torchvision_init(model: nn.Module) -> None:
    """Re-initialise replaced layers the way torchvision's classification builders do."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / math.sqrt(m.in_features)
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)


BUILDERS: dict[str, Callable[[int, float], nn.Module]] = {
    "mobilenet_v3_small": partial(_mobilenet_v3, "mobilenet_v3_small"),
    "mobilenet_v3_large": partial(_mobilenet_v3, "mobilenet_v3_large"),
    "mobilenet_v2": _mobilenet_v2,
    "shufflenet_v2_x0_5": partial(_shufflenet_v2, (24, 48, 96, 192, 1024)),
    "shufflenet_v2_x1_0": partial(_shufflenet_v2, (24, 116, 232, 464, 1024)),
    "squeezenet1_1": _squeezenet1_1,
    "resnet18": partial(_resnet, "resnet18", (2, 2, 2, 2)),
    "resnet34": partial(_resnet, "resnet34", (3, 4, 6, 3)),
    "efficientnet_b0": _efficientnet_b0,
}


def build_torchvision_student(name: str, num_classes: int, width: float) -> nn.Module:
    """The torchvision family ``name`` at ``width``, freshly initialised (no pretrained weights).

    Fully connected layers get PyTorch's default scale (uniform ±1/√fan-in):
    the MobileNets' N(0, 0.01) — two stacked layers in MobileNetV3 — shrinks
    the gradient reaching the convolutions so much that a student trained for a
    few hundred steps sits at chance for its first epochs (measured: 0.17 →
    0.46 validation accuracy after three short epochs of distillation).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BUILDERS[name](num_classes, width)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            bound = 1.0 / math.sqrt(m.in_features)
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)
    return model
