"""How ``prune.structured`` ranks channels: one Torch-Pruning ``Importance`` per name, and the gradients some need.

Magnitude (l1, l2: the norm over every layer of a coupled group, DepGraph's
group-L2 with p=2), BatchNorm scale, FPGM (filters near the geometric median
of their layer are redundant, He et al. 2019), LAMP (magnitude rescaled
layer-adaptively, Lee et al. 2021; meant for global scope), Taylor
(|weight × gradient|) and Hessian (Optimal Brain Damage: weight² × squared
per-sample gradient, the diagonal Fisher estimate of the Hessian). The last
two need gradients on a few training batches; those passes run on the step's
training device.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
import torch_pruning as tp
from torch import nn

from core.techniques.base import StepContext, TechniqueError

IMPORTANCES = ("l1", "l2", "bn_scale", "taylor", "fpgm", "lamp", "hessian", "random")
GRADIENT_BASED = ("taylor", "hessian")
BATCH_SIZE = 32  # training images per gradient batch


class HessianImportance(tp.importance.HessianImportance):
    """Torch-Pruning's OBD importance with the squared per-sample gradients summed over every sample.

    Torch-Pruning 1.6 keys its running sums by parameter but tests for the
    parameter's name, so each sample overwrites the sum and only the last one
    counts. The sums are kept on the CPU, where pruning happens, whatever
    device computed them.
    """

    def accumulate_grad(self, model: nn.Module) -> None:
        for param in model.parameters():
            if param.grad is None:
                continue
            square = param.grad.detach().pow(2).to("cpu")
            if param in self._accu_grad:
                self._accu_grad[param] += square
                self._counter[param] += 1
            else:
                self._accu_grad[param] = square
                self._counter[param] = 1


def make_importance(name: str) -> Any:
    """The Torch-Pruning importance called ``name``."""
    imp = tp.importance
    makers = {
        "l1": lambda: imp.MagnitudeImportance(p=1),
        "l2": lambda: imp.MagnitudeImportance(p=2),
        "bn_scale": imp.BNScaleImportance,
        "taylor": imp.TaylorImportance,
        "fpgm": imp.FPGMImportance,
        "lamp": imp.LAMPImportance,
        "hessian": HessianImportance,
        "random": imp.RandomImportance,
    }
    if name not in makers:
        raise TechniqueError(f"unknown importance {name!r}", f"use one of: {', '.join(IMPORTANCES)}")
    return makers[name]()


def gradient_pass(name: str, importance: Any, module: nn.Module, ctx: StepContext, batches: int, fraction: float) -> None:
    """Gradients for ``taylor`` (summed batch gradients) or ``hessian`` (squared per-sample ones) on ``batches`` batches.

    Eval mode, so BatchNorm statistics stay put; the module comes back on the
    CPU with its gradients there.
    """
    module.zero_grad(set_to_none=True)
    module.eval()
    device = torch.device(ctx.device)
    if name == "hessian":
        importance.zero_grad()
    loader = ctx.data.loader("train", batch_size=BATCH_SIZE, shuffle=True, seed=ctx.seed)
    done = 0
    module.to(device)
    try:
        for x, y in loader:
            ctx.check()
            x, y = x.to(device), torch.as_tensor(y, dtype=torch.long).to(device)
            if name == "hessian":
                losses = F.cross_entropy(module(x), y, reduction="none")
                for i, loss in enumerate(losses):
                    module.zero_grad(set_to_none=True)
                    loss.backward(retain_graph=i < len(losses) - 1)
                    importance.accumulate_grad(module)
            else:
                F.cross_entropy(module(x), y).backward()
            done += 1
            ctx.progress(fraction, f"{name} gradients: batch {done}/{batches}")
            if done >= batches:
                break
    finally:
        module.to("cpu")
    if done == 0:
        raise TechniqueError(f"{name} importance needs training images, and the training split is empty",
                             'use importance "l1", or give a dataset with training images')
