"""What the ONNX Runtime quantizations share: graph facts, a calibration reader, quiet logs, a slim file.

Used by ``quantize.static``, ``quantize.dynamic`` and ``quantize.fp16``. It
registers no technique. The quantizing itself is ONNX Runtime's; this module
only prepares its inputs, names the layers for the user and tidies the file it
writes.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np

from core.jobs import ProgressFn
from core.techniques.base import StepContext, TechniqueError

WEIGHT_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")  # ops whose weights quantization stores as int8
_QDQ = ("QuantizeLinear", "DequantizeLinear")
_FLOAT = 1  # onnx.TensorProto.FLOAT


# --------------------------------------------------------------------------- logs


@contextlib.contextmanager
def quiet_ort(sink: Optional[list[str]] = None) -> Iterator[list[str]]:
    """Keep ONNX Runtime's quantization chatter off the console; collect its warnings in ``sink``.

    The quantizer logs through the *root* logger (``logging.warning(...)``),
    which would also install a console handler on first use. A root-logger
    filter catches only records logged on the root logger itself, so the
    application's own logging is left alone. The histogram calibrators
    ``print`` their progress; that goes to a buffer, because the CLI's
    ``--json`` output must stay parseable.
    """
    sink = [] if sink is None else sink
    root = logging.getLogger()

    def catch(record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            text = record.getMessage().strip()
            if text and text not in sink:
                sink.append(text)
        return False

    guard = logging.NullHandler()  # stops logging.warning() from calling basicConfig()
    root.addFilter(catch)
    root.addHandler(guard)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield sink
    finally:
        root.removeFilter(catch)
        root.removeHandler(guard)


# --------------------------------------------------------------------------- graph facts


def load_proto(path: Path):
    import onnx

    return onnx.load(str(path))


def copy_proto(proto):
    """A deep copy of an ONNX model, for a graph about to be rewritten whose original is still needed."""
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(proto)
    return out


def initializers(proto) -> dict:
    return initializers_of(proto.graph)


def initializers_of(graph) -> dict:
    return {init.name: init for init in graph.initializer}


def op_counts(proto) -> dict[str, int]:
    """Nodes per op type, most frequent first."""
    counts: dict[str, int] = {}
    for node in proto.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True)
class WeightOp:
    """A node that multiplies by a stored weight: what a user calls a layer."""

    node: str  # ONNX node name
    op_type: str
    weight: str  # initializer name
    params: int
    index: int  # which input of the node the weight is

    @property
    def layer(self) -> str:
        """The PyTorch-style layer name (``layer1.0.conv1``): from the weight's name, else from the node's scope.

        The TorchScript exporter names a Conv+BN folded weight ``onnx::Conv_662``;
        its node ``/blocks/blocks.1/blocks.1.1/conv_pw/Conv`` still says which
        module it is (``blocks.1.1.conv_pw``), which is what a user recognises.
        """
        if self.weight.endswith(".weight"):
            return self.weight[: -len(".weight")]
        return module_path(self.node) or self.weight


def module_path(node_name: str) -> str:
    """``/blocks/blocks.1/blocks.1.1/conv_pw/Conv`` -> ``blocks.1.1.conv_pw``; "" for a name without a scope."""
    parts = [p for p in node_name.split("/") if p][:-1] if node_name.startswith("/") else []
    path = ""
    for part in parts:
        path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
    return path


def weight_ops(proto) -> list[WeightOp]:
    """Conv / Gemm / MatMul nodes with a float initializer as weight, in graph order."""
    inits = initializers(proto)
    out = []
    for node in proto.graph.node:
        if node.op_type not in WEIGHT_OPS or len(node.input) < 2:
            continue
        index = next((i for i, n in enumerate(node.input[:2])
                      if n in inits and inits[n].data_type == _FLOAT and len(inits[n].dims) >= 2), None)
        if index is None:
            continue
        weight = node.input[index]
        out.append(WeightOp(node.name, node.op_type, weight, int(np.prod(inits[weight].dims)), index))
    return out


def first_input(proto):
    """The graph's one real input (initializers listed as inputs by old exporters are skipped)."""
    inits = initializers(proto)
    inputs = [i for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise TechniqueError(
            f"the ONNX model has {len(inputs)} inputs; quantization here feeds one image batch",
            "use a classifier with a single image input",
        )
    return inputs[0]


def input_batch(value_info) -> Optional[int]:
    """The input's fixed batch size, or None when the batch dimension is dynamic."""
    dims = value_info.type.tensor_type.shape.dim
    if dims and dims[0].HasField("dim_value") and dims[0].dim_value > 0:
        return int(dims[0].dim_value)
    return None


def check_quantizable(proto, what: str) -> None:
    """Refuse graphs these techniques cannot start from: non-float input, already quantized."""
    value = first_input(proto)
    if value.type.tensor_type.elem_type != _FLOAT:
        raise TechniqueError(
            f"the ONNX model's input {value.name!r} is not float32, so it cannot be {what}",
            "start from the fp32 model (PyTorch or its float32 ONNX export)",
        )
    done = {n.op_type for n in proto.graph.node} & {*_QDQ, "DynamicQuantizeLinear", "QLinearConv", "MatMulInteger", "ConvInteger"}
    fp16 = any(i.data_type == 10 for i in proto.graph.initializer)  # FLOAT16
    if done or fp16:
        kind = "fp16" if fp16 and not done else "quantized"
        raise TechniqueError(
            f"the model is already {kind} ({', '.join(sorted(done)) or 'float16 weights'}), so it cannot be {what}",
            "start from the fp32 model",
        )


def resolve_names(proto, names: Sequence[str], op_types: Sequence[str]) -> list[str]:
    """Node names for the user's exclusions: node names, layer names or weight names, and op types.

    Unknown entries raise one error naming all of them and showing names that
    would work, so a typo in a recipe is caught before minutes of calibration.
    """
    ops = weight_ops(proto)
    by_alias: dict[str, list[str]] = {}
    for node in proto.graph.node:
        if node.name:
            by_alias.setdefault(node.name, []).append(node.name)
    for op in ops:
        for alias in {op.layer, op.weight}:
            by_alias.setdefault(alias, []).append(op.node)
    unknown = [n for n in names if n not in by_alias]
    if unknown:
        examples = [op.layer for op in ops[:3]] + [op.node for op in ops[:2]]
        raise TechniqueError(
            f"no node or layer called {', '.join(repr(n) for n in unknown)} in this model",
            "exclude by layer name or ONNX node name, e.g. " + ", ".join(repr(e) for e in dict.fromkeys(examples)),
        )
    present = {n.op_type for n in proto.graph.node}
    bad_types = [t for t in op_types if t not in present]
    if bad_types:
        raise TechniqueError(
            f"this model has no {', '.join(repr(t) for t in bad_types)} nodes (op types are case-sensitive)",
            "use op types present in the model: " + ", ".join(sorted(present)),
        )
    out: list[str] = []
    for n in names:
        out.extend(by_alias[n])
    out.extend(node.name for node in proto.graph.node if node.op_type in op_types and node.name)
    return list(dict.fromkeys(out))


def macs_per_op(proto) -> dict[str, int]:
    """Per-sample MACs of the weight ops by op type, from the shapes in ``value_info``.

    Only the split between Conv and MatMul/Gemm is needed (to warn that
    dynamic quantization does not help convolutional models), so an op with an
    unknown output shape counts its weight size instead of being dropped.
    """
    out: dict[str, int] = {}
    kinds = {op.node: op.op_type for op in weight_ops(proto)}
    for node, macs in macs_by_node(proto).items():
        family = "Conv" if kinds[node] in ("Conv", "ConvTranspose") else "MatMul/Gemm"
        out[family] = out.get(family, 0) + macs
    return out


def macs_by_node(proto) -> dict[str, int]:
    """Per-sample MACs of every weight op, by node name (its weight size when its output shape is unknown)."""
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else 1 for d in v.type.tensor_type.shape.dim]
              for v in [*proto.graph.value_info, *proto.graph.output]}
    inits = initializers(proto)
    out: dict[str, int] = {}
    nodes = {n.name: n for n in proto.graph.node}
    for op in weight_ops(proto):
        node = nodes[op.node]
        dims = list(inits[op.weight].dims)
        shape = shapes.get(node.output[0])
        if not shape or len(shape) < 2:
            macs = op.params
        elif op.op_type in ("Conv", "ConvTranspose"):
            macs = int(np.prod(shape[1:])) * int(np.prod(dims[1:]))
        else:
            trans_b = any(a.name == "transB" and a.i for a in node.attribute)
            k = dims[1] if (op.op_type == "Gemm" and trans_b) else dims[-2]
            macs = int(np.prod(shape[1:])) * int(k)
        out[op.node] = macs
    return out


