"""``quantize.qat``: quantization-aware training (PT2E), exported as an int8 QDQ ONNX model.

The model is captured with ``torch.export`` and prepared with torchao's PT2E
flow: fake-quantizers simulate int8 weights (per output channel) and uint8
activations during a short fine-tune, so the weights learn to live with the
rounding that post-training quantization can only measure. The result is
converted (weights stored as int8) and exported as QuantizeLinear /
DequantizeLinear pairs around each layer, which ONNX Runtime fuses into
QLinearConv / QLinearAdd kernels.

Three details make this work on real CNNs:

* torchvision's ``BasicBlock``/``Bottleneck`` call one ``ReLU`` module two or
  three times. The quantizer groups nodes by module, so a reused module looks
  like one op with several outputs and is rejected. Every stateless module that
  is called more than once gets one copy per call (on a private copy of the
  model), which leaves the computation unchanged.
* The annotation is torchao's x86 recipe plus one rule for ONNX Runtime: both
  inputs of a residual ``add`` are quantized. The x86 recipe leaves the
  convolution branch in float (Inductor fuses conv+add+relu), which ONNX
  Runtime cannot run as int8: that graph was *slower* than fp32. With the
  rule, training simulates exactly what ONNX Runtime runs.
* torchao's conversion of a graph whose BatchNorm was trained live re-traces
  ~100 pattern graphs (15-50 s on a 2-core CPU, whatever the model's size). So
  the trained weights and fake-quantizer states are moved onto a BN-folded
  graph of the same model and that one is converted (instant); the two are
  checked to agree before the slow path is skipped.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Optional

import torch
from torch import fx, nn

from core.jobs import sub_progress
from core.models.exported import ProgramModule
from core.models.onnx_model import OnnxModel
from core.models.spec import first_line
from core.techniques import onnx_quant_common as oq
from core.techniques.base import (
    ONNX, StepContext, StepOutcome, TechniqueConfig, TechniqueError, derived, param, technique,
)
from core.techniques.finetune import kd_loss
from core.techniques.qat_export import (  # noqa: F401  (re-exported)
    AGREEMENT_FLOOR, CHECK_SAMPLES, _check_notes, _quiet, _threads, _val_sample, check_onnx, export_qdq_onnx, onnx_facts,
)
from core.training import TrainConfig, train_classifier

FILE_NAME = "model_qat_int8.onnx"
_ADDS = (torch.ops.aten.add.Tensor, torch.ops.aten.add_.Tensor)


@technique(
    "quantize.qat",
    family="Quantization",
    label="Quantization-aware training (int8)",
    summary="Fine-tune with int8 simulated, then export an int8 ONNX model; recovers what post-training int8 loses",
    side=ONNX,
)
@dataclass(frozen=True)
class QuantizeQAT(TechniqueConfig):
    epochs: int = param(3, label="Epochs", help="Passes over the training split with int8 simulated", min=1, max=200, step=1)
    lr: float = param(
        0.005, label="Learning rate", min=1e-6, max=1.0, step=0.001,
        help="Peak learning rate of the one-cycle schedule (SGD, Nesterov); low, because the weights are already trained",
    )
    batch_size: int = param(64, label="Batch size", help="Training images per step", min=2, max=4096, step=8)
    weight_decay: float = param(5e-4, label="Weight decay", help="L2 penalty on the weights", min=0.0, max=0.1, step=1e-4)
    augment: bool = param(True, label="Augment", help="Small random shifts, rotations and scaling of the training images")
    kd_alpha: float = param(
        0.0, label="Teacher weight", min=0.0, max=1.0, step=0.05,
        help="Weight of the original fp32 model's soft targets (0 = plain cross-entropy; 0.5 often helps int8 match fp32)",
    )
    temperature: float = param(4.0, label="Temperature", help="Softening of the teacher's and student's outputs for the soft loss", min=1.0, max=20.0, step=0.5)
    freeze_bn_after: int = param(
        2, label="Freeze BatchNorm after", min=0, max=200, step=1, unit="epochs",
        help="Epochs after which BatchNorm statistics stop updating (standard QAT practice). 0 folds BatchNorm into the "
             "convolutions before training; a value ≥ epochs never freezes them",
    )
    freeze_observers_after: int = param(
        2, label="Freeze ranges after", min=1, max=200, step=1, unit="epochs",
        help="Epochs after which the int8 ranges (scales) stop updating, so the last epochs train against the final "
             "ranges; a value ≥ epochs never freezes them",
    )
    per_channel: bool = param(
        True, label="Per-channel weights",
        help="One weight scale per output channel instead of per layer: better accuracy after BatchNorm folding, same speed",
    )

    def apply(self, model, ctx: StepContext) -> StepOutcome:
        module = _trainable_module(model)
        teacher = self._teacher(ctx)
        shape = ctx.input_shape
        started = time.perf_counter()
        workdir = Path(ctx.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / FILE_NAME
        notes: list[str] = []

        ctx.progress(0.0, "capturing the model with torch.export")
        student = copy.deepcopy(module)
        for p in student.parameters():
            p.requires_grad_(p.is_floating_point())  # a loaded model may come with frozen weights
        untied = untie_shared_modules(student, shape)
        if untied:
            notes.append(
                f"{len(untied)} module(s) called more than once ({', '.join(untied[:4])}{' …' if len(untied) > 4 else ''}) "
                "were given one copy per call so each call gets its own int8 range (the computation is unchanged)"
            )
        fold_first = self.freeze_bn_after == 0
        with _quiet(), _threads(ctx.threads):
            prepared = prepare_graph(student, shape, fold_bn=fold_first, per_channel=self.per_channel)
        ctx.check()

        adapter = QATModule(prepared, freeze_bn_after=self.freeze_bn_after, freeze_observers_after=self.freeze_observers_after)
        loss_fn = None
        if teacher is not None:
            def loss_fn(logits: torch.Tensor, labels: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
                return kd_loss(logits, teacher.predict(inputs), labels, self.kd_alpha, self.temperature)

        config = TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
            augment=self.augment, seed=ctx.seed, threads=ctx.threads, device=ctx.device,
        )
        result = train_classifier(
            adapter, ctx.data, config, progress=sub_progress(ctx.progress, 0.05, 0.85), cancel=ctx.cancel, loss_fn=loss_fn,
            on_epoch=ctx.on_epoch,
        )
        ctx.check()

        ctx.progress(0.86, "converting to int8")
        with _quiet(), _threads(ctx.threads):
            converted, how, layers = convert_trained(adapter.graph, student, shape, self.per_channel, _val_sample(ctx, 64))
        if how == "torchao":
            notes.append("the BN-folded shortcut did not reproduce the trained graph, so torchao's own (slower) conversion was used")
        ctx.check()

        ctx.progress(0.9, "exporting to ONNX")
        with _quiet():
            export_qdq_onnx(converted, shape, path)
        facts = onnx_facts(path)
        if not facts["int8_weights"]:
            raise TechniqueError(
                "the int8 quantizer found no convolution or linear layer to quantize in this model",
                "use quantize.dynamic or quantize.fp16 for models without Conv/Linear layers",
            )
        ctx.progress(0.95, "checking the ONNX model with ONNX Runtime")
        check = check_onnx(converted, path, ctx)
        notes += _check_notes(check, facts)

        fp32_bytes = 4 * sum(p.numel() for p in module.parameters() if p.is_floating_point())
        history = [
            {"epoch": h.epoch, "train_loss": round(h.train_loss, 4), "val_accuracy": round(h.val_accuracy, 4)}
            for h in result.history
        ]
        how_kd = f", teacher α={self.kd_alpha}" if teacher is not None else ""
        ctx.progress(1.0, "quantization-aware training done")
        return StepOutcome(
            model=derived(model, OnnxModel(path), suffix="qat"),
            summary=(
                f"QAT int8 ({self.epochs} epoch(s){how_kd}, {'per-channel' if self.per_channel else 'per-tensor'} weights): "
                f"validation accuracy {100 * check['onnx_accuracy']:.2f} % in ONNX Runtime ({check['checked_samples']} images); "
                f"{oq.kib(facts['file_bytes'])} file vs {oq.kib(fp32_bytes)} of fp32 weights "
                f"({fp32_bytes / max(facts['file_bytes'], 1):.1f}× smaller)"
            ),
            layers=layers,
            notes=notes,
            extra={
                "history": history,
                "events": adapter.events,
                "seconds": round(time.perf_counter() - started, 2),
                "train_seconds": round(result.seconds, 2),
                "conversion": how,
                "untied_modules": untied,
                "fp32_weight_bytes": fp32_bytes,
                **facts,
                **check,
            },
        )

    def _teacher(self, ctx: StepContext):
        """The recipe's original model as a teacher, or None without distillation."""
        if self.kd_alpha <= 0:
            return None
        if ctx.baseline is None or ctx.baseline.is_onnx:
            raise TechniqueError("QAT with a teacher needs the original PyTorch model", "set kd_alpha = 0")
        return ctx.baseline


