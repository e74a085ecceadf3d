"""Per-channel statistics of fp32 activations on calibration images, for the graph rewrites before int8.

Bias correction needs the mean of each layer's input per channel. The means
come from one ONNX Runtime pass with the tensors made graph outputs, a few
batches at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

STATS_IMAGES = 64  # enough for stable per-channel means; activations are held one batch at a time
STATS_BATCH = 8


@dataclass
class ChannelStats:
    """Per-channel mean over images and positions, by tensor name (axis 1 is the channel)."""

    mean: dict[str, np.ndarray] = field(default_factory=dict)


def channel_stats(proto, tensors: Sequence[str], dataset, check: Callable[[], None] = lambda: None,
                  images: int = STATS_IMAGES, batch: int = STATS_BATCH) -> ChannelStats:
    """Run the fp32 graph ``proto`` on the first ``images`` of ``dataset`` and summarise ``tensors`` per channel."""
    import onnx
    import onnxruntime as ort

    from core.techniques.onnx_quant_common import first_input

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    have = {o.name for o in model.graph.output}
    wanted = list(dict.fromkeys(tensors))
    model.graph.output.extend(onnx.ValueInfoProto(name=t) for t in wanted if t not in have)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # every tensor as named in the graph
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    name = first_input(proto).name
    fixed = session.get_inputs()[0].shape[0]
    step = fixed if isinstance(fixed, int) and fixed > 0 else batch
    n = min(images, len(dataset))
    n -= n % step
    sums: dict[str, np.ndarray] = {}
    count: dict[str, int] = {}
    for start in range(0, n, step):
        check()
        x = np.stack([np.asarray(dataset[i][0], dtype=np.float32) for i in range(start, start + step)])
        for tensor, value in zip(wanted, session.run(wanted, {name: x})):
            v = np.asarray(value, dtype=np.float64)
            flat = np.moveaxis(v, 1, 0).reshape(v.shape[1], -1) if v.ndim >= 2 else v.reshape(1, -1)
            sums[tensor] = sums.get(tensor, 0) + flat.sum(1)
            count[tensor] = count.get(tensor, 0) + flat.shape[1]
    return ChannelStats({t: sums[t] / count[t] for t in sums})