# --------------------------------------------------------------------------- pre-processing


def preprocess(src: Path, dst: Path) -> list[str]:
    """ONNX Runtime's recommended pre-processing (shape inference, graph clean-up), with fallbacks.

    Symbolic shape inference fails on some graphs; quantization still works
    without it (ONNX shape inference covers the common cases), so each
    failure falls back to a lighter pass and says so rather than stopping.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    attempts = [
        ({}, None),
        ({"skip_symbolic_shape": True}, "symbolic shape inference failed, so ONNX shape inference was used instead"),
        ({"skip_symbolic_shape": True, "skip_optimization": True},
         "ONNX Runtime's graph clean-up before quantization failed, so the graph was quantized as exported"),
    ]
    notes = ["ONNX Runtime's pre-processing failed on this graph, so it was quantized without it; check the result's accuracy"]
    for kwargs, note in attempts:
        try:
            quant_pre_process(str(src), str(dst), **kwargs)
        except Exception:  # any failure of a pre-processing pass means: try the lighter one
            continue
        notes = [note] if note else []
        break
    else:
        shutil.copyfile(src, dst)
    _name_nodes(dst)
    return notes


def _name_nodes(path: Path) -> None:
    """Give unnamed nodes a name: exclusions and the layers table refer to nodes by name."""
    import onnx

    proto = onnx.load(str(path))
    used = {n.name for n in proto.graph.node if n.name}
    if len(used) == len(proto.graph.node):
        return
    for i, node in enumerate(proto.graph.node):
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in used:
                name += "_"
            node.name = name
            used.add(name)
    onnx.save(proto, str(path))


# --------------------------------------------------------------------------- calibration data


# ``quantize_static``'s extra option that makes the calibrator collect one batch per call (see CalibrationReader)
CALIBRATE_PER_BATCH = {"CalibStridedMinMax": 1}


class CalibrationReader:
    """Feeds calibration batches to ONNX Runtime, polling cancel and reporting progress per batch.

    ``get_next`` is ONNX Runtime's only call into our code during calibration,
    so it is where a cancel can stop the work (within one batch).

    Pass :data:`CALIBRATE_PER_BATCH` as ``extra_options``: ONNX Runtime then
    calls ``set_range`` and collects one batch at a time. Without it, the
    histogram calibrators (Entropy, Percentile) stack the outputs of every
    batch with ``np.asarray`` and fail ("inhomogeneous shape") when the last
    batch is shorter, and they hold every activation of every image in memory
    at once. Min/max and histograms merge across calls, so the ranges are
    the same (MinMax) or as good (histograms).
    """

    def __init__(self, ctx: StepContext, input_name: str, samples: int, batch_size: int,
                 fixed_batch: Optional[int] = None, progress: Optional[ProgressFn] = None) -> None:
        dataset = ctx.data.calib
        total = len(dataset)  # type: ignore[arg-type]
        order = np.random.default_rng(ctx.seed).permutation(total)[: min(samples, total)]
        batch = fixed_batch or batch_size
        if fixed_batch:
            if len(order) < fixed_batch:
                raise TechniqueError(
                    f"the ONNX model has a fixed batch of {fixed_batch} but only {len(order)} calibration images were available",
                    "raise calibration_samples, use a larger calibration split, or export the model with a dynamic batch",
                )
            order = order[: len(order) - len(order) % fixed_batch]
        self.indices = [order[i: i + batch] for i in range(0, len(order), batch)]
        self.samples = int(len(order))
        self.dataset = dataset
        self.ctx = ctx
        self.input_name = input_name
        self.progress = progress or ctx.progress
        self._next = 0
        self._end = len(self.indices)

    def __len__(self) -> int:
        """Batches in all: ONNX Runtime's per-batch collection steps over ``range(len(reader))``."""
        return len(self.indices)

    def set_range(self, start_index: int, end_index: int) -> None:
        """Serve batches ``start_index`` up to ``end_index`` (exclusive) next; ONNX Runtime calls this per collection."""
        self._next, self._end = start_index, min(end_index, len(self.indices))

    def get_next(self) -> Optional[dict[str, np.ndarray]]:
        self.ctx.check()
        if self._next >= self._end:
            return None
        idx = self.indices[self._next]
        self.progress(self._next / len(self.indices), f"calibrating: batch {self._next + 1} of {len(self.indices)}")
        self._next += 1
        batch = np.stack([np.asarray(self.dataset[int(i)][0], dtype=np.float32) for i in idx])
        return {self.input_name: batch}

    def __iter__(self):
        return self

    def __next__(self):
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