# --------------------------------------------------------------------------- the model to train


def _trainable_module(model) -> nn.Module:
    """The PyTorch module QAT can re-trace and train, or a TechniqueError saying what to load instead."""
    if model.is_onnx:
        raise TechniqueError(
            f"{model.name} is an ONNX model, which cannot be trained",
            "start from the PyTorch model, or use quantize.static for post-training int8 of an ONNX file",
        )
    module = model.module
    if isinstance(module, ProgramModule):
        raise TechniqueError(
            f"{model.name} is a torch.export program, which cannot be retrained",
            "load the model from its architecture and state_dict (or a torchvision name) for QAT, "
            "or use quantize.static for post-training int8",
        )
    if isinstance(module, (torch.jit.ScriptModule, torch.jit.ScriptFunction)):
        raise TechniqueError(
            f"{model.name} is a TorchScript model, which torch.export cannot re-trace for QAT",
            "load the model from its architecture and state_dict, or use quantize.static for post-training int8",
        )
    if not any(p.is_floating_point() for p in module.parameters()):
        raise TechniqueError(f"{model.name} has no float weights to train", "start QAT from the fp32 PyTorch model")
    return module


class _PerCall(nn.Module):
    """One copy of a stateless module per call site, chosen by call order within a forward pass."""

    def __init__(self, inner: nn.Module, calls: int) -> None:
        super().__init__()
        self.copies = nn.ModuleList(copy.deepcopy(inner) for _ in range(calls))
        self.calls = 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        i = self.calls % len(self.copies)
        self.calls += 1
        return self.copies[i](*args, **kwargs)


