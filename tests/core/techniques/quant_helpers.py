"""Models and files for the ONNX quantization tests, built once per test process.

A conv net with about 240 k weights (so int8 weights dominate its file, as on
real models) trained briefly on the quadrant images, a Linear-heavy MLP, and
their fp32 ONNX exports. Building is cached: the three quantization test
modules share one training run and one export of each.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.data.bundle import DatasetBundle
from core.models.loaded import LoadedModel
from core.models.onnx_model import OnnxModel
from core.techniques.base import StepContext
from tests.core.small_models import learnable_bundle, loaded

SHAPE = (3, 16, 16)


class QuantNet(nn.Module):
    """Four Conv-BN-ReLU layers (32-64-128-128 channels) and a linear head: ~240 k weights, ~5 M MACs."""

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.features = nn.Sequential(block(3, 32, 1), block(32, 64, 2), block(64, 128, 2), block(128, 128, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def mlp(num_classes: int = 4) -> nn.Module:
    """Linear-heavy: ~440 k weights in three Linear layers, no convolution."""
    torch.manual_seed(0)
    features = int(np.prod(SHAPE))
    return nn.Sequential(
        nn.Flatten(), nn.Linear(features, 384), nn.ReLU(), nn.Linear(384, 384), nn.ReLU(), nn.Linear(384, num_classes)
    ).eval()


@functools.lru_cache(maxsize=None)
def quadrants() -> DatasetBundle:
    return learnable_bundle(shape=SHAPE)


@functools.lru_cache(maxsize=None)
def trained_quantnet() -> QuantNet:
    """Trained a few epochs: confident enough that int8 vs fp32 agreement means something."""
    from core.training import TrainConfig, train_classifier

    torch.manual_seed(0)
    net = QuantNet()
    train_classifier(net, quadrants(), TrainConfig(epochs=6, batch_size=16, lr=0.05, augment=False, threads=1))
    return net.eval()


@functools.lru_cache(maxsize=None)
def _scratch() -> Path:
    path = Path(tempfile.mkdtemp(prefix="edgeslim-quant-tests-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.lru_cache(maxsize=None)
def exported(which: str) -> Path:
    """fp32 ONNX of ``"cnn"`` (the trained QuantNet) or ``"mlp"``, exported once; tests must not modify it."""
    from core.models.onnx_export import export_onnx

    module = trained_quantnet() if which == "cnn" else mlp()
    return export_onnx(module, SHAPE, _scratch() / f"{which}.onnx")


def onnx_loaded(path: Path, name: str = "net") -> LoadedModel:
    return LoadedModel(spec=str(path), source_format="onnx", runnable=OnnxModel(path), name=name,
                       input_shape=SHAPE, num_classes=4, file_path=Path(path))


def torch_loaded(module: nn.Module) -> LoadedModel:
    return loaded(module, shape=SHAPE, name=type(module).__name__)


def context(tmp_path: Path, data: DatasetBundle | None = None, **kw) -> StepContext:
    return StepContext(data=data or quadrants(), workdir=tmp_path, threads=1, **kw)


def val_batch(data: DatasetBundle | None = None) -> np.ndarray:
    ds = (data or quadrants()).val
    return np.stack([ds[i][0].numpy() for i in range(len(ds))]).astype(np.float32)


def run_onnx(path: Path, batch: np.ndarray) -> np.ndarray:
    return OnnxModel(Path(path)).run_numpy(batch)


def graph(path: Path):
    import onnx

    return onnx.load(str(path))


def initializer_types(proto) -> dict[str, int]:
    return {i.name: i.data_type for i in proto.graph.initializer}