# --------------------------------------------------------------------------- the written file


_SHORT_SUFFIXES = (  # names ONNX Runtime's QDQ quantizer makes -> shorter, still readable
    ("_DequantizeLinear_Output", "_dq"),
    ("_QuantizeLinear_Output", "_qa"),
    ("_quantized_scale", "_qscale"),
    ("_quantized_zero_point", "_qzp"),
    ("_quantized", "_q"),
    ("_zero_point", "_zp"),
)


def slim_model(proto, compact_qdq: bool = False) -> int:
    """Drop what inference never reads; returns the bytes saved. The graph computes exactly the same.

    The dynamo exporter stores a stack trace and FX text on every node and the
    ExportedProgram signature on the graph (local source paths included):
    about 50 KB on the demo model, and it would otherwise ship to the device.
    ``value_info`` is a shape cache ONNX Runtime rebuilds at load. With
    ``compact_qdq`` (a QDQ graph) all-zero zero-points of DequantizeLinear
    (an optional input that defaults to 0) are dropped, the Q/DQ nodes lose
    their (optional) names and ONNX Runtime's long generated tensor names are
    shortened: on a small model those are several percent of the int8 file.
    """
    from core.models.onnx_export import strip_debug_info

    before = proto.ByteSize()
    graph = proto.graph
    strip_debug_info(proto)
    del graph.value_info[:]
    has_subgraphs = any(a.type in (5, 10) for n in graph.node for a in n.attribute)  # GRAPH, GRAPHS
    if compact_qdq and not has_subgraphs:  # renaming would break names a subgraph reads from outside
        _drop_zero_dq_zero_points(graph)
        _shorten_qdq_names(graph)
    return before - proto.ByteSize()


