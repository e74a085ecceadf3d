"""``prune.structured``: remove whole channels and filters, so the network is physically smaller.

Torch-Pruning's dependency graph (Fang et al., "DepGraph", CVPR 2023) finds the
layers whose channels must go together — a conv, its BatchNorm, the next
layer's inputs, every branch joined by a residual add — and removes them
consistently. Unlike zeroing weights (``prune.unstructured``), the tensors
shrink, so MACs, file size and latency fall on every runtime.

The layer(s) producing the logits are found by walking the graph back from the
output and are never pruned, so the class count is kept whatever the head's
type. Channel shuffles (ShuffleNet) break the graph's channel bookkeeping, so
they are refused up front; a forward pass after pruning is the last check that
no wrong model leaves this step.

Gradual pruning (DepGraph's schedule): ``iterative_steps`` rounds reach the
ratio, re-ranking the channels after each, and with ``finetune_epochs`` the
network trains between rounds so each ranking sees a recovered model. How
channels are ranked lives in ``core.techniques.prune_importance``.

The model is pruned in place: the recipe runner hands every step its own copy,
and a copy per call would double the memory of large models. A step that fails
or is cancelled may leave that module partly pruned; callers discard it.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import torch
import torch_pruning as tp
from torch import nn
from torch.overrides import TorchFunctionMode

from core.errors import EdgeSlimError
from core.fmt import si
from core.jobs import Cancelled
from core.models.exported import ProgramModule
from core.models.macs import count_macs
from core.models.spec import first_line
from core.techniques.base import (
    StepContext,
    StepOutcome,
    TechniqueConfig,
    TechniqueError,
    coerce_value,
    derived,
    param,
    params_of,
    technique,
)
from core.training import TrainConfig, train_classifier
from core.techniques.prune_importance import BATCH_SIZE, GRADIENT_BASED, IMPORTANCES, gradient_pass, make_importance

SCOPES = ("uniform", "global")
LAYERS = (nn.modules.conv._ConvNd, nn.Linear)  # the layers whose channels are counted and reported
TAYLOR_BATCH_SIZE = BATCH_SIZE
OTHER_TECHNIQUES = "compress this model with prune.unstructured, quantization or low-rank steps instead"
SHUFFLE_FIX = f"prune a model without channel shuffles (e.g. MobileNetV2/V3, ResNet, EfficientNet), or {OTHER_TECHNIQUES}"


@technique(
    "prune.structured",
    family="Pruning",
    label="Channel pruning (structured)",
    summary="Remove whole channels and filters: fewer MACs and a faster model on any runtime",
)
@dataclass(frozen=True)
class PruneStructured(TechniqueConfig):
    ratio: float = param(
        0.5, label="Channel ratio", min=0.0, max=0.95, step=0.05,
        help="Fraction of channels removed; a conv's MACs fall to about (1 − ratio)² of what they were",
    )
    importance: str = param(
        "l1", label="Importance", choices=IMPORTANCES,
        help="How channels are ranked: l1/l2 norm of their weights over the coupled group (l2 = DepGraph's group-L2), "
        "BatchNorm scale, taylor (|weight × gradient| on a few training batches), fpgm (distance to the layer's "
        "geometric median), lamp (layer-adaptive magnitude, for global scope), hessian (Optimal Brain Damage on a "
        "few training batches), or random (a baseline)",
    )
    taylor_batches: int = param(
        4, label="Gradient batches", min=1, max=200, step=1,
        help=f"Training batches of {TAYLOR_BATCH_SIZE} images whose gradients rank channels (taylor and hessian importance only)",
    )
    scope: str = param(
        "uniform", label="Scope", choices=SCOPES,
        help="uniform: every layer loses the same fraction; global: one ranking across layers, "
        "so robust layers lose more and sensitive ones less (capped by the per-layer maximum)",
    )
    iterative_steps: int = param(
        1, label="Iterative steps", min=1, max=50, step=1,
        help="Reach the ratio in this many rounds, re-ranking the channels after each",
    )
    finetune_epochs: int = param(
        0, label="Fine-tune between steps", min=0, max=50, step=1,
        help="Epochs of training between the iterative rounds (DepGraph's gradual schedule); 0 = none",
    )
    finetune_lr: float = param(
        0.01, label="Fine-tune learning rate", min=1e-6, max=1.0, step=0.001,
        help="Peak learning rate of the training between rounds (SGD, one-cycle)",
    )
    round_to: int = param(
        1, label="Round channels to", min=0, max=256, step=1,
        help="Keep channel counts multiples of this (8 or 16 suit SIMD and NPU kernels); 0 or 1 = off",
    )
    max_layer_ratio: float = param(
        0.9, label="Per-layer maximum", min=0.05, max=0.99, step=0.05,
        help="In global scope, no layer loses more than this fraction of its channels",
    )
    ignore_layers: tuple[str, ...] = param(
        (), label="Leave alone",
        help="Module names whose output channels are kept, e.g. conv1 or layer1 (the classifier is always kept)",
    )

    def apply(self, model, ctx: StepContext) -> StepOutcome:
        self._check_values()
        module = _prunable_module(model)
        shape = tuple(ctx.input_shape)
        num_classes = model.num_classes or ctx.data.num_classes
        ignored = _named_modules(module, self.ignore_layers)
        if self.importance == "bn_scale" and not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules()):
            raise TechniqueError(f"{model.name} has no BatchNorm layers, so bn_scale has nothing to rank channels by", 'use importance "l1"')

        ctx.progress(0.0, "checking the architecture")
        refuse_channel_shuffles(module, shape)
        names = {m: n for n, m in module.named_modules()}
        macs_before, params_before = count_macs(module, shape), _param_count(module)
        before = _layer_stats(module, shape)
        was_training = module.training

        ctx.progress(0.05, "building the dependency graph")
        example = torch.randn(1, *shape, generator=torch.Generator().manual_seed(ctx.seed))
        try:
            with _trainable(module), _quiet(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(ctx.seed)  # random importance and any tie-breaking are reproducible
                classifier = _classifier_layers(module, example, model.name)
                self._prune(module, example, ignored + classifier, ctx, model.name)
        finally:
            module.zero_grad(set_to_none=True)
            module.train(was_training)

        ctx.progress(0.92, "checking the pruned model")
        check_runs(module, shape, num_classes, model.name)
        macs_after, params_after = count_macs(module, shape), _param_count(module)
        after = _layer_stats(module, shape)
        if self.ratio > 0 and params_after == params_before:
            raise TechniqueError(
                f"no channel of {model.name} could be removed",
                "remove names from ignore_layers, lower round_to, or raise the ratio",
            )
        rows = _rows(before, after, {names[m] for m in classifier}, set(self.ignore_layers))
        macs_x = macs_before / max(macs_after, 1)
        params_x = params_before / max(params_after, 1)
        removed = _removed_fraction(rows)
        how = f"{self.importance}, {self.scope}" + (f", {self.iterative_steps} steps" if self.iterative_steps > 1 else "")
        if self.iterative_steps > 1 and self.finetune_epochs > 0:
            how += f" with {self.finetune_epochs} epoch(s) of fine-tuning between them"
        if abs(removed - self.ratio) >= 0.02:  # rounding, caps and ignored layers move the real figure
            how = f"asked {self.ratio:.0%}; {how}"
        summary = (
            f"removed {removed:.0%} of channels ({how}): {si(macs_before)} → {si(macs_after)} MACs ({macs_x:.2f}× fewer), "
            f"{si(params_before)} → {si(params_after)} params"
        )
        notes = ["pruned networks lose accuracy: follow this step with finetune (a few epochs usually win most of it back)"]
        if self.importance == "bn_scale":
            notes.append("bn_scale leaves channels without a BatchNorm (e.g. Linear layers) unpruned")
        ctx.progress(1.0, summary)
        return StepOutcome(
            model=derived(model, module, suffix=f"pruned{round(self.ratio * 100)}"),
            summary=summary,
            layers=rows,
            notes=notes,
            extra={
                "macs_before": macs_before, "macs_after": macs_after, "macs_ratio": round(macs_x, 4),
                "params_before": params_before, "params_after": params_after, "params_ratio": round(params_x, 4),
                "channels_removed": round(removed, 4),
                "pruned_layers": sum(1 for r in rows if r["out_channels"] != r["out_channels_before"]),
                "classifier": sorted(names[m] for m in classifier),
            },
        )

    def _prune(self, module: nn.Module, example: torch.Tensor, keep: list[nn.Module], ctx: StepContext, model_name: str) -> None:
        """Run the pruner's steps; its own failures become TechniqueErrors (cancel and ours pass through)."""
        try:
            importance = make_importance(self.importance)
            pruner = _Pruner(
                module, example, importance,
                global_pruning=self.scope == "global",
                pruning_ratio=self.ratio,
                iterative_steps=self.iterative_steps,
                ignored_layers=keep,
                multiple=self.round_to,
                layer_cap=self.max_layer_ratio if self.scope == "global" else 1.0,
            )
            for step in range(self.iterative_steps):
                ctx.check()
                lo = 0.1 + 0.8 * step / self.iterative_steps
                if self.importance in GRADIENT_BASED:
                    gradient_pass(self.importance, importance, module, ctx, self.taylor_batches, lo)
                ctx.progress(lo, f"pruning step {step + 1}/{self.iterative_steps}")
                pruner.step()
                if self.finetune_epochs > 0 and step < self.iterative_steps - 1:
                    self._finetune_between(module, ctx, lo, 0.8 / self.iterative_steps)
        except (EdgeSlimError, Cancelled):
            raise
        except Exception as exc:  # Torch-Pruning raises plain errors on graphs it misreads
            raise TechniqueError(
                f"Torch-Pruning failed on {model_name} ({type(exc).__name__}: {first_line(exc)})",
                f"leave the layers around the failure alone with ignore_layers, or {OTHER_TECHNIQUES}",
            ) from exc

    def _finetune_between(self, module: nn.Module, ctx: StepContext, start: float, span: float) -> None:
        """A short recovery between pruning rounds, on the training device; the module comes back on the CPU."""
        module.zero_grad(set_to_none=True)
        config = TrainConfig(epochs=self.finetune_epochs, batch_size=32, lr=self.finetune_lr, augment=False,
                             seed=ctx.seed, threads=ctx.threads, device=ctx.device)
        train_classifier(module, ctx.data, config, cancel=ctx.cancel,
                         progress=lambda f, msg: ctx.progress(start + span * f, f"fine-tuning between rounds: {msg}"))

    def _check_values(self) -> None:
        """Configs built in code skip the recipe loader's checks; apply them here."""
        for info in params_of(type(self)):
            try:
                coerce_value(info, getattr(self, info.name))
            except ValueError as exc:
                raise TechniqueError(f"prune.structured: {info.name} = {getattr(self, info.name)!r} is not allowed ({exc})", f"set {info.name} within the allowed values") from exc


