"""What the low-rank techniques share: which modules they may edit, tracing, swapping layers, the per-layer pass.

``lowrank.svd`` and ``lowrank.tucker`` differ only in how one layer is
factored; :func:`replace_each` is the rest — trace the model, visit each
candidate layer with progress and cancel, check the result still runs, and
count params and MACs before and after.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn

from core.metrics.latency import torch_threads
from core.models.exported import ProgramModule
from core.models.macs import count_macs
from core.models.spec import first_line
from core.techniques.base import StepContext, TechniqueConfig, TechniqueError, coerce_value, params_of
from core.techniques.prune_unstructured import check_layer_names

Calls = dict[str, tuple[tuple[int, ...], tuple[int, ...]]]


@dataclass
class LayerPass:
    """The rows of a per-layer pass and the model's params and MACs before and after it."""

    rows: list[dict]
    params_before: int
    macs_before: int
    params_after: int
    macs_after: int

    @property
    def done(self) -> list[dict]:
        return [r for r in self.rows if r["skipped"] is None]

    @property
    def params_ratio(self) -> float:
        return self.params_before / max(self.params_after, 1)

    @property
    def macs_ratio(self) -> float:
        return self.macs_before / max(self.macs_after, 1)

    def counts(self) -> dict:
        """The figures every low-rank step reports in its ``extra``."""
        return {
            "params_before": self.params_before, "params_after": self.params_after, "params_ratio": round(self.params_ratio, 4),
            "macs_before": self.macs_before, "macs_after": self.macs_after, "macs_ratio": round(self.macs_ratio, 4),
            "skipped_layers": len(self.rows) - len(self.done),
        }


def replace_each(
    module: nn.Module, shape: tuple[int, ...], model_name: str, layers: dict[str, nn.Module], ctx: StepContext, verb: str,
    replace: Callable[[str, nn.Module, Calls, set[int]], dict],
) -> LayerPass:
    """Call ``replace(name, layer, calls, shared)`` for each layer (it swaps the layer in ``module`` and returns its row)."""
    ctx.progress(0.0, "tracing the model")
    calls = trace_layers(module, shape, model_name)
    shared = shared_parameters(module)
    params_before, macs_before = count_params(module), count_macs(module, shape)
    rows = []
    for i, (name, layer) in enumerate(layers.items()):
        ctx.check()
        ctx.progress(0.05 + 0.9 * i / len(layers), f"{verb} {name}")
        rows.append(replace(name, layer, calls, shared))
    ctx.progress(0.95, "checking the new model")
    trace_layers(module, shape, model_name)  # the changed model still runs
    return LayerPass(rows, params_before, macs_before, count_params(module), count_macs(module, shape))


def check_values(config: TechniqueConfig) -> None:
    """Configs built in code skip the recipe loader's checks; apply them here."""
    for info in params_of(type(config)):
        value = getattr(config, info.name)
        try:
            coerce_value(info, value)
        except ValueError as exc:
            raise TechniqueError(f"{config.technique_name}: {info.name} = {value!r} is not allowed ({exc})", f"set {info.name} within the allowed values") from exc


def lapack_threads() -> contextlib.AbstractContextManager:
    """One thread for LAPACK factorizations (eigh, SVD): they gain little from threads, and with more
    threads than free cores MKL's synchronisation makes them 10-100× slower (measured on a busy 2-core box)."""
    return torch_threads(1)


def step_threads(ctx: StepContext) -> contextlib.AbstractContextManager:
    """The step's thread count for PyTorch (and the SVDs): MKL at more threads than cores crawls on a busy machine."""
    return torch_threads(ctx.threads) if ctx.threads else contextlib.nullcontext()


def editable_module(model, step: str) -> nn.Module:
    """The PyTorch module whose layers can be swapped; ONNX models and compiled programs are refused."""
    if model.is_onnx:
        raise TechniqueError(f"{model.name} is an ONNX model; {step} needs the PyTorch model", f"run {step} before any ONNX step, on a PyTorch model")
    module = model.module
    if isinstance(module, (ProgramModule, torch.jit.ScriptModule)):
        raise TechniqueError(
            f"{model.name} is a compiled program (torch.export or TorchScript), whose layers cannot be replaced",
            f"load the model from its architecture and weights (a torchvision name or demo, plus --weights) to apply {step}",
        )
    return module


def check_ignore_names(names: tuple[str, ...], module: nn.Module, layers: dict[str, nn.Module], what: str) -> None:
    """Unknown names raise with close matches; a layer's name or any enclosing block's name is accepted."""
    known = dict(layers)
    known.update((n, m) for n, m in module.named_modules() if n and n not in known)
    check_layer_names(names, known, what)


def is_ignored(name: str, ignore: tuple[str, ...]) -> bool:
    return any(name == n or name.startswith(n + ".") for n in ignore)


def trace_layers(module: nn.Module, shape: tuple[int, ...], model_name: str) -> Calls:
    """Conv/Linear layers by name in the order they last ran on one input, with their (input, output) shapes.

    Also proves the model runs on ``shape``; failing that is a TechniqueError.
    """
    names = {id(m): n for n, m in module.named_modules()}
    calls: Calls = {}

    def hook(m: nn.Module, args: tuple, out) -> None:
        if args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
            name = names[id(m)]
            calls.pop(name, None)  # re-insert: a layer used twice counts where it last ran
            calls[name] = (tuple(args[0].shape), tuple(out.shape))

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))]
    was_training = module.training
    some = next(module.parameters(), None)
    x = torch.zeros(1, *shape, device=some.device if some is not None else None)
    try:
        module.eval()
        with torch.no_grad():
            module(x)
    except Exception as exc:  # any failure of the forward pass means the model does not fit this input
        raise TechniqueError(
            f"{model_name} does not run on a batch of shape (1, {', '.join(map(str, shape))}) ({type(exc).__name__}: {first_line(exc)})",
            "check that the dataset's input shape matches the model",
        ) from exc
    finally:
        module.train(was_training)
        for h in handles:
            h.remove()
    return calls


def classifier_name(calls: dict) -> Optional[str]:
    """The layer that ran last (the one producing the logits)."""
    return next(reversed(calls), None) if calls else None


def replace_module(root: nn.Module, old: nn.Module, new: nn.Module) -> int:
    """Put ``new`` wherever ``old`` is registered (a module can sit under several names); returns how many places."""
    places = [(parent, attr) for _, parent in root.named_modules(remove_duplicate=False)
              for attr, child in parent.named_children() if child is old]
    for parent, attr in dict.fromkeys(places):
        setattr(parent, attr, new)
    return len(places)


def finish(new: nn.Module, old: nn.Module) -> nn.Module:
    """``new`` in the train/eval mode of ``old``, frozen when ``old``'s weight was."""
    new.train(old.training)
    if not old.weight.requires_grad:
        new.requires_grad_(False)
    return new


def shared_parameters(module: nn.Module) -> set[int]:
    """ids of parameters owned by more than one module (tied weights must not be split apart)."""
    owners: dict[int, int] = {}
    for m in module.modules():
        for p in m.parameters(recurse=False):
            owners[id(p)] = owners.get(id(p), 0) + 1
    return {k for k, v in owners.items() if v > 1}


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
