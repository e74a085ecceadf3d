"""ONNX files with a fixed batch: made dynamic where the graph allows it, else run in chunks.

``torch.onnx.export`` without ``dynamic_axes``, most model zoos, a static
``.pt2`` re-exported to ONNX and EdgeSlim's own static-shape bundles (STM32)
all fix the batch, usually to 1, while evaluation feeds batches of 128. The
batch dimension is first rewritten to a symbolic name (with the Reshape
shapes that hard-code it), and the rewrite is kept only if ONNX Runtime gives
the same outputs for one batch of several images as for the images one chunk
at a time. When it does not, the file runs at its own batch: in chunks, the
last one padded.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

BATCH_DIM = "batch"
VERSION = "v1"  # bump when the rewrite changes, so cached copies are made again
# largest output difference, relative to the output scale, between one batch and chunks of the file's batch:
# float kernels differ by summation order only; int8 kernels may requantize a rare value one step apart
FLOAT_TOLERANCE = 1e-3
INT8_TOLERANCE = 5e-2
_INT_OPS = {"QuantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}


@dataclass(frozen=True)
class BatchPlan:
    """How a file with a fixed batch is run: from a verified dynamic copy, or in chunks of its batch."""

    batch: int  # the batch fixed in the file
    dynamic_path: Optional[Path]  # the verified copy with a dynamic batch, or None
    reason: str = ""  # why the batch could not be made dynamic

    @property
    def note(self) -> str:
        """What the user is told about it."""
        if self.dynamic_path is not None:
            return f"fixed batch {self.batch} in the file; made dynamic (checked against {self.batch} image{'s' if self.batch > 1 else ''} at a time)"
        why = f" ({self.reason})" if self.reason else ""
        return f"fixed batch {self.batch} in the file; runs in chunks of {self.batch}{why}"


def first_dim(value_info) -> Optional[int]:
    """The fixed leading dimension of a graph value, or None when it is symbolic or absent."""
    dims = value_info.type.tensor_type.shape.dim
    if dims and dims[0].HasField("dim_value") and dims[0].dim_value > 0:
        return int(dims[0].dim_value)
    return None


def run_in_chunks(run: Callable[[np.ndarray], list], x: np.ndarray, batch: int) -> list[np.ndarray]:
    """Outputs of ``run`` on ``x`` fed ``batch`` rows at a time; the last chunk is padded with zeros, its padding's rows dropped."""
    parts: list[list[np.ndarray]] = []
    for start in range(0, len(x), batch):
        chunk = x[start: start + batch]
        short = batch - len(chunk)
        if short:
            chunk = np.concatenate([chunk, np.zeros((short, *chunk.shape[1:]), dtype=chunk.dtype)])
        outs = run(chunk)
        parts.append([np.asarray(o)[: batch - short] for o in outs])
    return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]


# --------------------------------------------------------------------------- the rewrite


def _constant_source(proto, name: str):
    """The TensorProto behind ``name`` when it is an initializer or a Constant node's value; None otherwise."""
    for init in proto.graph.initializer:
        if init.name == name:
            return init
    for node in proto.graph.node:
        if node.op_type == "Constant" and node.output and node.output[0] == name:
            for attr in node.attribute:
                if attr.name == "value":
                    return attr.t
    return None


def with_dynamic_batch(proto, batch: int):
    """A copy of ``proto`` whose input and output batch is the symbol ``batch`` (unverified).

    A Reshape to a constant shape that starts with the fixed batch (the static
    exporters' flatten) gets -1 there, when the shape has no other -1: the
    element count then gives the batch back. Cached intermediate shapes are
    dropped, since they state the fixed batch.
    """
    import onnx
    from onnx import numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(proto)
    graph = out.graph
    inits = {i.name for i in graph.initializer}
    values = [(v, True) for v in graph.input if v.name not in inits] + [(v, False) for v in graph.output]
    for value, is_input in values:
        dims = value.type.tensor_type.shape.dim
        found = first_dim(value)
        if not dims or (found != batch and (is_input or found is not None)):  # an output may already be symbolic
            raise ValueError(f"{value.name!r} does not start with the batch of {batch}")
        dims[0].Clear()
        dims[0].dim_param = BATCH_DIM
    del graph.value_info[:]
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    for k, node in enumerate(n for n in graph.node if n.op_type == "Reshape" and len(n.input) > 1):
        tensor = _constant_source(out, node.input[1])
        if tensor is None:
            continue
        shape = numpy_helper.to_array(tensor).astype(np.int64)
        if shape.ndim != 1 or len(shape) < 2 or shape[0] != batch or (shape[1:] == -1).any():
            continue
        shape = shape.copy()
        shape[0] = -1
        if uses.get(node.input[1], 0) == 1:  # this Reshape's own constant: change it where it is
            tensor.CopyFrom(numpy_helper.from_array(shape, tensor.name))
        else:  # shared with other nodes: a new constant for this one
            name = f"{node.input[1]}__dynamic_batch_{k}"
            graph.initializer.append(numpy_helper.from_array(shape, name))
            node.input[1] = name
    return out


