"""An ONNX graph run by PyTorch, with ONNX Runtime's int8 rounding simulated where its QDQ graph puts it.

Weight tuning (:mod:`core.quant.tune`) needs gradients through the very graph
ONNX Runtime will quantize. Running the pre-processed fp32 ONNX graph in
PyTorch (rather than the user's module) makes it work for every format a user
brings (ONNX, ``.pt2``, state_dict) and keeps the two in step by
construction: the weights are the graph's own initializers, written back by
name, and the fake-quantizers sit on exactly the tensors ONNX Runtime's QDQ
graph quantizes, with its scales and zero-points. Weights are rounded the way
ONNX Runtime will round the *tuned* weight (its scale follows the weight's
range, per channel on the axis ONNX Runtime chose), so the tuned fp32 graph
re-quantizes onto the grid it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

from core.techniques.base import TechniqueError

TUNE_FIX = "use quantize.static without weight tuning (tune_epochs = 0)"
_RENAMED_OUTPUT = "_QuantizeLinear_Input"
_INT8 = {2: (0, 255), 3: (-128, 127)}  # ONNX TensorProto UINT8, INT8


@dataclass(frozen=True)
class ActQuant:
    """One activation quantizer of the QDQ graph."""

    scale: float
    zero_point: int
    qmin: int
    qmax: int


@dataclass(frozen=True)
class WeightQuant:
    """How ONNX Runtime stores one weight: per channel along ``axis`` (None: per tensor), on [qmin, qmax]."""

    axis: Optional[int]
    qmin: int
    qmax: int
    symmetric: bool


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def qdq_points(q_proto) -> tuple[dict[str, ActQuant], dict[str, WeightQuant]]:
    """The activation quantizers (by fp32 tensor name) and weight quantizers (by initializer name) of a QDQ graph."""
    inits = {i.name: i for i in q_proto.graph.initializer}
    acts: dict[str, ActQuant] = {}
    weights: dict[str, WeightQuant] = {}
    for node in q_proto.graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] not in inits:
            scale = numpy_helper.to_array(inits[node.input[1]])
            zp = inits.get(node.input[2]) if len(node.input) > 2 else None
            if scale.size != 1:
                continue  # per-channel activations: not produced by the static quantizer
            lo, hi = _INT8.get(zp.data_type if zp is not None else 2, (0, 255))
            name = node.input[0]
            if name.endswith(_RENAMED_OUTPUT):  # a quantized graph output: ONNX Runtime renamed the fp32 tensor
                name = name[: -len(_RENAMED_OUTPUT)]
            acts[name] = ActQuant(float(scale.reshape(())), int(numpy_helper.to_array(zp).reshape(()))
                                           if zp is not None else 0, lo, hi)
        elif node.op_type == "DequantizeLinear" and node.input[0] in inits and inits[node.input[0]].data_type in _INT8:
            name = node.input[0]  # an int32 bias is rounded far below the int8 steps: left fp32
            base = name[: -len("_quantized")] if name.endswith("_quantized") else name
            q = inits[name]
            lo, hi = _INT8.get(q.data_type, (-128, 127))
            zp = numpy_helper.to_array(inits[node.input[2]]) if len(node.input) > 2 and node.input[2] in inits else None
            symmetric = zp is None or not np.any(zp)
            if symmetric and lo < 0:
                lo = -hi  # ONNX Runtime's symmetric int8 weights use [-127, 127]
            scale = numpy_helper.to_array(inits[node.input[1]])
            axis = _attrs(node).get("axis", 1) if scale.size > 1 else None
            weights[base] = WeightQuant(axis, lo, hi, symmetric)
    return acts, weights


def fake_quant_weight(w: torch.Tensor, wq: WeightQuant) -> torch.Tensor:
    """``w`` rounded as ONNX Runtime will round it, with a straight-through gradient."""
    if wq.axis is None:
        dims = tuple(range(w.dim()))
    else:
        dims = tuple(d for d in range(w.dim()) if d != wq.axis % w.dim())
    detached = w.detach()
    if wq.symmetric:
        absmax = detached.abs().amax(dim=dims) if dims else detached.abs()
        scale = (2 * absmax / (wq.qmax - wq.qmin)).clamp_min(1e-12)
        zp = torch.full_like(scale, (wq.qmax + wq.qmin + 1) // 2 if wq.qmin >= 0 else 0, dtype=torch.int32)
    else:
        lo = (detached.amin(dim=dims) if dims else detached).clamp_max(0)
        hi = (detached.amax(dim=dims) if dims else detached).clamp_min(0)
        scale = ((hi - lo) / (wq.qmax - wq.qmin)).clamp_min(1e-12)
        zp = torch.round(wq.qmin - lo / scale).clamp(wq.qmin, wq.qmax).to(torch.int32)
    if wq.axis is None:
        return torch.fake_quantize_per_tensor_affine(w, float(scale), int(zp), wq.qmin, wq.qmax)
    return torch.fake_quantize_per_channel_affine(w, scale, zp, wq.axis % w.dim(), wq.qmin, wq.qmax)


def _pads(attrs: dict, dims: int) -> list[int]:
    pads = list(attrs.get("pads", [0] * (2 * dims)))
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise TechniqueError("a convolution with auto_pad SAME is not supported by weight tuning", TUNE_FIX)
    return pads


def _conv(x, w, b, a):
    dims = w.dim() - 2
    pads = _pads(a, dims)
    begin, end = pads[:dims], pads[dims:]
    if begin != end:
        x = F.pad(x, [p for pair in zip(reversed(begin), reversed(end)) for p in pair])
        begin = [0] * dims
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims]
    return fn(x, w, b, stride=a.get("strides", 1), padding=begin, dilation=a.get("dilations", 1), groups=a.get("group", 1))


def _gemm(a_, b_, c, at):
    a_ = a_.t() if at.get("transA", 0) else a_
    b_ = b_.t() if at.get("transB", 0) else b_
    y = at.get("alpha", 1.0) * (a_ @ b_)
    return y + at.get("beta", 1.0) * c if c is not None else y


def _pool(kind: str):
    def run(x, a):
        dims = x.dim() - 2
        k, s = a["kernel_shape"], a.get("strides", [1] * dims)
        pads = _pads(a, dims)
        if pads[:dims] != pads[dims:]:
            x = F.pad(x, [p for pair in zip(reversed(pads[:dims]), reversed(pads[dims:])) for p in pair],
                      value=-float("inf") if kind == "max" else 0.0)
            pads = [0] * (2 * dims)
        fn = {"max": F.max_pool2d, "avg": F.avg_pool2d}[kind]
        extra = {"count_include_pad": bool(a.get("count_include_pad", 0))} if kind == "avg" else {}
        return fn(x, k, s, pads[:dims], ceil_mode=bool(a.get("ceil_mode", 0)), **extra)
    return run


def _clip(x, lo=None, hi=None, a=None):
    a = a or {}
    lo = lo if lo is not None else a.get("min")
    hi = hi if hi is not None else a.get("max")
    return torch.clamp(x, None if lo is None else float(lo), None if hi is None else float(hi))


def _reshape(x, shape, a):
    shape = [int(s) for s in shape.tolist()]
    shape = [x.shape[i] if s == 0 and not a.get("allowzero", 0) else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _axes(node_inputs, a, key="axes"):
    if len(node_inputs) > 1 and node_inputs[1] is not None:
        return [int(v) for v in node_inputs[1].tolist()]
    return list(a.get(key, []))


# op type -> fn(inputs, attrs); inputs are tensors or None for an omitted optional input
_OPS: dict[str, Callable] = {
    "Conv": lambda i, a: _conv(i[0], i[1], i[2] if len(i) > 2 else None, a),
    "Gemm": lambda i, a: _gemm(i[0], i[1], i[2] if len(i) > 2 else None, a),
    "MatMul": lambda i, a: i[0] @ i[1],
    "Add": lambda i, a: i[0] + i[1],
    "Sub": lambda i, a: i[0] - i[1],
    "Mul": lambda i, a: i[0] * i[1],
    "Div": lambda i, a: i[0] / i[1],
    "Relu": lambda i, a: F.relu(i[0]),
    "LeakyRelu": lambda i, a: F.leaky_relu(i[0], a.get("alpha", 0.01)),
    "Clip": lambda i, a: _clip(i[0], *(list(i[1:]) + [None, None])[:2], a=a),
    "Sigmoid": lambda i, a: torch.sigmoid(i[0]),
    "HardSigmoid": lambda i, a: torch.clamp(a.get("alpha", 0.2) * i[0] + a.get("beta", 0.5), 0, 1),
    "HardSwish": lambda i, a: F.hardswish(i[0]),
    "Tanh": lambda i, a: torch.tanh(i[0]),
    "Softmax": lambda i, a: torch.softmax(i[0], a.get("axis", -1)),
    "GlobalAveragePool": lambda i, a: i[0].mean(dim=tuple(range(2, i[0].dim())), keepdim=True),
    "AveragePool": lambda i, a: _pool("avg")(i[0], a),
    "MaxPool": lambda i, a: _pool("max")(i[0], a),
    "Flatten": lambda i, a: i[0].flatten(a.get("axis", 1)) if a.get("axis", 1) > 0 else i[0].reshape(1, -1),
    "Reshape": lambda i, a: _reshape(i[0], i[1], a),
    "Identity": lambda i, a: i[0],
    "Dropout": lambda i, a: i[0],
    "Concat": lambda i, a: torch.cat([t for t in i if t is not None], a["axis"]),
    "ReduceMean": lambda i, a: i[0].mean(dim=_axes(i, a), keepdim=bool(a.get("keepdims", 1))),
    "Transpose": lambda i, a: i[0].permute(*a["perm"]) if "perm" in a else i[0].permute(*reversed(range(i[0].dim()))),
    "Squeeze": lambda i, a: i[0].squeeze(_axes(i, a)) if _axes(i, a) else i[0].squeeze(),
    "Unsqueeze": lambda i, a: _unsqueeze(i[0], _axes(i, a)),
    "BatchNormalization": lambda i, a: F.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0, a.get("epsilon", 1e-5)),
}


def _unsqueeze(x, axes):
    for axis in sorted(a % (x.dim() + len(axes)) for a in axes):
        x = x.unsqueeze(axis)
    return x


class GraphModule(nn.Module):
    """The fp32 ONNX graph as a PyTorch module whose weight initializers are trainable parameters.

    ``quant`` (activation and weight quantizers read from ONNX Runtime's QDQ
    graph) switches the int8 simulation on; without it the module computes
    the fp32 graph (the teacher).
    """

    def __init__(self, proto, weights: list[str]) -> None:
        super().__init__()
        unsupported = sorted({n.op_type for n in proto.graph.node if n.op_type not in _OPS and n.op_type != "Constant"})
        if unsupported:
            raise TechniqueError(f"weight tuning cannot run the op type(s) {', '.join(unsupported)}", TUNE_FIX)
        if len(proto.graph.output) != 1:
            raise TechniqueError(f"weight tuning needs one output; the model has {len(proto.graph.output)}", TUNE_FIX)
        self.nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n)) for n in proto.graph.node]
        self.input_name = next(i.name for i in proto.graph.input
                               if i.name not in {t.name for t in proto.graph.initializer})
        self.output_name = proto.graph.output[0].name
        self.names = list(weights)
        trainable = set(weights)
        self.params = nn.ParameterList()
        self._index: dict[str, int] = {}
        self._const: dict[str, torch.Tensor] = {}
        for init in proto.graph.initializer:
            value = torch.from_numpy(numpy_helper.to_array(init).copy())
            if init.name in trainable:
                self._index[init.name] = len(self.params)
                self.params.append(nn.Parameter(value.float()))
            else:
                self._const[init.name] = value
        for op, _, outs, attrs in self.nodes:
            if op == "Constant":
                self._const[outs[0]] = torch.from_numpy(numpy_helper.to_array(attrs["value"]).copy())
        self.acts: dict[str, ActQuant] = {}
        self.weight_quant: dict[str, WeightQuant] = {}
        self.simulate = False

    def set_quant(self, acts: dict[str, ActQuant], weights: dict[str, WeightQuant]) -> None:
        """Where and how ONNX Runtime rounds (from :func:`qdq_points`); turns the simulation on."""
        self.acts, self.weight_quant, self.simulate = acts, weights, True

    def tensor(self, name: str) -> torch.Tensor:
        """A trainable weight by initializer name."""
        return self.params[self._index[name]]

    def _value(self, name: str, env: dict) -> Optional[torch.Tensor]:
        if not name:
            return None
        if name in env:
            return env[name]
        if name in self._index:
            w = self.params[self._index[name]]
            wq = self.weight_quant.get(name) if self.simulate else None
            return fake_quant_weight(w, wq) if wq is not None else w
        return self._const[name].to(self.params[0].device) if len(self.params) else self._const[name]

    def _act(self, name: str, x: torch.Tensor) -> torch.Tensor:
        q = self.acts.get(name) if self.simulate else None
        if q is None or not x.is_floating_point():
            return x
        return torch.fake_quantize_per_tensor_affine(x, q.scale, q.zero_point, q.qmin, q.qmax)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env = {self.input_name: self._act(self.input_name, x)}
        for op, ins, outs, attrs in self.nodes:
            if op == "Constant":
                continue
            y = _OPS[op]([self._value(n, env) for n in ins], attrs)
            env[outs[0]] = self._act(outs[0], y)
        return env[self.output_name]