# --------------------------------------------------------------------------- the pruner


class _Pruner(tp.pruner.BasePruner):
    """Torch-Pruning's BasePruner plus two guarantees it leaves to the caller.

    Its ``max_pruning_ratio`` only stops a layer from being pruned again in a
    later step, so one global step can still strip a layer bare; and its
    ``round_to`` rounds the kept count down, to zero for small layers (which
    then silently stay unpruned). Here every group the ranking picked is
    trimmed to keep at least ``1 − layer_cap`` of the layer's original
    channels, and rounded to the nearest multiple of ``multiple`` that is not
    zero, re-using the group's own importance to choose which channels go.
    """

    def __init__(self, model: nn.Module, example: torch.Tensor, importance: Any, *, multiple: int, layer_cap: float, **kwargs: Any) -> None:
        super().__init__(model, example, importance, round_to=None, max_pruning_ratio=layer_cap, **kwargs)
        self.multiple = max(int(multiple), 1)
        self.layer_cap = layer_cap

    def _prune(self) -> Iterator[Any]:
        for group in super()._prune():
            group = self._adjust(group)
            if group is not None:
                yield group

    def _adjust(self, group: Any) -> Optional[Any]:
        dep, idxs = group[0]
        module, fn = dep.target.module, dep.handler
        if self._get_channel_groups(group) > 1 or not self.DG.is_out_channel_pruning_fn(fn):
            return group  # grouped channels (group convs, heads) keep Torch-Pruning's own handling
        current = self.DG.get_out_channels(module)
        init = self.layer_init_out_ch.get(module, current)
        floor = max(math.ceil(init * (1.0 - self.layer_cap) - 1e-9), 1)
        keep = keep_count(current - len(idxs), current, floor, self.multiple)
        if keep == current - len(idxs):
            return group
        if keep >= current:
            return None
        full = self.DG.get_pruning_group(module, fn, list(range(current)))
        order = torch.argsort(self.estimate_importance(full))
        return self.DG.get_pruning_group(module, fn, order[: current - keep].tolist())