def untie_shared_modules(module: nn.Module, shape: tuple[int, ...]) -> list[str]:
    """Give each call of a reused stateless module its own copy (in place); returns the names changed.

    Modules with weights or buffers that are called twice are real weight
    sharing and are left alone. In-place activations are made out-of-place: an
    in-place op on a tensor another branch still reads confuses the annotation.
    """
    counts: dict[int, int] = {}
    handles = [m.register_forward_pre_hook(partial(_count, counts)) for m in module.modules()]
    try:
        with torch.no_grad():
            module.eval()(torch.zeros(2, *shape))
    except Exception as exc:  # any failure means the model does not run on this input
        raise TechniqueError(
            f"the model does not run on a batch of shape (N, {', '.join(map(str, shape))}) ({type(exc).__name__}: {first_line(exc)})",
            "check that the data's image size matches the model",
        ) from exc
    finally:
        for h in handles:
            h.remove()
    aliases: dict[int, list[str]] = {}
    for name, m in module.named_modules(remove_duplicate=False):
        if name:
            aliases.setdefault(id(m), []).append(name)
    untied: list[str] = []
    for name, m in list(module.named_modules()):
        calls = counts.get(id(m), 0)
        stateless = next(m.parameters(), None) is None and next(m.buffers(), None) is None
        if not name or calls < 2 or not stateless or any(name.startswith(u + ".") for u in untied):
            continue
        wrapper = _PerCall(m, calls)
        for alias in aliases[id(m)]:
            parent, _, attr = alias.rpartition(".")
            setattr(module.get_submodule(parent) if parent else module, attr, wrapper)
        untied.append(name)
    for m in module.modules():
        if isinstance(getattr(m, "inplace", None), bool):
            m.inplace = False
    return untied


def _count(counts: dict[int, int], mod: nn.Module, args: Any) -> None:
    counts[id(mod)] = counts.get(id(mod), 0) + 1


# --------------------------------------------------------------------------- PT2E preparation


