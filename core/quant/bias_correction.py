"""Bias correction (Nagel et al., 2019) on the fp32 ONNX graph, before calibration.

Rounding a layer's weights to int8 shifts the mean of its output: with
``ΔW = W_int8 − W``, channel ``o`` moves by ``Σ ΔW[o, i, ·] · E[x_i]``. Small
depthwise kernels (nine weights a channel) do not average that shift away, and
it adds up through the network. The shift is computed here with the weights
rounded the way ONNX Runtime will round them and the input means measured on
the calibration images, then subtracted from the layer's bias; after
quantization the expected output matches fp32 again.
"""

from __future__ import annotations

from typing import Callable, Collection

import numpy as np

from core.quant.activation_stats import channel_stats


def fake_quant(w: np.ndarray, signed: bool, per_channel: bool, reduce_range: bool = False) -> np.ndarray:
    """``w`` rounded as ONNX Runtime stores it: int8 symmetric, or uint8 with a zero-point.

    Checked against the DequantizeLinear inputs ONNX Runtime writes (tests/core/quant/test_rewrites.py).
    """
    flat = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
    if signed:  # symmetric over [-127, 127] ([-64, 64] with reduce_range)
        qmin, qmax = (-64, 64) if reduce_range else (-127, 127)
        absmax = np.abs(flat).max(1, keepdims=True)
        scale = np.where(absmax > 0, 2 * absmax / (qmax - qmin), 1.0)
        q = np.clip(np.round(flat / scale), qmin, qmax) * scale
    else:  # a zero-point; per channel the range is still symmetric around zero
        qmin, qmax = 0, 127 if reduce_range else 255
        if per_channel:
            hi = np.abs(flat).max(1, keepdims=True)
            lo = -hi
        else:
            lo, hi = np.minimum(flat.min(1, keepdims=True), 0), np.maximum(flat.max(1, keepdims=True), 0)
        scale = np.where(hi > lo, (hi - lo) / (qmax - qmin), 1.0)
        zp = np.round(qmin - lo / scale)
        q = (np.clip(np.round(flat / scale) + zp, qmin, qmax) - zp) * scale
    return q.reshape(w.shape)


def correct_biases(proto, dataset, *, signed: bool, per_channel: bool, reduce_range: bool = False,
                   skip: Collection[str] = (), check: Callable[[], None] = lambda: None) -> dict[str, tuple[str, object]]:
    """Subtract each Conv / Gemm layer's int8 weight-rounding shift from its bias, in place.

    Layers in ``skip`` (kept in fp32) are left alone. Returns, per corrected
    node, its bias name and the original bias (None where one was added), so a
    layer kept in fp32 later can have its own bias back (:func:`core.quant.originals.restore`).
    """
    import onnx
    from onnx import numpy_helper

    graph = proto.graph
    inits = {i.name: i for i in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    layers = [n for n in graph.node if n.name not in skip and _correctable(n, inits, uses)]
    if not layers:
        return {}
    stats = channel_stats(proto, [n.input[0] for n in layers], dataset, check)
    changed: dict[str, tuple[str, object]] = {}
    for node in layers:
        w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
        mean_in = stats.mean.get(node.input[0])
        if mean_in is None:
            continue
        delta = fake_quant(w, signed, per_channel, reduce_range) - w
        if node.op_type == "Gemm":
            shift = delta @ mean_in if _trans_b(node) else mean_in @ delta
        else:
            shift = _conv_shift(delta, mean_in, _group(node))
        if len(node.input) > 2 and node.input[2]:
            original = numpy_helper.to_array(inits[node.input[2]])
            changed[node.name] = (node.input[2], original.copy())
            bias = original.astype(np.float64)
            inits[node.input[2]].CopyFrom(numpy_helper.from_array((bias - shift).astype(np.float32), node.input[2]))
        else:
            name = f"{node.input[1]}_bias_corrected"
            graph.initializer.append(numpy_helper.from_array((-shift).astype(np.float32), name))
            if len(node.input) == 2:
                node.input.append(name)
            else:
                node.input[2] = name
            changed[node.name] = (name, None)
    onnx.checker.check_model(proto)
    return changed


def _correctable(node, inits, uses) -> bool:
    """A Conv, or a Gemm without alpha/beta scaling, whose weight and bias are its own constants."""
    if node.op_type not in ("Conv", "Gemm") or len(node.input) < 2 or node.input[1] not in inits:
        return False
    if uses.get(node.input[1], 0) != 1 or len(inits[node.input[1]].dims) < 2:
        return False
    if len(node.input) > 2 and node.input[2] and (node.input[2] not in inits or uses.get(node.input[2], 0) != 1):
        return False
    if node.op_type == "Gemm":
        attrs = {a.name: a for a in node.attribute}
        if ("transA" in attrs and attrs["transA"].i) or ("alpha" in attrs and attrs["alpha"].f != 1.0) \
                or ("beta" in attrs and attrs["beta"].f != 1.0):
            return False
    return True


def _conv_shift(delta: np.ndarray, mean_in: np.ndarray, group: int) -> np.ndarray:
    """Per output channel: Σ over its kernel of ΔW times the mean of the input channel it reads (padding ignored)."""
    out_ch, in_per_group = delta.shape[0], delta.shape[1]
    per_group_out = out_ch // group
    kernel = delta.reshape(out_ch, in_per_group, -1).sum(2)
    channel = (np.arange(out_ch) // per_group_out)[:, None] * in_per_group + np.arange(in_per_group)[None, :]
    return (kernel * mean_in[channel]).sum(1)


def _group(node) -> int:
    return next((a.i for a in node.attribute if a.name == "group"), 1)


def _trans_b(node) -> bool:
    return any(a.name == "transB" and a.i for a in node.attribute)
