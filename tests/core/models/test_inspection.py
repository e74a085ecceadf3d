"""Per-layer tables add up to the model's true totals, for every backend."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from torch import nn

from core.errors import ShapeMismatchError
from core.models import LoadedModel, ModelInspection, inspect_model, load_model
from core.models.macs import count_macs


def wrap(module: nn.Module, input_shape=None) -> LoadedModel:
    return LoadedModel(spec="test", source_format="torchvision", runnable=module.eval(), name="m", input_shape=input_shape)


def onnx_weight_count(path) -> int:
    import onnx

    inits = onnx.load(str(path)).graph.initializer
    return sum(int(torch.tensor(list(i.dims)).prod()) for i in inits if i.data_type == onnx.TensorProto.FLOAT)


def assert_rows_add_up(report: ModelInspection) -> None:
    assert sum(layer.params for layer in report.layers) == report.total_params
    if report.total_macs is not None and all(layer.macs is not None for layer in report.layers):
        assert sum(layer.macs for layer in report.layers) == report.total_macs
    json.dumps(report.to_dict())  # serialisable as is


def test_mobilenet_v3_small_totals_match_torchvision():
    model = load_model("torchvision:mobilenet_v3_small")
    report = inspect_model(model)
    expected = sum(p.numel() for p in torchvision.models.mobilenet_v3_small().parameters())
    assert report.total_params == report.trainable_params == expected == 2_542_856
    assert report.total_macs == count_macs(model.module, (3, 224, 224)) > 50_000_000
    assert report.input_shape == (3, 224, 224)
    for layer in report.layers:
        assert isinstance(layer.params, int) and isinstance(layer.macs, int)
        assert isinstance(layer.output_shape, tuple) and all(d > 0 for d in layer.output_shape), layer
    first = report.layers[0]
    assert (first.name, first.type, first.output_shape) == ("features.0.0", "Conv2d", (16, 112, 112))
    assert report.layers[-1].output_shape == (1000,)
    assert_rows_add_up(report)


def test_demo_net_macs_equal_count_macs(artifacts):
    report = inspect_model(wrap(artifacts.net, (3, 32, 32)))
    assert report.total_macs == count_macs(artifacts.net, (3, 32, 32))
    rows = {layer.name: layer for layer in report.layers}
    assert rows["conv1"].macs == 16 * 3 * 9 * 32 * 32 and rows["conv1"].output_shape == (16, 32, 32)
    assert rows["fc"].macs == 64 * 10 and rows["fc"].params == 64 * 10 + 10
    assert "layer1" not in rows and "layer1.0" not in rows  # pure containers get no row
    assert_rows_add_up(report)


class TokenNet(nn.Module):
    """A ViT in miniature: a parameter held by the root and attention computed inside a container."""

    def __init__(self, dim: int = 8, classes: int = 3) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, dim))
        self.attn = nn.MultiheadAttention(dim, 2, batch_first=True)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = torch.cat([self.token.expand(x.shape[0], -1, -1), x.flatten(2).transpose(1, 2)], 1)
        out, _ = self.attn(seq, seq, seq)
        return self.head(out[:, 0])


def test_container_params_and_ops_get_their_own_rows():
    net = TokenNet()
    report = inspect_model(wrap(net, (8, 3, 5)))
    rows = {layer.name: layer for layer in report.layers}
    assert rows["(model)"].params == 8 and rows["(model)"].type == "TokenNet"
    # attention's projections run inside MultiheadAttention itself (the fused eval kernel is bypassed)
    length, dim = 1 + 3 * 5, 8
    assert rows["attn"].macs == 4 * length * dim * dim + 2 * length * length * dim
    assert report.total_params == sum(p.numel() for p in net.parameters())
    assert_rows_add_up(report)


def test_input_shape_argument_overrides_the_model(artifacts):
    model = load_model("torchvision:squeezenet1_1")
    report = inspect_model(model, (3, 96, 96))
    assert report.input_shape == (3, 96, 96)
    assert report.total_macs == count_macs(model.module, (3, 96, 96))


def test_unknown_input_shape_asks_for_one(artifacts):
    with pytest.raises(ShapeMismatchError, match="not known") as err:
        inspect_model(wrap(artifacts.net))
    assert "--input-shape C,H,W" in str(err.value) and "“Input shape” on the Model page" in err.value.for_app()


def test_wrong_input_shape_names_shape_and_layer(artifacts):
    with pytest.raises(ShapeMismatchError) as err:
        inspect_model(wrap(artifacts.net, (3, 32, 32)), (1, 32, 32))
    assert "(1, 32, 32)" in err.value.problem and "at layer conv1" in err.value.problem
    assert "expected input" in err.value.problem  # torch's own explanation is kept
    assert "--input-shape" in str(err.value) and "--input-shape" not in err.value.for_app()
    assert artifacts.net.training is False  # mode restored after the failure


def test_pt2_program_per_layer(artifacts):
    report = inspect_model(load_model(str(artifacts.pt2)))
    assert report.total_params == sum(p.numel() for p in artifacts.net.parameters())
    assert report.total_macs == count_macs(artifacts.net, (3, 32, 32))
    rows = {layer.name: layer for layer in report.layers}
    assert rows["conv1"].type == "Conv2d" and rows["conv1"].output_shape == (16, 32, 32)
    assert rows["conv1"].macs == 16 * 3 * 9 * 32 * 32
    assert rows["fc"].output_shape == (10,)
    assert_rows_add_up(report)


def test_pt2_wrong_shape(artifacts):
    with pytest.raises(ShapeMismatchError, match=r"exported for inputs of shape \(3, 32, 32\), not \(3, 16, 16\)"):
        inspect_model(load_model(str(artifacts.pt2)), (3, 16, 16))


def test_torchscript_totals(artifacts):
    report = inspect_model(load_model(str(artifacts.torchscript)), (3, 32, 32))
    assert report.total_params == sum(p.numel() for p in artifacts.net.parameters())
    assert report.total_macs == count_macs(artifacts.net, (3, 32, 32))
    assert all(layer.macs is None for layer in report.layers)
    assert any("TorchScript" in n and "totals" in n for n in report.notes)
    assert_rows_add_up(report)


def test_torchscript_wrong_shape_keeps_the_reason(artifacts):
    with pytest.raises(ShapeMismatchError, match="expected input"):
        inspect_model(load_model(str(artifacts.torchscript)), (1, 32, 32))


def test_onnx_macs_close_to_torch(artifacts):
    report = inspect_model(load_model(str(artifacts.onnx)))
    torch_macs = count_macs(artifacts.net, (3, 32, 32))
    assert report.total_macs == pytest.approx(torch_macs, rel=0.03)
    assert report.trainable_params is None
    assert report.total_params == onnx_weight_count(artifacts.onnx)  # shape/axes tensors are not weights
    convs = [layer for layer in report.layers if layer.type == "Conv"]
    assert len(convs) == sum(isinstance(m, nn.Conv2d) for m in artifacts.net.modules())
    assert convs[0].macs == 16 * 3 * 9 * 32 * 32 and convs[0].output_shape == (16, 32, 32)
    gemm = next(layer for layer in report.layers if layer.type == "Gemm")
    assert gemm.params == 64 * 10 + 10 and gemm.output_shape == (10,)
    assert_rows_add_up(report)


def test_onnx_without_onnx_tool_falls_back_to_shapes_and_params(artifacts, monkeypatch):
    import onnx_tool

    def broken(*args, **kwargs):
        raise NotImplementedError("op not modelled")

    monkeypatch.setattr(onnx_tool, "Model", broken)
    report = inspect_model(load_model(str(artifacts.onnx)))
    assert report.total_macs is None and any("MACs are not available" in n and "op not modelled" in n for n in report.notes)
    assert report.total_params == onnx_weight_count(artifacts.onnx)
    convs = [layer for layer in report.layers if layer.type == "Conv"]
    assert convs[0].output_shape == (16, 32, 32) and convs[0].macs is None
    assert_rows_add_up(report)


def test_onnx_wrong_shape(artifacts):
    with pytest.raises(ShapeMismatchError, match="not"):
        inspect_model(load_model(str(artifacts.onnx)), (3, 64, 64))
