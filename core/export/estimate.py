"""What a model file will need on a target: storage, RAM, and a roofline latency.

Everything is read from the exported ONNX graph, so the numbers describe the
file that ships: weight bytes from its initializers, activation bytes from the
tensor shapes ONNX shape inference gives at batch 1, and a latency that is the
sum over layers of max(compute time, memory time) at the profile's peak
figures. That makes the latency a lower bound — kernels reach a fraction of
peak — and each result carries the assumptions that make it so.

Int8 QDQ graphs are costed as int8 runtimes execute them: a DequantizeLinear
is free (it feeds the int8 tensor to the next kernel) and a layer whose output
is only quantized writes int8, so quantized activations count 1 byte.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from math import prod
from pathlib import Path
from typing import Optional

from core.export.targets import TargetProfile

MAC_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul"}
VIEW_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}  # no new memory, no work
FREE_OPS = {"Shape", "Size", "Constant", "ConstantOfShape", "DequantizeLinear"}
QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}
_INT8_TYPES = {2, 3}  # onnx.TensorProto.UINT8, INT8
_FLOAT_TYPES = {1, 10, 11, 16}  # FLOAT, FLOAT16, DOUBLE, BFLOAT16
_PRECISION_BYTES = {"fp32": 4, "fp16": 2, "int8": 1}


@dataclass
class LayerCost:
    """One node's share of the roofline estimate."""

    name: str
    op_type: str
    precision: str
    macs: int
    ops: int
    bytes: int  # activations read and written plus weights read
    ms: float
    bound: str  # "compute" | "memory"


@dataclass
class Estimate:
    """Memory and latency of one model file on one target, with the assumptions behind them."""

    target: str
    precision: str  # what the device computes in
    file_bytes: int
    weight_bytes: int  # weights as the device stores them
    storage_bytes: int  # what the target's flash / disk must hold
    peak_activation_bytes: int
    peak_at: str  # the layer running when activation memory peaks
    ram_bytes: int  # activations, plus weights where the target loads them into RAM
    macs: int
    latency_ms: float  # roofline lower bound
    compute_ms: float  # the sum of compute times alone
    memory_ms: float  # the sum of memory times alone
    memory_bound_share: float  # share of latency_ms spent in memory-bound layers
    input_shape: tuple[int, ...]
    layers: list[LayerCost] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    @property
    def bound(self) -> str:
        return "memory" if self.memory_bound_share >= 0.5 else "compute"

    def to_dict(self, top: int = 10) -> dict:
        slowest = sorted(self.layers, key=lambda c: c.ms, reverse=True)[:top]
        out = {k: v for k, v in asdict(self).items() if k != "layers"}
        out["input_shape"] = list(self.input_shape)
        out["bound"] = self.bound
        out["slowest_layers"] = [asdict(c) for c in slowest]
        return out


# --------------------------------------------------------------------------- graph reading


def model_precision(proto) -> str:
    """int8 for a quantized graph, fp16 for half weights, else fp32."""
    ops = {n.op_type for n in proto.graph.node}
    if ops & (QDQ_OPS | {"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"}):
        return "int8"
    if any(i.data_type == 10 for i in proto.graph.initializer):
        return "fp16"
    return "fp32"


def _at_batch_one(proto):
    """A copy of ``proto`` with shapes inferred for one image (dynamic batch fixed to 1)."""
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    inits = {i.name for i in model.graph.initializer}
    for value in [*model.graph.input, *model.graph.output]:
        if value.name in inits:
            continue
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].Clear()
            dims[0].dim_value = 1
    del model.graph.value_info[:]
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # an op shape inference cannot handle: keep what is known
        return model


def _elem_bytes(elem_type: int) -> int:
    from onnx import helper

    try:
        return int(helper.tensor_dtype_to_np_dtype(elem_type).itemsize)
    except Exception:  # unknown or string types: count them as 4 bytes
        return 4


