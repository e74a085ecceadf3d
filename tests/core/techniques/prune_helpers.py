"""Models, data and contexts for the structured-pruning tests (no fixtures: the lead owns conftest.py)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from core.data.bundle import DatasetBundle, Preprocessing
from core.models.loaded import LoadedModel
from core.techniques.base import StepContext

DEMO_SHAPE = (3, 32, 32)


def random_bundle(n: int = 64, shape=DEMO_SHAPE, num_classes: int = 10, seed: int = 0) -> DatasetBundle:
    """Random images and labels: enough for Taylor gradients and shape checks."""
    gen = torch.Generator().manual_seed(seed)
    ds = TensorDataset(torch.randn(n, *shape, generator=gen), torch.randint(0, num_classes, (n,), generator=gen))
    return DatasetBundle(
        spec="test", name="test", class_names=[f"c{i}" for i in range(num_classes)], input_shape=tuple(shape),
        train=ds, val=ds, calib=ds, preprocessing=Preprocessing(name="as-is"),
    )


def make_ctx(tmp_path: Path, data: DatasetBundle | None = None, **kw) -> StepContext:
    return StepContext(data=data or random_bundle(), workdir=tmp_path, threads=1, **kw)


def demo() -> LoadedModel:
    """A fresh copy of the shipped demo model (a CIFAR-style ResNet, 26.7 M MACs)."""
    from core.models import load_model

    return load_model("demo")


def wrap(module: nn.Module, shape=DEMO_SHAPE, num_classes: int = 10, name: str = "net") -> LoadedModel:
    return LoadedModel(spec="test", source_format="torchvision", runnable=module.eval(), name=name,
                       input_shape=tuple(shape), num_classes=num_classes)


def conv_head_net(num_classes: int = 10, bn: bool = True) -> nn.Sequential:
    """SqueezeNet's shape of head: the logits come from a 1x1 Conv, then ReLU and pooling (no Linear)."""
    torch.manual_seed(0)
    norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), norm(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, stride=2), norm(32), nn.ReLU(),
        nn.Conv2d(32, num_classes, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    ).eval()


def macs(module: nn.Module, shape=DEMO_SHAPE) -> int:
    from core.models.macs import count_macs

    return count_macs(module, shape)
