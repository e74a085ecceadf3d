"""Weight tuning: learn int8-friendly weights from the fp32 model's own outputs, then let ONNX Runtime quantize them.

This is gradient-based post-training quantization (MCT's GPTQ, the idea
behind QAT with distillation): the pre-processed fp32 graph runs in PyTorch
with ONNX Runtime's int8 rounding simulated (:mod:`core.quant.graph_torch`),
and its weights and biases follow the gradient of the mean squared error
between the simulated int8 logits and the fp32 graph's logits on the tuning
images. No labels are needed. Matching the logits themselves (not a softened
distribution) is what keeps top-1 on images whose two best classes are close:
on the bench's EfficientNet-Lite2 it lifted ONNX Runtime's agreement with fp32
from 82.8 % to 86.2 % where a KL loss lost 0.1 pt.

A few hundred images of a few dozen photos are easy to overfit: on the bench,
tuning the bias-corrected graph lowered the error on its own images from 0.023
to 0.010 while the error on other photos rose from 0.023 to 0.026 (agreement
88.5 % → 87.0 %). So the epoch with the lowest simulated error on the
validation split is kept, the untouched weights included (the split
``max_drop`` and ``keep_best`` already judge by), and ``quantize.static`` then
keeps the tuned file only if ONNX Runtime agrees it is closer to the input
model than the untuned one.

The tuned weights go back into the fp32 graph by initializer name; ONNX
Runtime then calibrates and quantizes that graph as usual, so the result
always ends on its fast U8S8 kernels, at the speed of plain post-training int8.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from core.jobs import ProgressFn
from core.techniques.base import TechniqueError


MIN_HELD_OUT = 8


@dataclass(frozen=True)
class TuneOptions:
    """How long and how hard to tune; the defaults are the bench's best (3 epochs, Adam 5e-6, batch 16)."""

    epochs: int = 3
    lr: float = 5e-6
    batch_size: int = 16
    images: int = 1024  # at most this many tuning images are held in memory
    flip: bool = False  # also match the fp32 model on mirrored images (any input is a valid distillation target)
    held_out: float = 0.2  # without a selection split: share of the images (the last ones) kept aside; 0 = keep the last
    select_images: int = 256  # at most this many images of the selection split decide the epoch
    seed: int = 0
    threads: Optional[int] = None
    device: str = "cpu"  # a torch device string: the run's "Train on" setting


@dataclass(frozen=True)
class Tuning:
    """What a step tunes on (``quantize.static``: its calibration images, ``quantize.qat``: its training images),
    and the split whose error chooses the epoch (the validation split, as ``max_drop`` and ``keep_best`` use it)."""

    dataset: Any
    options: TuneOptions
    what: str = "calibration images"
    select: Any = None


@dataclass(frozen=True)
class TuneResult:
    """The kept weights and what the tuning measured (simulated int8 against fp32, mean squared logit error)."""

    weights: dict[str, np.ndarray]  # of the kept epoch: the untouched ones when no epoch did better
    images: int  # trained on (mirrored ones included)
    held_out: int  # images kept aside to choose the epoch
    steps: int
    scores: list[float]  # the deciding error before tuning (index 0) and after each epoch
    kept_epoch: int  # 0: tuning made nothing better, the weights are as they were
    seconds: float

    @property
    def loss_before(self) -> float:
        return self.scores[0]

    @property
    def loss_after(self) -> float:
        return self.scores[self.kept_epoch]


def trainable_names(proto, weight_names: Sequence[str]) -> list[str]:
    """The weights plus the float biases of the nodes that use them."""
    inits = {i.name: i for i in proto.graph.initializer}
    wanted = set(weight_names)
    names = list(weight_names)
    for node in proto.graph.node:
        if node.op_type in ("Conv", "Gemm") and len(node.input) > 2 and node.input[1] in wanted:
            bias = node.input[2]
            if bias in inits and inits[bias].data_type == 1 and bias not in names:
                names.append(bias)
    return names


def stack_images(dataset, limit: int) -> torch.Tensor:
    """The first ``limit`` images of a dataset of (image, label) pairs as one float batch."""
    count = min(len(dataset), limit)
    if count == 0:
        raise TechniqueError("weight tuning found no images", "use a dataset with calibration (or training) images")
    return torch.stack([torch.as_tensor(dataset[i][0], dtype=torch.float32) for i in range(count)])


