"""The demo model's architecture: a CIFAR-style ResNet sized for 32x32 input.

It follows He et al.'s CIFAR ResNets (3x3 stem, three stages of torchvision
``BasicBlock``s at 1x, 2x, 4x width, global pooling) so pruning, quantization
and distillation behave on it as they do on the real family. ``width`` scales
the channel counts, which gives the narrower students of the same family.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock


@dataclass(frozen=True)
class DemoNetConfig:
    """Shape of a demo-family network."""

    num_classes: int = 10
    width: int = 16  # channels of the first stage; stages use width, 2x, 4x
    blocks: tuple[int, int, int] = (2, 2, 2)
    in_channels: int = 3

    def to_dict(self) -> dict:
        d = asdict(self)
        d["blocks"] = list(self.blocks)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DemoNetConfig":
        d = dict(d)
        if "blocks" in d:
            d["blocks"] = tuple(d["blocks"])
        return cls(**d)


class DemoResNet(nn.Module):
    """ResNet for small images (CIFAR-style stem, no max-pool)."""

    def __init__(self, config: DemoNetConfig = DemoNetConfig()) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.conv1 = nn.Conv2d(config.in_channels, w, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self._in = w
        self.layer1 = self._stage(w, config.blocks[0], stride=1)
        self.layer2 = self._stage(2 * w, config.blocks[1], stride=2)
        self.layer3 = self._stage(4 * w, config.blocks[2], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * w, config.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _stage(self, out: int, n: int, stride: int) -> nn.Sequential:
        layers = []
        for i in range(n):
            s = stride if i == 0 else 1
            down = None
            if s != 1 or self._in != out:
                down = nn.Sequential(
                    nn.Conv2d(self._in, out, 1, stride=s, bias=False), nn.BatchNorm2d(out)
                )
            layers.append(BasicBlock(self._in, out, stride=s, downsample=down))
            self._in = out
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))
