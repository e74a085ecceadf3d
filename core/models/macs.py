"""Multiply-accumulate counts from PyTorch's own FLOP counter.

``torch.utils.flop_counter`` counts the FLOPs of matmul/conv/attention ops as
dispatched, so any architecture is covered without per-layer formulas; a MAC is
two FLOPs.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@torch.no_grad()
def count_macs(module: nn.Module, input_shape: tuple[int, ...], batch: int = 1) -> int:
    """MACs of one forward pass of ``batch`` inputs of shape ``input_shape`` (C, H, W)."""
    was_training = module.training
    module.eval()
    # The fused attention fast path hides its matmuls from the counter.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        x = torch.zeros(batch, *input_shape)
        with FlopCounterMode(display=False) as counter:
            module(x)
        return int(counter.get_total_flops()) // 2
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        module.train(was_training)