def keep_count(keep: int, current: int, floor: int, multiple: int) -> int:
    """How many of ``current`` channels to keep: at least ``floor``, then the nearest non-zero multiple."""
    keep = min(max(keep, floor), current)
    if multiple <= 1:
        return keep
    if current < multiple:
        return current  # too narrow to hold one multiple: leave it whole
    top = current - current % multiple
    rounded = min(max(int(math.floor(keep / multiple + 0.5)) * multiple, multiple), top)
    if rounded < floor and rounded + multiple <= top:
        rounded += multiple
    return rounded


# --------------------------------------------------------------------------- checks before and after


def _prunable_module(model) -> nn.Module:
    if model.is_onnx:
        raise TechniqueError(f"{model.name} is an ONNX model; channel pruning needs the PyTorch model", "run prune.structured before any ONNX step, on a PyTorch model")
    module = model.module
    if isinstance(module, (ProgramModule, torch.fx.GraphModule)) or isinstance(module, torch.jit.ScriptModule):
        raise TechniqueError(
            f"{model.name} is a compiled program (torch.export or TorchScript), whose layers cannot be resized",
            "load the model from its architecture and weights (a torchvision name or demo, plus --weights) to prune it",
        )
    return module


def _named_modules(module: nn.Module, wanted: tuple[str, ...]) -> list[nn.Module]:
    """The modules called ``wanted``; an unknown name raises with the closest real ones."""
    known = dict(module.named_modules())
    known.pop("", None)
    out = []
    for name in wanted:
        if name not in known:
            layers = [n for n, m in known.items() if isinstance(m, LAYERS)]
            close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise TechniqueError(f"ignore_layers: the model has no module named {name!r}", f"{hint}names look like: {', '.join(layers[:6])}")
        out.append(known[name])
    return out


