"""Opening an ONNX file: validate it, read its input shape and class count.

A file that fails here would otherwise fail much later, inside a latency run,
so it is checked with onnx's own checker and an ONNX Runtime session up front.
A fixed batch is made dynamic when a checked rewrite allows it (the model then
runs from that copy), else the model runs in chunks of the file's batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from core.errors import ModelLoadError
from core.models.onnx_batch import plan_batch
from core.models.onnx_model import OnnxModel
from core.models.spec import corrupt, first_line


def load_onnx(path: Path) -> tuple[OnnxModel, Optional[tuple[int, int, int]], Optional[int], list[str]]:
    """(runnable, input shape (C,H,W) or None, num_classes or None, notes) for an ONNX file."""
    import onnx

    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(str(path))  # the path form also handles >2 GB external-data models
    except Exception as exc:  # DecodeError, ValidationError, OSError for missing external data
        raise corrupt(path, "ONNX", exc) from exc
    notes: list[str] = []
    inputs = graph_inputs(proto)
    if len(inputs) != 1:
        raise ModelLoadError(_inputs_problem(path, inputs), "export the model with a single image input")
    shape = None
    dims = tensor_dims(inputs[0])
    if len(dims) == 4 and all(isinstance(d, int) for d in dims[1:]):
        shape = tuple(dims[1:])
    else:
        notes.append(f"the graph's input shape {dims} is not (N, C, H, W) with fixed C, H, W; pass --input-shape C,H,W")
    classes = None
    if proto.graph.output:
        out = tensor_dims(proto.graph.output[0])
        if len(out) == 2 and isinstance(out[-1], int):
            classes = out[-1]
    runnable = OnnxModel(path)
    try:
        runnable.session()
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
        raise ModelLoadError(
            f"ONNX Runtime cannot run {path.name} ({type(exc).__name__}: {first_line(exc)})",
            "re-export the model with a supported opset (EdgeSlim exports opset 18) and standard operators",
        ) from exc
    plan = plan_batch(path, runnable.session())
    if plan is not None:
        notes.append(plan.note)
        if plan.dynamic_path is not None:
            runnable = OnnxModel(plan.dynamic_path)
    return runnable, shape, classes, notes  # type: ignore[return-value]


def _inputs_problem(path: Path, inputs: list) -> str:
    """Why a graph without exactly one real input cannot be fed (not the preset's or the shape's fault)."""
    if not inputs:
        return f"the ONNX model {path.name} has no inputs; EdgeSlim supports models with one image input"
    names = ", ".join(i.name for i in inputs[:5]) + (", ..." if len(inputs) > 5 else "")
    return f"the ONNX model {path.name} has {len(inputs)} inputs ({names}); EdgeSlim supports models with one image input"


def graph_inputs(proto) -> list:
    """Real inputs of the graph (older exporters also list every initializer as an input)."""
    inits = {i.name for i in proto.graph.initializer}
    return [i for i in proto.graph.input if i.name not in inits]


def tensor_dims(value_info) -> list:
    """Dims of a graph value: ints where fixed, names (or "?") where symbolic."""
    dims = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or "?")
    return dims
