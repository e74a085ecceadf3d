"""Model files of every supported format, made once from small random networks.

Nothing here downloads weights: every file is written from a freshly seeded
module so a test can compare the loaded model's logits with the source's.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from core.models.demo_net import DemoNetConfig, DemoResNet


def tiny_seq(num_classes: int = 5) -> nn.Sequential:
    """Conv, BN, ReLU, pool, linear: the smallest classifier with every common layer kind."""
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes)
    ).eval()


@dataclass
class Artifacts:
    """A random DemoResNet and the same weights saved in each format."""

    net: DemoResNet
    x: torch.Tensor  # a batch of 5 inputs (3, 32, 32)
    state_dict: Path
    pickle: Path
    torchscript: Path
    pt2: Path  # exported at batch 1 (static)
    onnx: Path  # dynamic batch

    @property
    def logits(self) -> torch.Tensor:
        with torch.no_grad():
            return self.net(self.x)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Artifacts:
    from core.models.onnx_export import export_onnx

    d = tmp_path_factory.mktemp("formats")
    torch.manual_seed(0)
    net = DemoResNet().eval()
    x = torch.randn(5, 3, 32, 32)
    torch.save(net.state_dict(), d / "weights.pth")
    torch.save(net, d / "full.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(net).save(str(d / "scripted.pt"))
    torch.export.save(torch.export.export(net, (x[:1],)), d / "program.pt2")
    export_onnx(net, (3, 32, 32), d / "model.onnx")
    return Artifacts(net, x, d / "weights.pth", d / "full.pt", d / "scripted.pt", d / "program.pt2", d / "model.onnx")


@pytest.fixture
def demo_files(tmp_path, monkeypatch) -> DemoResNet:
    """A demo card + weights in tmp_path, with core.paths pointed at them; returns the source net."""
    import core.paths as paths

    torch.manual_seed(1)
    config = DemoNetConfig(num_classes=10, width=8, blocks=(1, 1, 1))
    net = DemoResNet(config).eval()
    card = {
        "arch": "demo:DemoResNet",
        "config": config.to_dict(),
        "class_names": [f"digit {i}" for i in range(10)],
        "input_shape": [3, 32, 32],
        "preprocessing": {"name": "as-is"},
        "metrics": {"val_accuracy": 0.5},
    }
    (tmp_path / "demo_resnet.json").write_text(json.dumps(card))
    torch.save(net.state_dict(), tmp_path / "demo_resnet.pt")
    monkeypatch.setattr(paths, "DEMO_CARD", tmp_path / "demo_resnet.json")
    monkeypatch.setattr(paths, "DEMO_WEIGHTS", tmp_path / "demo_resnet.pt")
    return net