def split_held_out(images: torch.Tensor, share: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and held-out images: the *last* ``share`` of them, so views cut from one photo mostly stay together.

    Fewer than :data:`MIN_HELD_OUT` held-out images would decide by noise: then none are held out.
    """
    count = int(round(share * len(images)))
    if count < MIN_HELD_OUT or len(images) - count < MIN_HELD_OUT:
        return images, images[:0]
    return images[:-count], images[-count:]


def _snapshot(model) -> dict[str, np.ndarray]:
    return {name: model.tensor(name).detach().cpu().numpy().astype(np.float32).copy() for name in model.names}


def tune_weights(pre_proto, q_proto, weight_names: Sequence[str], dataset, options: TuneOptions,
                 progress: ProgressFn, check: Callable[[], None],
                 on_epoch: Optional[Callable[[int, float, float], None]] = None, select=None,
                 teacher=None) -> TuneResult:
    """Tune ``weight_names`` (and their biases) of the fp32 graph ``pre_proto`` against its int8 form ``q_proto``.

    ``select`` (a dataset, e.g. the validation split) chooses the kept epoch; without one, the last
    ``options.held_out`` of the tuning images are set aside for it. ``teacher`` is the fp32 graph whose outputs
    are matched (default ``pre_proto`` itself): the input model's, when ``pre_proto`` was bias-corrected.
    """
    from core.quant.graph_torch import GraphModule, qdq_points

    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    if options.threads:
        torch.set_num_threads(options.threads)
    try:
        generator = torch.Generator().manual_seed(options.seed)
        images = stack_images(dataset, options.images)
        model = GraphModule(pre_proto, trainable_names(pre_proto, weight_names)).to(options.device)
        progress(0.0, f"computing the fp32 model's outputs on {len(images)} images")
        if select is not None and len(select) >= MIN_HELD_OUT:
            train, held = images, stack_images(select, options.select_images)
        else:
            train, held = split_held_out(images, options.held_out)
        if options.flip:
            train = torch.cat([train, train.flip(-1)])
        reference = GraphModule(teacher, []).to(options.device) if teacher is not None else model
        targets = _outputs(reference, train, options.batch_size, check, options.device)
        held_targets = _outputs(reference, held, options.batch_size, check, options.device) if len(held) else None
        del reference
        model.set_quant(*qdq_points(q_proto))

        def score() -> float:  # the error that decides which epoch is kept: held-out images, else the training ones
            if held_targets is not None:
                return _loss(model, held, held_targets, options.batch_size, check, options.device)
            return _loss(model, train, targets, options.batch_size, check, options.device)

        scores = [score()]
        best = _snapshot(model)
        steps_per_epoch = math.ceil(len(train) / options.batch_size)
        total = options.epochs * steps_per_epoch
        optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / max(total, 1))))
        step = 0
        for epoch in range(options.epochs):
            order = torch.randperm(len(train), generator=generator)
            epoch_started, losses = time.perf_counter(), []
            for start in range(0, len(train), options.batch_size):
                check()
                batch = order[start: start + options.batch_size]
                loss = torch.mean((model(train[batch].to(options.device)) - targets[batch]) ** 2)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                step += 1
                losses.append(loss.item())
                progress(step / (total + options.epochs),
                         f"tuning int8 weights: epoch {epoch + 1}/{options.epochs}, step {step}/{total}, "
                         f"logit error {loss.item():.4g}")
            scores.append(score())
            if scores[-1] < min(scores[:-1]):
                best = _snapshot(model)
            if on_epoch is not None:
                on_epoch(epoch + 1, float(np.mean(losses)), time.perf_counter() - epoch_started)
        kept = int(np.argmin(scores))
        return TuneResult(best, len(train), len(held), step, scores, kept, time.perf_counter() - started)
    finally:
        torch.set_num_threads(previous_threads)


def write_back(proto, weights: dict[str, np.ndarray]) -> None:
    """The tuned initializers into ``proto``, in place, by name."""
    from onnx import numpy_helper

    for init in proto.graph.initializer:
        if init.name in weights:
            init.CopyFrom(numpy_helper.from_array(weights[init.name], init.name))


@torch.no_grad()
def _outputs(model, images: torch.Tensor, batch: int, check: Callable[[], None], device: str = "cpu") -> torch.Tensor:
    out = []
    for start in range(0, len(images), batch):
        check()
        out.append(model(images[start: start + batch].to(device)))
    return torch.cat(out)


def _loss(model, images: torch.Tensor, targets: torch.Tensor, batch: int,
          check: Callable[[], None], device: str = "cpu") -> float:
    return float(torch.mean((_outputs(model, images, batch, check, device) - targets) ** 2))