def qat_config(per_channel: bool):
    """torchao's x86 QAT config (uint8 activations, symmetric int8 weights), optionally per-tensor weights."""
    from torchao.quantization.pt2e import FusedMovingAvgObsFakeQuantize, MovingAverageMinMaxObserver
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import get_default_x86_inductor_quantization_config

    config = get_default_x86_inductor_quantization_config(is_qat=True)
    if per_channel:
        return config
    weight = dataclasses.replace(
        config.weight, qscheme=torch.per_tensor_symmetric, ch_axis=None,
        observer_or_fake_quant_ctr=FusedMovingAvgObsFakeQuantize.with_args(eps=2**-12, observer=MovingAverageMinMaxObserver),
    )
    return dataclasses.replace(config, weight=weight)


def ort_quantizer(per_channel: bool):
    """The x86 recipe plus: every input of an annotated ``add`` is quantized (ONNX Runtime's QLinearAdd)."""
    from torchao.quantization.pt2e.quantizer.utils import get_input_act_qspec
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import X86InductorQuantizer

    class OrtQuantizer(X86InductorQuantizer):
        def annotate(self, model: fx.GraphModule) -> fx.GraphModule:
            super().annotate(model)
            spec = get_input_act_qspec(self.global_config)
            for node in model.graph.nodes:
                ann = node.meta.get("quantization_annotation")
                if node.op != "call_function" or node.target not in _ADDS or ann is None or not ann.input_qspec_map:
                    continue
                for arg in node.args[:2]:
                    if isinstance(arg, fx.Node) and arg not in ann.input_qspec_map:
                        ann.input_qspec_map[arg] = spec
            return model

    return OrtQuantizer().set_global(qat_config(per_channel))


def capture(module: nn.Module, shape: tuple[int, ...], train: bool) -> fx.GraphModule:
    """``torch.export`` with a dynamic batch, in train or eval mode; a TechniqueError if it cannot trace."""
    example = torch.randn(4, *shape)
    try:
        program = torch.export.export(
            module.train(train), (example,), dynamic_shapes=({0: torch.export.Dim("batch", min=1)},)
        )
    except Exception as exc:  # torch.export raises many types; all mean "cannot trace"
        raise TechniqueError(
            f"torch.export cannot trace the model for QAT ({type(exc).__name__}: {first_line(exc)})",
            "QAT needs a model without data-dependent Python control flow and with a batch-size-independent forward; "
            "use quantize.static (post-training int8) for this model",
        ) from exc
    finally:
        module.eval()
    return program.module()


def prepare_graph(module: nn.Module, shape: tuple[int, ...], fold_bn: bool, per_channel: bool) -> fx.GraphModule:
    """A graph with fake-quantizers: BN simulated live (``prepare_qat_pt2e``) or folded first (``prepare_pt2e``).

    ``prepare_pt2e`` folds eval-mode BatchNorm into the convolutions before
    annotating; with the QAT config its observers are the same trainable
    fake-quantizers, so the folded graph trains like the live one with frozen
    statistics, and converts without the costly BN pattern rewrite.
    """
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, prepare_qat_pt2e

    graph = capture(module, shape, train=not fold_bn)
    try:
        if fold_bn:
            return prepare_pt2e(graph, ort_quantizer(per_channel))
        return prepare_qat_pt2e(graph, ort_quantizer(per_channel))
    except Exception as exc:  # the quantizer raises ValueError/AssertionError on patterns it cannot annotate
        raise TechniqueError(
            f"the int8 quantizer could not annotate this model ({type(exc).__name__}: {first_line(exc)})",
            "use quantize.static (post-training int8) for this model",
        ) from exc


def fake_quantizers(graph: fx.GraphModule) -> list[nn.Module]:
    """Distinct fake-quantizer modules called by ``graph``: activations in graph order, then weights by their layer."""
    from torchao.quantization.pt2e import FakeQuantizeBase

    acts: list[str] = []
    weights: dict[str, int] = {}
    order = {n: i for i, n in enumerate(graph.graph.nodes)}
    for node in graph.graph.nodes:
        if node.op != "call_module" or not isinstance(graph.get_submodule(node.target), FakeQuantizeBase):
            continue
        layer = next((u for u in node.users if _is_weight_layer(u) and len(u.args) > 1 and u.args[1] is node), None)
        if layer is not None:
            weights.setdefault(node.target, order[layer])
        elif node.target not in acts:
            acts.append(node.target)
    ordered = acts + sorted(weights, key=weights.get)  # type: ignore[arg-type]
    return [graph.get_submodule(t) for t in ordered]