class _Graph:
    """Shapes, types, weights and buffer aliases of a graph at batch 1."""

    def __init__(self, proto, device_precision: Optional[str]) -> None:
        self.graph = proto.graph
        self.force = device_precision if device_precision in ("int8", "fp16") else None
        self.shapes: dict[str, Optional[tuple[int, ...]]] = {}
        self.types: dict[str, int] = {}
        for value in [*self.graph.input, *self.graph.value_info, *self.graph.output]:
            t = value.type.tensor_type
            dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim) if t.HasField("shape") else None
            self.shapes[value.name] = None if dims is None or any(d < 0 for d in dims) else dims
            self.types[value.name] = t.elem_type
        self.weights: dict[str, int] = {}  # weight tensor -> bytes as stored on the device
        for init in self.graph.initializer:
            self.shapes[init.name] = tuple(init.dims)
            self.types[init.name] = init.data_type
            self.weights[init.name] = self._stored(prod(init.dims), init.data_type)
        for node in self.graph.node:
            if node.op_type == "Constant":
                for out in node.output:
                    self.weights[out] = 0  # shape constants: negligible
        self.consumers: dict[str, list] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.root: dict[str, str] = {}  # tensor -> the buffer that holds it
        self.int8_buffers: set[str] = set()
        self._alias()

    def _stored(self, numel: int, elem_type: int) -> int:
        if self.force and elem_type in _FLOAT_TYPES:
            return numel * _PRECISION_BYTES[self.force]
        return numel * _elem_bytes(elem_type)

    def _alias(self) -> None:
        inputs = {v.name for v in self.graph.input}
        for node in self.graph.node:
            src = self.root.get(node.input[0], node.input[0]) if node.input else None
            if node.op_type in ("DequantizeLinear", *VIEW_OPS) and src is not None:
                self.root[node.output[0]] = src
            elif (
                node.op_type == "QuantizeLinear" and src is not None and src not in inputs and src not in self.weights
                and all(c.op_type == "QuantizeLinear" for c in self.consumers.get(node.input[0], []))
            ):
                self.root[node.output[0]] = src  # the layer writes int8 directly
                self.int8_buffers.add(src)
            else:
                for out in node.output:
                    self.root[out] = out
                    if self.types.get(out) in _INT8_TYPES:
                        self.int8_buffers.add(out)

    def buffer(self, name: str) -> str:
        return self.root.get(name, name)

    def is_weight(self, name: str) -> bool:
        return self.buffer(name) in self.weights

    def numel(self, name: str) -> Optional[int]:
        shape = self.shapes.get(name)
        return None if shape is None else prod(shape)

    def buffer_bytes(self, buf: str) -> Optional[int]:
        if buf in self.weights:
            return self.weights[buf]
        numel = self.numel(buf)
        if numel is None:
            return None
        if buf in self.int8_buffers:
            return numel
        return self._stored(numel, self.types.get(buf, 1))


# --------------------------------------------------------------------------- memory


def peak_activations(g: _Graph) -> tuple[int, str, int]:
    """(peak bytes, node at the peak, tensors of unknown size) from a liveness walk in graph order.

    A buffer lives from the node that writes it to the last node that reads
    it (graph inputs from the start, graph outputs to the end); the peak is the
    largest sum of live buffers while one node runs, inputs and outputs both held.
    """
    nodes = list(g.graph.node)
    end = len(nodes)
    birth: dict[str, int] = {}
    death: dict[str, int] = {}
    for v in g.graph.input:
        if not g.is_weight(v.name):
            birth[g.buffer(v.name)] = 0
    for i, node in enumerate(nodes):
        for out in node.output:
            buf = g.buffer(out)
            if buf not in g.weights:
                birth.setdefault(buf, i)
        for name in node.input:
            if name and not g.is_weight(name):
                death[g.buffer(name)] = i
    for v in g.graph.output:
        death[g.buffer(v.name)] = end
    sizes = {buf: g.buffer_bytes(buf) for buf in birth}
    unknown = sum(1 for s in sizes.values() if s is None)
    delta = [0] * (end + 2)
    for buf, start in birth.items():
        stop = max(death.get(buf, start), start)
        delta[start] += sizes[buf] or 0
        delta[stop + 1] -= sizes[buf] or 0
    peak, at, live = 0, 0, 0
    for i in range(end + 1):
        live += delta[i]
        if live > peak:
            peak, at = live, i
    name = nodes[min(at, end - 1)].name or nodes[min(at, end - 1)].op_type if nodes else ""
    return peak, name, unknown


# --------------------------------------------------------------------------- compute


def node_macs(g: _Graph, node) -> int:
    """Multiply-accumulates of one MAC node from its shapes (0 when a shape is unknown)."""
    out = g.shapes.get(node.output[0])
    if out is None or len(node.input) < 2:
        return 0
    op = node.op_type
    w_name = node.input[3] if op == "QLinearConv" else node.input[1]
    w = g.shapes.get(w_name)
    a = g.shapes.get(node.input[0])
    if op in ("Conv", "ConvInteger", "QLinearConv"):
        return prod(out) * prod(w[1:]) if w else 0
    if op == "ConvTranspose":
        return prod(a) * prod(w[1:]) if a and w else 0
    if op == "Gemm":
        trans_a = any(at.name == "transA" and at.i for at in node.attribute)
        return prod(out) * (a[0] if trans_a else a[1]) if a and len(a) == 2 else 0
    return prod(out) * a[-1] if a else 0  # MatMul family: K is A's last dim


