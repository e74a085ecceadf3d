"""Per-node table of an ONNX graph from onnx-tool (shapes, params, MACs).

onnx-tool counts every node's MACs, element-wise ones (ReLU, Add) included,
so its totals run about 1% above PyTorch's counter, which counts only
conv/matmul-type ops. When onnx-tool cannot handle a graph (an operator it does
not know), shapes come from onnx's shape inference and params from the
initializers, and MACs are reported as unknown rather than guessed.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Optional

import numpy as np

from core.controls import ask
from core.errors import ShapeMismatchError
from core.models.inspection_types import LayerInfo, ModelInspection
from core.models.loaded import LoadedModel
from core.models.onnx_file import graph_inputs, tensor_dims
from core.models.spec import first_line

HIDDEN_OPS = {"Constant", "Identity"}  # exporter plumbing, not layers
NON_WEIGHT_TYPES = {7, 9}  # INT64, BOOL initializers are shapes and axes, not weights (as in core.metrics.size)


def weight_params(proto) -> tuple[dict[str, int], int]:
    """Weights per node (keyed by its first output, charged to the first node that reads them) and in all.

    Counted here rather than taken from onnx-tool, which also counts shape and
    axes tensors, so the totals agree with ``core.metrics``' parameter count.
    """
    sizes = {}
    for init in proto.graph.initializer:
        if init.data_type not in NON_WEIGHT_TYPES:
            size = 1
            for d in init.dims:
                size *= int(d)
            sizes[init.name] = size
    per_node: dict[str, int] = {}
    seen: set[str] = set()
    for node in proto.graph.node:
        own = 0
        for name in node.input:
            if name in sizes and name not in seen:
                own += sizes[name]
                seen.add(name)
        if node.output:
            per_node[node.output[0]] = own
    return per_node, sum(sizes.values())


def inspect_onnx(model: LoadedModel, shape: tuple[int, int, int]) -> ModelInspection:
    import onnx

    proto = onnx.load(str(model.runnable.path))
    inputs = graph_inputs(proto)
    if len(inputs) != 1:
        raise ShapeMismatchError(f"{model.name} takes {len(inputs)} inputs; EdgeSlim inspects single-input image models", "export the model with one image input")
    dims = tensor_dims(inputs[0])
    fixed = [d for d in dims[1:] if isinstance(d, int)]
    if len(dims) != 4 or (len(fixed) == 3 and tuple(fixed) != tuple(shape)):
        raise ShapeMismatchError(
            f"{model.name} takes inputs of shape {dims}, not (N, {', '.join(map(str, shape))})",
            f"{ask('input_shape')} matching the graph's input, or re-export the model",
        )
    batch = dims[0] if isinstance(dims[0], int) else 1
    feed = np.zeros((batch, *shape), dtype=np.float32)
    try:
        return _with_onnx_tool(proto, inputs[0].name, feed, shape, batch)
    except Exception as exc:  # onnx-tool raises assorted errors on ops it does not model
        return _fallback(proto, inputs[0].name, feed, shape, batch, f"onnx-tool could not profile the graph ({type(exc).__name__}: {first_line(exc)})")


def _with_onnx_tool(proto, input_name: str, feed: np.ndarray, shape, batch: int) -> ModelInspection:
    import onnx_tool

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        copy = type(proto)()
        copy.CopyFrom(proto)  # onnx-tool edits the graph it is given; the fallback needs the original
        tool = onnx_tool.Model(copy, {"verbose": False})
        graph = tool.graph
        graph.graph_reorder_nodes()
        graph.shape_infer({input_name: feed})
        graph.profile()
    if not getattr(graph, "valid_profile", False):
        raise RuntimeError("profile did not complete")
    params, total = weight_params(proto)
    layers = []
    for node_name, node in graph.nodemap.items():
        own = params.get(node.output[0], 0) if node.output else 0
        if node.op_type in HIDDEN_OPS and not own:
            continue
        out = tuple(int(d) for d in node.outshape)
        layers.append(
            LayerInfo(
                node_name,
                node.op_type,
                own,
                int(round(node.macs[0])) // batch,
                out[1:] if len(out) > 1 else out,
            )
        )
    return ModelInspection(
        layers=layers,
        total_params=total,
        trainable_params=None,
        total_macs=int(round(graph.macs[0])) // batch,
        input_shape=tuple(shape),
        notes=["ONNX MACs (from onnx-tool) include element-wise ops such as ReLU and Add, about 1% more than PyTorch's count"],
    )


def _fallback(proto, input_name: str, feed: np.ndarray, shape, batch: int, why: str) -> ModelInspection:
    import onnx
    from onnx import shape_inference

    fixed = onnx.ModelProto()
    fixed.CopyFrom(proto)
    for inp in fixed.graph.input:
        if inp.name == input_name:
            for d, v in zip(inp.type.tensor_type.shape.dim, feed.shape):
                d.Clear()
                d.dim_value = v
    try:
        inferred = shape_inference.infer_shapes(fixed)
    except Exception:
        inferred = fixed
    shapes: dict[str, Optional[tuple[int, ...]]] = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.output]:
        dims = tensor_dims(vi)
        shapes[vi.name] = tuple(dims[1:]) if dims and all(isinstance(d, int) for d in dims) else None
    params, total = weight_params(proto)
    layers = []
    for i, node in enumerate(proto.graph.node):
        own = params.get(node.output[0], 0) if node.output else 0
        if node.op_type in HIDDEN_OPS and not own:
            continue
        out = shapes.get(node.output[0]) if node.output else None
        layers.append(LayerInfo(node.name or f"{node.op_type}_{i}", node.op_type, own, None, out))
    return ModelInspection(
        layers=layers,
        total_params=total,
        trainable_params=None,
        total_macs=None,
        input_shape=tuple(shape),
        notes=[f"MACs are not available: {why}"],
    )