_aten = torch.ops.aten
_WEIGHT_LAYERS = {  # exported ops whose second argument is a weight the quantizer stores as int8
    _aten.conv1d.default, _aten.conv2d.default, _aten.conv3d.default,
    _aten.conv1d.padding, _aten.conv2d.padding, _aten.conv3d.padding,
    _aten.conv_transpose1d.default, _aten.conv_transpose2d.input, _aten.conv_transpose3d.input,
    _aten.linear.default,
}
_BATCH_NORM = _aten.batch_norm.default
_BATCH_NORMS = {_BATCH_NORM, _aten._native_batch_norm_legit.default, _aten._native_batch_norm_legit_no_training.default}


def _is_weight_layer(node: fx.Node) -> bool:
    return node.op == "call_function" and node.target in _WEIGHT_LAYERS


def _batch_norms(graph: fx.GraphModule) -> list[fx.Node]:
    return [n for n in graph.graph.nodes if n.op == "call_function" and n.target in _BATCH_NORMS]


# --------------------------------------------------------------------------- training


class QATModule(nn.Module):
    """A prepared graph that ``train_classifier`` can drive: train/eval and per-epoch freezing.

    An exported graph refuses ``.train()``/``.eval()``; its BatchNorm and
    dropout ops carry their mode as an argument instead, which :func:`set_mode`
    flips. ``train_classifier`` switches to train mode once at the start of
    each epoch and to eval mode for validation, so the epoch count is kept
    here: from epoch ``freeze_bn_after + 1`` on, BatchNorm uses its running
    statistics; from epoch ``freeze_observers_after + 1`` on, the int8 ranges
    are fixed. Validation never updates ranges (observers are off in eval).
    """

    def __init__(self, graph: fx.GraphModule, freeze_bn_after: int, freeze_observers_after: int) -> None:
        super().__init__()
        self.graph = graph
        self.freeze_bn_after = freeze_bn_after
        self.freeze_observers_after = freeze_observers_after
        self.epoch = 0
        self.events: list[dict] = []
        self._has_bn = bool(_batch_norms(graph))

    def train(self, mode: bool = True) -> "QATModule":
        from torchao.quantization.pt2e import disable_observer, enable_observer

        self.training = mode
        if mode:
            self.epoch += 1
        bn_live = mode and self.epoch <= self.freeze_bn_after
        observe = mode and self.epoch <= self.freeze_observers_after
        set_mode(self.graph, train=mode, bn_live=bn_live)
        self.graph.apply(enable_observer if observe else disable_observer)
        if mode and self._has_bn and 0 < self.freeze_bn_after == self.epoch - 1:
            self.events.append({"epoch": self.epoch, "event": "BatchNorm statistics frozen"})
        if mode and self.freeze_observers_after == self.epoch - 1:
            self.events.append({"epoch": self.epoch, "event": "int8 ranges frozen"})
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph(x)


_MODE_ARG = {  # ops whose train/eval behaviour is an argument of the exported op, and its position
    _BATCH_NORM: 5,
    torch.ops.aten.dropout.default: 2,
    torch.ops.aten.feature_dropout.default: 2,
    torch.ops.aten.alpha_dropout.default: 2,
    torch.ops.aten.feature_alpha_dropout.default: 2,
}


def set_mode(graph: fx.GraphModule, train: bool, bn_live: bool) -> None:
    """Put dropout in ``train`` mode and BatchNorm in batch-statistics mode iff ``bn_live``.

    The arguments are set directly, which is what torchao's
    ``move_exported_model_to_train/eval`` achieve by re-tracing and matching
    patterns (about a second per switch, twice per epoch). BatchNorm in eval
    mode uses and no longer updates its running statistics: frozen BN, as in
    the PT2E QAT tutorial.
    """
    changed = False
    for node in graph.graph.nodes:
        index = _MODE_ARG.get(node.target) if node.op == "call_function" else None
        if index is None or len(node.args) <= index:
            continue
        want = bn_live if node.target == _BATCH_NORM else train
        if node.args[index] is not want:
            node.args = (*node.args[:index], want, *node.args[index + 1:])
            changed = True
    if changed:
        graph.recompile()


# --------------------------------------------------------------------------- conversion