def _classifier_layers(module: nn.Module, example: torch.Tensor, model_name: str) -> list[nn.Module]:
    """The Conv/Linear layers that produce the logits, found by walking the dependency graph back from its outputs.

    A Linear (ResNet's fc, MobileNetV3's classifier[3]) or a 1×1 Conv followed
    by pooling (SqueezeNet) alike: whatever layer sets the output width.
    """
    try:
        graph = tp.DependencyGraph().build_dependency(module, example_inputs=example, verbose=False)
    except Exception as exc:  # the tracer raises many types on graphs it cannot follow
        raise TechniqueError(
            f"Torch-Pruning could not follow the layer dependencies of {model_name} ({type(exc).__name__}: {first_line(exc)})",
            OTHER_TECHNIQUES,
        ) from exc
    outputs = [node for node in graph.module2node.values() if not node.outputs]
    found: list[nn.Module] = []
    seen: set[int] = set()
    stack = list(outputs)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node.module, LAYERS):
            found.append(node.module)
            continue
        stack.extend(node.inputs)
    if not found:
        raise TechniqueError(f"no Conv or Linear layer produces the outputs of {model_name}", "structured pruning needs a classifier that ends in a Conv or Linear layer")
    return found


class _ShuffleScan(TorchFunctionMode):
    """Spots ops that move channels across positions, which the dependency graph cannot follow.

    A view that splits the channel axis (N, C, H, W) → (N, g, C/g, H, W) and a
    transpose/permute of the result is ShuffleNet's channel shuffle; explicit
    channel/pixel shuffles are the same problem.
    """

    def __init__(self, where: Callable[[], str]) -> None:
        super().__init__()
        self.where = where
        self.split: dict[int, torch.Tensor] = {}
        self.found: Optional[tuple[str, str]] = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "")
        x = args[0] if args else None
        if self.found is not None or not isinstance(x, torch.Tensor) or not isinstance(out, torch.Tensor):
            return out
        if "channel_shuffle" in name or "pixel_shuffle" in name or "pixel_unshuffle" in name:
            self.found = (name, self.where())
        elif name in ("view", "reshape") and x.dim() == 4 and out.dim() == 5 and out.shape[0] == x.shape[0] and out.shape[1] * out.shape[2] == x.shape[1]:
            self.split[id(out)] = out  # kept alive so the id stays unique
        elif name in ("transpose", "permute", "swapaxes", "swapdims", "movedim") and self.split.get(id(x)) is x:
            self.found = (f"channel shuffle ({name} of a view that splits the channels)", self.where())
        return out


