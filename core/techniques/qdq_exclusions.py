"""Layers kept in fp32 inside a QDQ int8 graph: fed the fp32 tensor, with the activation ONNX Runtime folded away.

``quantize.static`` keeps a layer in fp32 by passing it to ONNX Runtime's
``nodes_to_exclude``; this module then rewires the excluded layers so they
really compute in fp32 on every runtime (see :func:`bypass_activation_qdq`).
"""

from __future__ import annotations

from typing import Sequence

_QDQ = ("QuantizeLinear", "DequantizeLinear")
REMOVABLE = ("Relu", "Clip")  # activations ONNX Runtime's QDQ quantizer folds into the QuantizeLinear before them


def bypass_activation_qdq(graph, node_names: Sequence[str], source=None) -> int:
    """Feed excluded nodes the fp32 tensor instead of a QuantizeLinear → DequantizeLinear copy of it.

    ONNX Runtime's quantizer leaves a Q/DQ pair on an excluded node's input when
    the producer's output is quantized for its other readers, and ONNX Runtime's
    own ``WeightBiasQuantization`` pass (any optimization level above none)
    then sees "DequantizeLinear → Conv with fp32 weights" and quantizes that
    conv to per-tensor int8 at load: the exclusion would be undone on every
    device. Reading the tensor before its QuantizeLinear keeps the layer fp32
    in the file, for every runtime.

    That tensor is not always the one the layer read in fp32: ONNX Runtime
    *removes* a Relu or Clip (ReLU6) that follows a quantized op and lets the
    QuantizeLinear's range do the clipping, so the tensor before the Q is the
    unclipped pre-activation. Fed that, an excluded layer behind a ReLU6 sees
    negative and huge values and the model collapses (a real EfficientNet-Lite
    fell from 87 % to 1 % agreement with three layers excluded). ``source`` is
    the graph that was quantized: the removed activations are found there and
    put back, in fp32, on the excluded layer's path only. Returns how many
    inputs were rewired; Q/DQ nodes left without readers are removed.
    """
    inits = {i.name for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    wanted = set(node_names)
    restored: dict[str, str] = {}  # tensor before the Q -> the fp32 tensor with its activation(s) re-applied
    new_nodes: list = []
    rewired = 0
    for node in graph.node:
        if node.name not in wanted:
            continue
        for i, name in enumerate(node.input):
            dq = producer.get(name)
            if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] in inits:
                continue  # not an activation Q/DQ (a weight's DQ reads an initializer)
            q = producer.get(dq.input[0])
            if q is None or q.op_type != "QuantizeLinear":
                continue
            raw = q.input[0]
            if raw not in restored:
                restored[raw] = _restore_removed_activations(graph, source, raw, new_nodes)
            node.input[i] = restored[raw]
            rewired += 1
    if new_nodes:
        graph.node.extend(new_nodes)  # appended: the caller sorts the graph before saving
    _drop_unread(graph)
    return rewired


def removed_activations(graph, source, tensor: str) -> list:
    """The Relu/Clip nodes of ``source`` that ONNX Runtime removed from ``graph`` ending at ``tensor``, first one first.

    ONNX Runtime removes an activation by renaming its input's producer to
    write the activation's output, so ``tensor`` keeps the activation's name
    but now holds the values before it.
    """
    if source is None:
        return []
    before = {out: node for node in source.node for out in node.output}
    present = {node.name for node in graph.node if node.name}
    chain = []
    while True:
        node = before.get(tensor)
        if node is None or node.op_type not in REMOVABLE or not node.name or node.name in present:
            break
        chain.append(node)
        tensor = node.input[0]
    return chain[::-1]


def _restore_removed_activations(graph, source, tensor: str, new_nodes: list) -> str:
    """Re-apply the activations ONNX Runtime folded into ``tensor``'s QuantizeLinear; the name of the fp32 result."""
    chain = removed_activations(graph, source, tensor)
    if not chain:
        return tensor
    available = _available(graph) | {out for n in new_nodes for out in n.output}
    current = tensor
    for i, original in enumerate(chain):
        copy = type(original)()
        copy.CopyFrom(original)
        copy.name = _fresh(f"{original.name}_fp32", {n.name for n in graph.node} | {n.name for n in new_nodes})
        copy.input[0] = current
        out = _fresh(f"{tensor}_fp32" if i == len(chain) - 1 else f"{original.output[0]}_fp32", available)
        del copy.output[:]
        copy.output.append(out)
        for extra in copy.input[1:]:  # Clip's min/max: copied over if the quantizer dropped them with the node
            if extra and extra not in available:
                _copy_constant(source, graph, extra, new_nodes)
                available.add(extra)
        new_nodes.append(copy)
        available.add(out)
        current = out
    return current


def _available(graph) -> set[str]:
    return ({i.name for i in graph.initializer} | {v.name for v in graph.input}
            | {out for node in graph.node for out in node.output})


def _copy_constant(source, graph, name: str, new_nodes: list) -> None:
    """Copy the initializer or Constant node called ``name`` from ``source`` into ``graph``."""
    init = next((i for i in source.initializer if i.name == name), None)
    if init is not None:
        graph.initializer.append(init)
        return
    node = next((n for n in source.node if name in n.output), None)
    if node is None or node.op_type != "Constant":
        raise ValueError(f"cannot restore {name!r}: it is neither an initializer nor a Constant in the quantized graph")
    copy = type(node)()
    copy.CopyFrom(node)
    new_nodes.append(copy)


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _drop_unread(graph) -> None:
    """Remove Q/DQ nodes whose outputs nobody reads (repeated until none are left)."""
    outputs = {v.name for v in graph.output}
    while True:
        read = {name for node in graph.node for name in node.input} | outputs
        dead = [n for n in graph.node if n.op_type in _QDQ and not any(o in read for o in n.output)]
        if not dead:
            return
        keep = [n for n in graph.node if n not in dead]
        del graph.node[:]
        graph.node.extend(keep)
        used = {name for node in graph.node for name in node.input}
        inits = [i for i in graph.initializer if i.name in used]
        del graph.initializer[:]
        graph.initializer.extend(inits)