def _node_cost(g: _Graph, node, profile: TargetProfile, notes: set[str]) -> Optional[LayerCost]:
    if node.op_type in FREE_OPS or node.op_type in VIEW_OPS:
        return None
    q_out = node.op_type == "QuantizeLinear" and g.buffer(node.output[0]) != node.output[0]
    if q_out:
        return None  # folded into the layer that writes the tensor
    acts = [g.buffer(n) for n in node.input if n and not g.is_weight(n)]
    weights = [g.buffer(n) for n in node.input if n and g.is_weight(n)]
    outs = [g.buffer(n) for n in node.output if n]
    moved = sum(g.buffer_bytes(b) or 0 for b in {*acts, *weights, *outs})
    macs = node_macs(g, node) if node.op_type in MAC_OPS else 0
    if macs:
        ops = 2 * macs
    else:
        ops = max([g.numel(b) or 0 for b in [*acts, *outs]] or [0])
    if acts and acts[0] in g.int8_buffers:
        precision = "int8"
    elif g.force:
        precision = g.force
    elif any(g.types.get(o) == 10 for o in node.output):
        precision = "fp16"
    else:
        precision = "fp32"
    gops, note = profile.peak_gops(precision)
    if note:
        notes.add(note)
    compute_ms = ops / (gops * 1e9) * 1e3
    memory_ms = moved / (profile.memory.bandwidth_gbs * 1e9) * 1e3
    bound = "compute" if compute_ms >= memory_ms else "memory"
    return LayerCost(node.name or node.op_type, node.op_type, precision, macs, ops, moved, max(compute_ms, memory_ms), bound)


# --------------------------------------------------------------------------- entry point


def estimate(
    path: Path | str,
    profile: TargetProfile,
    *,
    stored_bytes: Optional[int] = None,
) -> Estimate:
    """Storage, RAM and roofline latency of the ONNX file at ``path`` on ``profile``.

    ``stored_bytes`` is the size of the file the target keeps when it is not
    this ONNX file (a ``.pt2`` program); by default the ONNX file's size, or
    the weights at the device's precision when its tool chain converts them.
    """
    import onnx

    path = Path(path)
    proto = onnx.load(str(path))
    file_precision = model_precision(proto)
    device = profile.device_precision(file_precision) or file_precision
    converted = device != file_precision
    g = _Graph(_at_batch_one(proto), device if converted else None)
    notes: set[str] = set()
    layers = [c for c in (_node_cost(g, n, profile, notes) for n in g.graph.node) if c is not None]
    peak, peak_at, unknown = peak_activations(g)
    weight_bytes = sum(g.weights.values())
    file_bytes = path.stat().st_size
    storage = weight_bytes if converted else (stored_bytes if stored_bytes is not None else file_bytes)
    latency = sum(c.ms for c in layers)
    memory_share = sum(c.ms for c in layers if c.bound == "memory") / latency if latency else 0.0
    first = next((v for v in g.graph.input if not g.is_weight(v.name)), None)
    shape = g.shapes.get(first.name) if first is not None else None

    assumptions = [
        f"batch 1, input {'×'.join(map(str, shape)) if shape else 'of unknown shape'}",
        f"roofline at the profile's peak figures ({_gops_text(profile)}, {profile.memory.bandwidth_gbs:g} GB/s): "
        "each layer takes max(operations / peak compute, bytes moved / bandwidth); real kernels reach a fraction "
        "of peak, so this is a lower bound and the device will be slower",
        "each layer reads its inputs and weights and writes its outputs once (no cache reuse, no fusion beyond QDQ)",
        "peak activation memory: a tensor lives from the layer that writes it to the last layer that reads it; "
        "no in-place reuse, no arena fragmentation, runtime and firmware memory not counted",
    ]
    if file_precision == "int8":
        assumptions.append("QDQ pairs fused as int8 runtimes run them: quantized activations take 1 byte, DequantizeLinear is free")
    if converted:
        assumptions.append(
            f"the {profile.runtime.split(':')[0]} tool chain converts the {file_precision} model to {device}: "
            f"weights and activations counted at {device}"
        )
    assumptions.append(
        "weights stay in flash and are read in place; RAM holds activations" if not profile.weights_in_ram
        else "the runtime loads the weights into RAM beside the activations"
    )
    if unknown:
        assumptions.append(f"{unknown} tensor(s) of unknown shape were not counted")
    assumptions += sorted(notes)
    return Estimate(
        target=profile.name,
        precision=device,
        file_bytes=file_bytes,
        weight_bytes=weight_bytes,
        storage_bytes=storage,
        peak_activation_bytes=peak,
        peak_at=peak_at,
        ram_bytes=peak + (weight_bytes if profile.weights_in_ram else 0),
        macs=sum(c.macs for c in layers),
        latency_ms=latency,
        compute_ms=sum(c.ops / (profile.peak_gops(c.precision)[0] * 1e9) * 1e3 for c in layers),
        memory_ms=sum(c.bytes for c in layers) / (profile.memory.bandwidth_gbs * 1e9) * 1e3,
        memory_bound_share=memory_share,
        input_shape=tuple(shape) if shape else (),
        layers=layers,
        assumptions=assumptions,
    )


def _gops_text(profile: TargetProfile) -> str:
    return ", ".join(f"{v:g} GOPS {p}" for p, v in profile.compute_gops.items())
