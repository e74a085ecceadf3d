"""Small models and a learnable synthetic dataset for technique and pipeline tests (seconds, not minutes)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset
from torchvision.models.resnet import BasicBlock

from core.data.bundle import DatasetBundle, Preprocessing
from core.models.loaded import LoadedModel
from core.techniques.base import StepContext


class BlockNet(nn.Module):
    """Stem, one torchvision BasicBlock (its ReLU module is reused), a downsampling block, a classifier."""

    def __init__(self, num_classes: int = 4, width: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.block1 = BasicBlock(width, width)
        down = nn.Sequential(nn.Conv2d(width, 2 * width, 1, stride=2, bias=False), nn.BatchNorm2d(2 * width))
        self.block2 = BasicBlock(width, 2 * width, stride=2, downsample=down)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block2(self.block1(self.relu(self.bn1(self.conv1(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))


def learnable_bundle(n: int = 160, shape=(3, 16, 16), num_classes: int = 4, seed: int = 0) -> DatasetBundle:
    """Images whose class is a bright quadrant: a small CNN learns it in a few epochs."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % num_classes
    x = 0.3 * torch.randn(n, *shape, generator=gen)
    h, w = shape[1] // 2, shape[2] // 2
    for i, c in enumerate(y.tolist()):
        r, q = divmod(c, 2)
        x[i, :, r * h:(r + 1) * h, q * w:(q + 1) * w] += 1.5
    train = TensorDataset(x[: n // 2], y[: n // 2])
    val = TensorDataset(x[n // 2: 3 * n // 4], y[n // 2: 3 * n // 4])
    calib = TensorDataset(x[3 * n // 4:], y[3 * n // 4:])
    return DatasetBundle(
        spec="synthetic-quadrants", name="quadrants", class_names=[f"q{i}" for i in range(num_classes)],
        input_shape=tuple(shape), train=train, val=val, calib=calib, preprocessing=Preprocessing(name="as-is"),
    )


def loaded(module: nn.Module, shape=(3, 16, 16), num_classes: int = 4, name: str = "BlockNet") -> LoadedModel:
    return LoadedModel(spec="test", source_format="torchvision", runnable=module.eval(), name=name,
                       input_shape=tuple(shape), num_classes=num_classes)


def trained_blocknet(data: DatasetBundle, epochs: int = 10) -> BlockNet:
    from core.training import TrainConfig, train_classifier

    torch.manual_seed(0)
    net = BlockNet(num_classes=data.num_classes)
    train_classifier(net, data, TrainConfig(epochs=epochs, batch_size=16, lr=0.05, augment=False, threads=1))
    return net.eval()