def _failure(exc: BaseException) -> str:
    """ONNX Runtime's error in a few words: the failing node when it names one."""
    text = str(exc)
    found = re.search(r"running (\w+) node\. Name:'([^']*)'", text)
    if found:
        return f"its {found.group(1)} node {found.group(2)!r} fails"
    text = re.sub(r"\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text.splitlines()[0] if text else type(exc).__name__)
    return text[:120]


def _tolerance(proto) -> float:
    return INT8_TOLERANCE if any(n.op_type in _INT_OPS for n in proto.graph.node) else FLOAT_TOLERANCE


def verify_dynamic(original, candidate, batch: int, tolerance: float) -> str:
    """Why ``candidate`` (bytes) does not compute what ``original`` (a session) does at other batch sizes; "" when it does."""
    import onnxruntime as ort

    feed = original.get_inputs()[0]
    if feed.type != "tensor(float)":
        return f"its input is {feed.type}, not float"
    dims = feed.shape[1:]
    if not all(isinstance(d, int) and d > 0 for d in dims):
        return "its input has other symbolic dimensions"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 4  # a failing rewrite is expected and reported, not logged
    try:
        session = ort.InferenceSession(candidate, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own types for a graph it cannot build
        return f"the rewritten graph does not load: {_failure(exc)}"
    n = 2 * batch + 1  # several chunks and a partial one
    x = np.random.default_rng(0).standard_normal((n, *dims)).astype(np.float32)
    try:
        got = session.run(None, {feed.name: x})
        want = run_in_chunks(lambda c: original.run(None, {feed.name: c}), x, batch)
    except Exception as exc:  # a Reshape or Expand that still fixes the batch fails here
        return f"the graph does not run at batch {n}: {_failure(exc)}"
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            return f"at batch {n} an output has shape {g.shape}, not {w.shape}"
        if g.dtype.kind == "f":
            scale = max(1.0, float(np.abs(w).max(initial=0.0)))
            if float(np.abs(g.astype(np.float64) - w).max(initial=0.0)) > tolerance * scale:
                return f"at batch {n} the outputs differ from those of one chunk at a time"
        elif not np.array_equal(g, w):
            return f"at batch {n} the outputs differ from those of one chunk at a time"
    return ""


def checked_rewrite(proto, batch: int, session) -> tuple[Optional[bytes], str]:
    """(the serialized dynamic-batch model, "") when it computes what ``session`` computes; (None, why) otherwise."""
    try:
        candidate = with_dynamic_batch(proto, batch)
    except ValueError as exc:
        return None, f"not every input and output starts with the batch: {exc}"
    try:
        data = candidate.SerializeToString()
    except ValueError:  # over protobuf's 2 GB
        return None, "the model is over 2 GB, too large to rewrite and check"
    why = verify_dynamic(session, data, batch, _tolerance(proto))
    return (None, why) if why else (data, "")


# --------------------------------------------------------------------------- the cached copy


def cache_dir() -> Path:
    """``$EDGESLIM_CACHE_DIR``, else ``<cache>/EdgeSlim`` (XDG on Linux)."""
    env = os.environ.get("EDGESLIM_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "EdgeSlim"


def _digest(path: Path, proto) -> str:
    """Content hash of the file and its external data, so an edited file gets a new copy."""
    h = hashlib.sha256(VERSION.encode())
    files = [path]
    for tensor in proto.graph.initializer:
        if tensor.data_location == tensor.EXTERNAL:
            loc = next((e.value for e in tensor.external_data if e.key == "location"), "")
            files.append(path.parent / loc)
    for f in dict.fromkeys(files):
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def plan_batch(path: Path, session) -> Optional[BatchPlan]:
    """How to run the ONNX file at ``path`` (open in ``session``): None when its batch is already dynamic."""
    import onnx

    path = Path(path)
    skeleton = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in skeleton.graph.initializer}
    inputs = [i for i in skeleton.graph.input if i.name not in inits]
    if len(inputs) != 1:
        return None
    batch = first_dim(inputs[0])
    if batch is None:
        return None
    try:
        target = cache_dir() / "onnx-batch" / f"{path.stem}-{_digest(path, skeleton)}.onnx"
    except OSError as exc:
        return BatchPlan(batch, None, f"its external data cannot be read: {exc.strerror or exc}")
    if target.is_file():
        return BatchPlan(batch, target)
    data, why = checked_rewrite(onnx.load(str(path)), batch, session)
    if data is None:
        return BatchPlan(batch, None, why)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)  # atomic: another process loading the same file never reads half a copy
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        return BatchPlan(batch, None, f"the dynamic copy cannot be written to {target.parent}: {exc.strerror or exc}")
    return BatchPlan(batch, target)
