"""Small models and datasets for the metrics tests (no loaders, no demo data)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from core.data.bundle import DatasetBundle, Preprocessing
from core.models.loaded import LoadedModel


class TinyCNN(nn.Module):
    """Conv-BN-ReLU, pool, linear: enough layers for MACs and an ONNX export."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(torch.relu(self.bn(self.conv(x)))).flatten(1))


def make_bundle(n: int = 24, shape=(3, 16, 16), num_classes: int = 10, seed: int = 0) -> DatasetBundle:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=gen)
    y = torch.randint(0, num_classes, (n,), generator=gen)
    ds = TensorDataset(x, y)
    return DatasetBundle(
        spec="test",
        name="test",
        class_names=[f"c{i}" for i in range(num_classes)],
        input_shape=tuple(shape),
        train=ds,
        val=ds,
        calib=ds,
        preprocessing=Preprocessing(name="as-is"),
    )


def make_loaded(module, input_shape=(3, 16, 16), num_classes=10, name="x") -> LoadedModel:
    return LoadedModel(
        spec="test",
        source_format="torchvision",
        runnable=module,
        name=name,
        input_shape=None if input_shape is None else tuple(input_shape),
        num_classes=num_classes,
    )


@pytest.fixture
def tiny_cnn() -> TinyCNN:
    torch.manual_seed(0)
    return TinyCNN().eval()


@pytest.fixture
def bundle() -> DatasetBundle:
    return make_bundle()


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory) -> tuple[Path, TinyCNN]:
    """TinyCNN exported once for the session (an export costs about a second)."""
    from core.models.onnx_export import export_onnx

    torch.manual_seed(1)
    module = TinyCNN().eval()
    path = export_onnx(module, (3, 16, 16), tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    return path, module


def linear_onnx(path: Path, batch: int | str = "N", shape=(3, 4, 4), num_classes: int = 5) -> Path:
    """A Flatten→MatMul ONNX graph built by hand: fast to make, fixed or dynamic batch."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    features = int(np.prod(shape))
    w = np.random.default_rng(0).standard_normal((features, num_classes)).astype(np.float32)
    w[: features // 2] = 0.0
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"], axis=1), helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, *shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, num_classes])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