@contextlib.contextmanager
def _module_stack(module: nn.Module) -> Iterator[list[str]]:
    """The names of the modules whose forward is running, innermost last (to say where something happened)."""
    stack: list[str] = []

    def leave(_m: nn.Module, _inp: Any, _out: Any) -> None:  # returns None: a hook's return value replaces the output
        if stack:
            stack.pop()

    handles = []
    for name, m in module.named_modules():
        if name:
            handles.append(m.register_forward_pre_hook(lambda _m, _i, n=name: stack.append(n) and None))
            handles.append(m.register_forward_hook(leave))
    try:
        yield stack
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def refuse_channel_shuffles(module: nn.Module, shape: tuple[int, ...]) -> None:
    """Raise a TechniqueError naming the op and module if ``module`` shuffles channels."""
    was_training = module.training
    module.eval()
    try:
        with _module_stack(module) as stack:
            scan = _ShuffleScan(lambda: stack[-1] if stack else "the model's forward")
            with scan:
                module(torch.zeros(1, *shape))
    except Exception as exc:
        raise TechniqueError(
            f"the model does not run on input shape {tuple(shape)} ({type(exc).__name__}: {first_line(exc)})",
            "check that the dataset's input shape matches the model",
        ) from exc
    finally:
        module.train(was_training)
    if scan.found is not None:
        op, where = scan.found
        raise TechniqueError(
            f"structured pruning cannot follow the {op} in {where}: channels would be removed from the wrong positions",
            SHUFFLE_FIX,
        )


@torch.no_grad()
def check_runs(module: nn.Module, shape: tuple[int, ...], num_classes: Optional[int], model_name: str) -> None:
    """A forward pass on a batch of 2; a failure or a changed output width is a TechniqueError naming the layer."""
    was_training = module.training
    module.eval()
    try:
        with _module_stack(module) as stack:
            try:
                out = module(torch.zeros(2, *shape))
            except Exception as exc:
                where = stack[-1] if stack else "the model's forward"
                raise TechniqueError(
                    f"the pruned {model_name} fails in {where} ({type(exc).__name__}: {first_line(exc)}); "
                    "Torch-Pruning mis-read an operation there",
                    f"add {where} (or the block around it) to ignore_layers, or prune with prune.unstructured",
                ) from exc
    finally:
        module.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 2 or (num_classes and out.shape[1] != num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise TechniqueError(
            f"the pruned {model_name} outputs {got} instead of (N, {num_classes})",
            "add the classifier's name to ignore_layers",
        )


# --------------------------------------------------------------------------- bookkeeping


@contextlib.contextmanager
def _trainable(module: nn.Module) -> Iterator[None]:
    """Gradients on for every parameter: the dependency graph is traced through autograd."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    try:
        with torch.enable_grad():
            for p, _ in flags:
                p.requires_grad_(True)
            yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Torch-Pruning's warnings ("unwrapped parameter", ...) are for its own users, not ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"torch_pruning(\.|$)")
        yield


def _param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def _layer_stats(module: nn.Module, shape: tuple[int, ...]) -> dict[str, dict]:
    """Per Conv/Linear layer: type, in/out channels, parameters and MACs of one image (from the output's size)."""
    stats: dict[str, dict] = {}
    handles = []

    def record(name: str) -> Callable:
        def hook(m: nn.Module, _inp: Any, out: Any) -> None:
            per_out = m.in_channels // m.groups * math.prod(m.kernel_size) if isinstance(m, nn.modules.conv._ConvNd) else m.in_features
            if isinstance(out, torch.Tensor):
                stats[name]["macs"] += out.numel() * per_out

        return hook

    for name, m in module.named_modules():
        if isinstance(m, LAYERS):
            conv = isinstance(m, nn.modules.conv._ConvNd)
            stats[name] = {
                "type": type(m).__name__,
                "out": m.out_channels if conv else m.out_features,
                "in": m.in_channels if conv else m.in_features,
                "params": sum(p.numel() for p in m.parameters(recurse=False)),
                "macs": 0,
            }
            handles.append(m.register_forward_hook(record(name)))
    was_training = module.training
    module.eval()
    try:
        module(torch.zeros(1, *shape))
    finally:
        module.train(was_training)
        for h in handles:
            h.remove()
    return stats


def _removed_fraction(rows: list[dict]) -> float:
    """Share of output channels removed over the layers that could be pruned (the classifier excluded)."""
    rows = [r for r in rows if r["role"] != "classifier (kept)"]
    before = sum(r["out_channels_before"] for r in rows)
    return 1.0 - sum(r["out_channels"] for r in rows) / before if before else 0.0


def _rows(before: dict, after: dict, classifier: set[str], ignored: set[str]) -> list[dict]:
    rows = []
    for name, b in before.items():
        a = after.get(name, b)
        role = "classifier (kept)" if name in classifier else "ignored" if any(name == i or name.startswith(i + ".") for i in ignored) else ""
        rows.append({
            "layer": name, "type": b["type"], "role": role,
            "out_channels_before": b["out"], "out_channels": a["out"],
            "in_channels_before": b["in"], "in_channels": a["in"],
            "params_before": b["params"], "params": a["params"],
            "macs_before": b["macs"], "macs": a["macs"],
        })
    return rows