def convert_trained(
    trained: fx.GraphModule, student: nn.Module, shape: tuple[int, ...], per_channel: bool, sample: torch.Tensor,
) -> tuple[fx.GraphModule, str, list[dict]]:
    """The int8 graph, how it was made and the per-layer rows (read before conversion replaces the fake-quantizers).

    ``direct``: no live BatchNorm, converted as trained; ``refolded``: through
    the BN-folded twin; ``torchao``: torchao's own conversion of the live-BN graph.
    """
    from torchao.quantization.pt2e import disable_observer

    set_mode(trained, train=False, bn_live=False)
    trained.apply(disable_observer)
    source, how = trained, "direct"
    if _batch_norms(trained):
        twin = refold(trained, student, shape, per_channel, sample)
        source, how = (twin, "refolded") if twin is not None else (trained, "torchao")
    rows = layer_rows(source)
    return _convert(source), how, rows


def _convert(graph: fx.GraphModule) -> fx.GraphModule:
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    converted = convert_pt2e(graph)
    set_mode(converted, train=False, bn_live=False)
    return converted


def refold(
    trained: fx.GraphModule, student: nn.Module, shape: tuple[int, ...], per_channel: bool, sample: torch.Tensor,
) -> Optional[fx.GraphModule]:
    """The trained live-BN graph rebuilt with BatchNorm folded, or None if the rebuild does not match it.

    The trained weights and BN statistics go back into the eager model (same
    parameter names), which is captured in eval mode and prepared with BN
    folded; each fake-quantizer then takes the state of its counterpart. Both
    graphs compute the same function, which is checked on ``sample``.
    """
    from torchao.quantization.pt2e import disable_observer

    state = trained.state_dict()
    own = student.state_dict()
    if not all(k in state and state[k].shape == v.shape for k, v in own.items()):
        return None
    student.load_state_dict({k: state[k] for k in own})
    try:
        twin = prepare_graph(student, shape, fold_bn=True, per_channel=per_channel)
    except TechniqueError:
        return None
    if _batch_norms(twin):  # a BatchNorm that is not after a convolution stays; the slow path handles it
        return None
    src, dst = fake_quantizers(trained), fake_quantizers(twin)
    if len(src) != len(dst):
        return None
    try:
        for a, b in zip(src, dst):
            b.load_state_dict(a.state_dict())
    except (RuntimeError, KeyError):
        return None
    twin.apply(disable_observer)
    with torch.no_grad():
        want, got = trained(sample), twin(sample)
    agree = float((want.argmax(1) == got.argmax(1)).float().mean())
    close = float((want - got).abs().max()) <= 0.05 * float(want.abs().max()) + 1e-4
    return twin if agree >= 0.99 and close else None


# --------------------------------------------------------------------------- ONNX


def layer_rows(graph: fx.GraphModule) -> list[dict]:
    """One row per quantized conv/linear layer of the prepared graph: its weight scales and input range."""
    from torchao.quantization.pt2e import FakeQuantizeBase

    rows = []
    for node in graph.graph.nodes:
        if not _is_weight_layer(node) or len(node.args) < 2:
            continue
        fq_w = _fake_quant_of(graph, node.args[1], FakeQuantizeBase)
        fq_x = _fake_quant_of(graph, node.args[0], FakeQuantizeBase)
        stack = node.meta.get("nn_module_stack") or {}
        name = list(stack.values())[-1][0] if stack else node.name
        row: dict[str, Any] = {"layer": name, "op": str(node.target).split(".")[-2], "quantized": fq_w is not None}
        if fq_w is not None:
            scale = fq_w.scale.detach().flatten()
            row.update({
                "weight": f"int8 {'per-channel' if scale.numel() > 1 else 'per-tensor'}",
                "weight_scales": int(scale.numel()),
                "weight_scale_max": float(scale.max()),
            })
        if fq_x is not None:
            row.update({"input_scale": float(fq_x.scale.flatten()[0]), "input_zero_point": int(fq_x.zero_point.flatten()[0])})
        rows.append(row)
    return rows


def _fake_quant_of(graph: fx.GraphModule, arg: Any, kind: type) -> Optional[nn.Module]:
    if isinstance(arg, fx.Node) and arg.op == "call_module":
        module = graph.get_submodule(arg.target)
        return module if isinstance(module, kind) else None
    return None
