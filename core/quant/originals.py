"""The fp32 values a rewrite replaced, per layer, so a layer that ends up kept in fp32 gets its own values back.

Bias correction shifts a bias to cancel the mean error of *rounded* weights:
right for an int8 layer, wrong for an fp32 one. When ``max_drop`` keeps a layer
in fp32, its original bias comes back from here (weight tuning runs after the
fallback and trains only the int8 layers, so it never needs this).
"""

from __future__ import annotations

from typing import Collection, Optional

import numpy as np

Originals = dict[str, list[tuple[str, Optional[np.ndarray]]]]  # node -> [(initializer, value before; None: added)]


def record(originals: Originals, node: str, name: str, value: Optional[np.ndarray]) -> None:
    """Remember ``name``'s value before a rewrite; the first rewrite's value wins (it is the untouched one)."""
    pairs = originals.setdefault(node, [])
    if all(existing != name for existing, _ in pairs):
        pairs.append((name, None if value is None else np.array(value, dtype=np.float32, copy=True)))


def restore(proto, originals: Originals, nodes: Collection[str]):
    """A copy of ``proto`` with the original values of ``nodes``' initializers back (an added bias becomes zeros)."""
    from onnx import numpy_helper

    from core.techniques.onnx_quant_common import copy_proto

    out = copy_proto(proto)
    inits = {i.name: i for i in out.graph.initializer}
    for node in nodes:
        for name, original in originals.get(node, []):
            value = original if original is not None else np.zeros(numpy_helper.to_array(inits[name]).shape, np.float32)
            inits[name].CopyFrom(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
    return out
