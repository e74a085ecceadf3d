"""A small MobileNet-style network (Conv-BN-ReLU6, depthwise + pointwise) exported the TorchScript way.

``torch.onnx.export(..., dynamo=False)`` folds BatchNorm into the convolutions
and names their weights ``onnx::Conv_NNN``, and ReLU6 becomes ``Clip``: the
graph users bring from most model zoos. One pointwise layer reads a channel ReLU6
always zeroes (a dead channel, common in trained networks): keeping that layer
fp32 must give the fp32 result, whereas fed the *unclipped* channel it wrecks
the model. See :func:`mobilenet_like` for the two variants.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch import nn

from tests.core.techniques.quant_helpers import SHAPE, _scratch, onnx_loaded, quadrants

DEAD_PREACTIVATION = -10.0
DEEP_DEAD_PREACTIVATION = -1000.0  # the sturdy variant: int8 is fine, but a layer fed this unclipped is wrecked
FRAGILE_WEIGHT = 150.0  # per-channel int8 then rounds every other weight of pw1 to zero: all-int8 collapses


def _cbr(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU6())


class MobileNetLike(nn.Module):
    """stem → depthwise → pointwise (the fragile one) → depthwise /2 → pointwise → pool → fc."""

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.stem = _cbr(3, 16, 3)
        self.dw1 = _cbr(16, 16, 3, groups=16)
        self.pw1 = _cbr(16, 32, 1)
        self.dw2 = _cbr(32, 32, 3, stride=2, groups=32)
        self.pw2 = _cbr(32, 64, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pw2(self.dw2(self.pw1(self.dw1(self.stem(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))


@functools.lru_cache(maxsize=None)
def _trained() -> MobileNetLike:
    from core.training import TrainConfig, train_classifier

    torch.manual_seed(0)
    net = MobileNetLike()
    train_classifier(net, quadrants(), TrainConfig(epochs=6, batch_size=16, lr=0.05, augment=False, threads=1))
    return net.eval()


def mobilenet_like(fragile: bool = True) -> MobileNetLike:
    """Trained briefly on the quadrant images, then dw1's channel 0 made dead (ReLU6 always zeroes it).

    ``fragile``: pw1 gets a weight of 150 on that channel, so all-int8 collapses and keeping pw1 fp32 is the
    cure. Otherwise the dead channel's pre-activation is −1000 and pw1's weights stay as trained: int8 is fine,
    and only a pw1 fed the unclipped tensor breaks.
    """
    import copy

    net = copy.deepcopy(_trained())
    with torch.no_grad():
        conv, bn = net.dw1[0], net.dw1[1]
        conv.weight[0] = 0
        bn.running_mean[0], bn.running_var[0], bn.weight[0] = 0.0, 1.0, 1.0
        bn.bias[0] = DEAD_PREACTIVATION if fragile else DEEP_DEAD_PREACTIVATION
        if fragile:
            net.pw1[0].weight[:, 0] = FRAGILE_WEIGHT
    return net


@functools.lru_cache(maxsize=None)
def torchscript_onnx(fragile: bool = True) -> Path:
    """The network as ``torch.onnx.export(dynamo=False)`` writes it (dynamic batch); tests must not modify it."""
    import warnings

    path = _scratch() / f"mobilenet_like_ts_{'fragile' if fragile else 'sturdy'}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(mobilenet_like(fragile), (torch.randn(1, *SHAPE),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


def fragile_weight(fragile: bool = True) -> str:
    """pw1's weight name in the TorchScript export (``onnx::Conv_NNN``, Conv+BN folded)."""
    import onnx

    proto = onnx.load(str(torchscript_onnx(fragile)))
    node = next(n for n in proto.graph.node if n.op_type == "Conv" and "pw1" in n.name)
    return node.input[1]


def fragile_layer(fragile: bool = True) -> str:
    """What the sensitivity analysis and ``max_drop`` call pw1: its module path, read from the node's scope."""
    import onnx

    from core.techniques import onnx_quant_common as oq

    proto = onnx.load(str(torchscript_onnx(fragile)))
    return next(op.layer for op in oq.weight_ops(proto) if op.weight == fragile_weight(fragile))


def loaded_torchscript_onnx(fragile: bool = True):
    return onnx_loaded(torchscript_onnx(fragile), name="MobileNetLike")