def _drop_zero_dq_zero_points(graph) -> None:
    """Remove DequantizeLinear zero-points that are all zeros and read by nothing else.

    Only on DequantizeLinear: its output type does not depend on the
    zero-point, whereas QuantizeLinear's output type does.
    """
    from onnx import numpy_helper

    inits = initializers_of(graph)
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    dropped = set()
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or len(node.input) != 3:
            continue
        zp = node.input[2]
        if zp in inits and readers.get(zp) == 1 and not numpy_helper.to_array(inits[zp]).any():
            del node.input[2]
            dropped.add(zp)
    if dropped:
        keep = [i for i in graph.initializer if i.name not in dropped]
        del graph.initializer[:]
        graph.initializer.extend(keep)


def _shorten_qdq_names(graph) -> None:
    """Shorten generated tensor names, skipping any rename that would clash; clear Q/DQ node names."""
    names: set[str] = {i.name for i in graph.initializer} | {v.name for v in [*graph.input, *graph.output]}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    keep = {v.name for v in [*graph.input, *graph.output]}  # the model's interface stays as it is
    mapping: dict[str, str] = {}
    taken = set(names)
    for name in sorted(names - keep):
        new = name
        for long, short in _SHORT_SUFFIXES:
            if new.endswith(long):
                new = new[: -len(long)] + short
                break
        if new != name and new not in taken:
            mapping[name] = new
            taken.add(new)
    for init in graph.initializer:
        init.name = mapping.get(init.name, init.name)
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = mapping.get(name, name)
        for i, name in enumerate(node.output):
            node.output[i] = mapping.get(name, name)
        if node.op_type in _QDQ:
            node.name = ""


def sort_nodes(graph) -> None:
    """Put nodes in dependency order, keeping the existing order where it already works.

    ONNX requires topological order and some tools append nodes at the end (the
    fp16 converter's input casts); ONNX Runtime sorts for itself, other runtimes
    and the ONNX checker do not.
    """
    nodes = list(graph.node)
    ready = {i.name for i in graph.initializer} | {v.name for v in graph.input} | {""}
    pending = list(range(len(nodes)))
    order: list[int] = []
    while pending:
        waiting = []
        for i in pending:  # one pass in the current order; an already sorted graph needs no second
            if all(x in ready for x in nodes[i].input):
                order.append(i)
                ready.update(nodes[i].output)
            else:
                waiting.append(i)
        if len(waiting) == len(pending):  # a cycle or a dangling input: leave it for the checker to report
            order += waiting
            break
        pending = waiting
    if order != sorted(order):
        copies = [type(nodes[i])() for i in order]
        for copy, i in zip(copies, order):
            copy.CopyFrom(nodes[i])
        del graph.node[:]
        graph.node.extend(copies)


def save_slim(proto, path: Path, compact_qdq: bool = False) -> int:
    """Slim ``proto``, sort and check it, and write it as one file; returns the bytes saved by slimming."""
    import onnx

    saved = slim_model(proto, compact_qdq=compact_qdq)
    sort_nodes(proto.graph)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return saved


def left_in_fp32_note(rows: list[dict], done_key: str = "quantized") -> list[str]:
    """A note naming weight layers the library left in fp32 although the user did not exclude them."""
    left = [r["layer"] for r in rows if not r[done_key] and not r["excluded"]]
    if not left:
        return []
    shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
    return [f"{len(left)} weight layer(s) stayed fp32 because ONNX Runtime does not quantize them in this graph: {shown}"]


def kib(n: int) -> str:
    """Bytes as the user reads them in a summary."""
    return f"{n / 1024:,.0f} KiB" if n < 10 * 1024 * 1024 else f"{n / 1024 / 1024:,.1f} MiB"
