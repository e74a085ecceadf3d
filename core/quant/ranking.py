"""Which layers int8 hurts most: the signal-to-quantization-noise ratio each weight layer loses, in one pass.

fp32 and QDQ int8 activations are compared on a few images with ONNX
Runtime's ``qdq_loss_debug``; a layer's ``lost_db`` is the SQNR of its input
minus that of its output, so it is charged with its own weights and output
only. The sensitivity report's ``error`` method shows these rows and
``quantize.static``'s ``max_drop`` fallback searches this order first (a
layer's own loss misses error that grows through the layers after it, so
:mod:`core.quant.fallback` also tries the network's first layers).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np

from core.techniques import onnx_quant_common as oq

RANK_IMAGES = 64  # validation images the activations are compared on
RANK_BATCH = 16  # activations of every tensor are held for one batch at a time


def sqnr_rows(pre: Path, qdq: Path, proto: Any, ops: Sequence[oq.WeightOp], batches: Iterable[dict[str, np.ndarray]],
              workdir: Path, check: Callable[[], None] = lambda: None) -> list[dict]:
    """One row per weight op: SQNR into and out of it, and ``lost_db`` (what the layer itself costs).

    ``qdq`` must keep ONNX Runtime's own tensor names (the file before
    ``save_slim`` shortens them): the activations are matched by those names.
    """
    from onnxruntime.quantization import qdq_loss_debug as dbg

    with oq.quiet_ort():
        dbg.modify_model_output_intermediate_tensors(str(pre), str(workdir / "fp32_debug.onnx"))
        dbg.modify_model_output_intermediate_tensors(str(qdq), str(workdir / "int8_debug.onnx"))
    energy: dict[str, list[float]] = {}
    for batch in batches:
        check()
        with oq.quiet_ort():
            float_acts = dbg.collect_activations(str(workdir / "fp32_debug.onnx"), [batch])
            int8_acts = dbg.collect_activations(str(workdir / "int8_debug.onnx"), [batch])
        matched = {k: v for k, v in dbg.create_activation_matching(int8_acts, float_acts).items() if "float" in v}
        for tensor, errs in dbg.compute_activation_error(matched, err_func=_energies).items():
            total = energy.setdefault(tensor, [0.0, 0.0])
            total[0] += errs["xmodel_err"][0]
            total[1] += errs["xmodel_err"][1]
    sqnr = {t: _db(signal, noise) for t, (signal, noise) in energy.items()}
    for name in ("fp32_debug.onnx", "int8_debug.onnx"):
        (workdir / name).unlink(missing_ok=True)
    return [_error_row(op, proto, sqnr) for op in ops]


def image_batches(dataset, input_name: str, images: int = RANK_IMAGES, batch: int = RANK_BATCH) -> Iterable[dict[str, np.ndarray]]:
    """The first ``images`` images of ``dataset``, ``batch`` at a time, as ONNX Runtime feeds."""
    n = min(images, len(dataset))
    for start in range(0, n, batch):
        idx = range(start, min(start + batch, n))
        yield {input_name: np.stack([np.asarray(dataset[i][0], dtype=np.float32) for i in idx])}


def ranked(rows: Sequence[dict]) -> list[dict]:
    """Rows worst first (most SQNR lost); layers that could not be compared go last, in graph order."""
    return sorted(rows, key=lambda r: (r.get("lost_db") is None, -(r.get("lost_db") or 0.0)))


def _energies(x: Sequence[np.ndarray], y: Sequence[np.ndarray]) -> tuple[float, float]:
    """Signal and noise energy of ``y`` against ``x``: summed over batches, they give one SQNR."""
    a = np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in x])
    b = np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in y])
    return float(np.dot(a, a)), float(np.dot(a - b, a - b))


def _db(signal: float, noise: float) -> float:
    """Signal-to-quantization-noise ratio in dB (capped: identical tensors would be infinite)."""
    return round(10.0 * math.log10(max(signal, 1e-30) / max(noise, signal * 1e-12, 1e-30)), 2)


def _error_row(op: Any, proto: Any, sqnr: dict[str, float]) -> dict:
    """SQNR into and out of one weight layer; its int8 input is charged to the layer before."""
    nodes = {n.name: n for n in proto.graph.node}
    node = nodes[op.node]
    activation = node.input[1 - op.index] if op.op_type in ("Gemm", "MatMul") and len(node.input) > 1 else node.input[0]
    inp = _traced(proto, activation, sqnr, forward=False)
    out = _traced(proto, node.output[0], sqnr, forward=True)
    lost = None if inp is None or out is None else round(inp - out, 2)
    return {"layer": op.layer, "node": op.node, "op_type": op.op_type, "params": op.params,
            "input_sqnr_db": inp, "output_sqnr_db": out, "lost_db": lost}


def _traced(proto: Any, tensor: str, sqnr: dict[str, float], forward: bool, hops: int = 3) -> Optional[float]:
    """SQNR of ``tensor``, or of the nearest compared tensor along a single-link chain.

    The int8 graph fuses a Conv's ReLU and quantizes only the ReLU's output,
    so the Conv's own output has no int8 counterpart to compare.
    """
    for _ in range(hops + 1):
        if tensor in sqnr:
            return sqnr[tensor]
        if forward:
            nxt = [n for n in proto.graph.node if tensor in n.input]
            if len(nxt) != 1:
                return None
            tensor = nxt[0].output[0]
        else:
            prev = [n for n in proto.graph.node if tensor in n.output]
            if len(prev) != 1 or not prev[0].input:
                return None
            tensor = prev[0].input[0]
    return None
