"""A plain supervised training loop, shared by the demo trainer, fine-tuning, distillation and QAT.

The default is SGD with Nesterov momentum and a one-cycle learning-rate
schedule: the standard recipe for small CNNs, which converges in few epochs on
CPU. Adam/AdamW, cosine and step schedules, label smoothing, photo
augmentation and keeping the best epoch are options (``core.training_setup``).
Training runs on ``config.device``: on CUDA with mixed precision
(``torch.autocast`` + a gradient scaler), background loader workers and pinned
memory; the module comes back on the CPU, where export and evaluation run.
Progress is reported per batch and the cancel token is checked between batches.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader

from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError
from core.jobs import CancelToken, ProgressFn, check, null_progress
from core.training_setup import (
    Augmented,
    augmenter,
    check_device_available,
    choose_augmentation,
    loader_options,
    make_optimizer,
    make_scheduler,
)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.1  # peak learning rate of the one-cycle schedule (start rate of the others)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    augment: bool = True  # False turns every augmentation off
    seed: int = 0
    threads: Optional[int] = None  # torch intra-op threads; None = torch's default
    optimizer: str = "sgd"  # sgd | adamw | adam
    schedule: str = "onecycle"  # onecycle | cosine | step
    step_size: int = 30  # epochs between rate drops (step schedule)
    gamma: float = 0.1  # factor of each drop (step schedule)
    augmentation: str = "auto"  # auto | digits | photo | none
    keep_best: bool = False  # end with the weights of the epoch with the best validation accuracy
    device: str = "cpu"  # torch device string the run trains on


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_accuracy: float
    seconds: float


@dataclass
class TrainResult:
    config: TrainConfig
    history: list[EpochRecord] = field(default_factory=list)
    seconds: float = 0.0
    best_epoch: Optional[int] = None  # set when keep_best restored an earlier epoch's weights
    augmentation: str = "none"  # the augmentation that ran (auto resolved)

    @property
    def final_val_accuracy(self) -> float:
        """Validation accuracy of the weights the run ends with (the best epoch's under keep_best)."""
        if not self.history:
            return float("nan")
        if self.best_epoch is not None:
            return self.history[self.best_epoch - 1].val_accuracy
        return self.history[-1].val_accuracy

    def to_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "history": [asdict(h) for h in self.history],
            "seconds": self.seconds,
            "final_val_accuracy": self.final_val_accuracy,
            "best_epoch": self.best_epoch,
            "augmentation": self.augmentation,
        }


def _device_of(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def accuracy(module: nn.Module, loader: DataLoader, cancel: Optional[CancelToken] = None) -> float:
    """Top-1 accuracy of ``module`` over ``loader`` (eval mode), on the device the module is on."""
    module.eval()
    device = _device_of(module)
    correct = total = 0
    for x, y in loader:
        check(cancel)
        x, y = x.to(device, non_blocking=True), torch.as_tensor(y).to(device, non_blocking=True)
        correct += int((module(x).argmax(1) == y).sum())
        total += int(y.numel())
    return correct / max(total, 1)


def train_classifier(
    module: nn.Module,
    data: DatasetBundle,
    config: TrainConfig = TrainConfig(),
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
    loss_fn: Optional[Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = None,
    companions: tuple[nn.Module, ...] = (),
    on_epoch: Optional[Callable[[EpochRecord], None]] = None,
) -> TrainResult:
    """Train ``module`` in place on ``data.train``; validate after each epoch; return it on the CPU.

    ``loss_fn(logits, labels, inputs)`` replaces cross-entropy when given (the
    hook distillation uses to add its soft-target term); ``companions`` (a
    teacher) move to the training device with the module and back after;
    ``on_epoch`` hears each epoch's record as it ends (live training curves).
    """
    progress = progress or null_progress
    device = check_device_available(config.device)
    cuda = device.type == "cuda"
    torch.manual_seed(config.seed)
    old_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    kind = choose_augmentation(config.augmentation, data) if config.augment else "none"
    try:
        transform = augmenter(kind, tuple(data.input_shape))
        train_set = Augmented(data.train, transform) if transform is not None else data.train
        gen = torch.Generator().manual_seed(config.seed)
        opts = loader_options(str(device))
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=gen, drop_last=True, **opts)
        if len(loader) == 0:
            loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=gen, **opts)
        val_loader = DataLoader(data.val, batch_size=256, **{k: v for k, v in opts.items() if k != "persistent_workers"})
        for m in (module, *companions):
            m.to(device)
        opt = make_optimizer(config.optimizer, module.parameters(), config.lr, config.momentum, config.weight_decay)
        sched, per_batch = make_scheduler(config.schedule, opt, config.lr, config.epochs, len(loader), config.step_size, config.gamma)
        scaler = torch.amp.GradScaler("cuda", enabled=cuda)
        ce = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        result = TrainResult(config, augmentation=kind)
        best: Optional[tuple[float, int, dict]] = None
        steps = config.epochs * len(loader)
        start = time.perf_counter()
        step = 0
        for epoch in range(config.epochs):
            t0 = time.perf_counter()
            module.train()
            loss_sum, correct, seen = 0.0, 0, 0
            for x, y in loader:
                check(cancel)
                x, y = x.to(device, non_blocking=True), torch.as_tensor(y).to(device, non_blocking=True)
                with torch.autocast("cuda", dtype=torch.float16) if cuda else nullcontext():
                    logits = module(x)
                    loss = loss_fn(logits, y, x) if loss_fn else ce(logits, y)
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise EdgeSlimError(
                        f"training diverged at epoch {epoch + 1} (loss {loss_value})", "lower the learning rate"
                    )
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                if per_batch:
                    sched.step()
                step += 1
                loss_sum += loss_value * y.numel()
                correct += int((logits.detach().argmax(1) == y).sum())
                seen += int(y.numel())
                progress(step / steps, f"epoch {epoch + 1}/{config.epochs}")
            if not per_batch:
                sched.step()
            val_acc = accuracy(module, val_loader, cancel)
            result.history.append(
                EpochRecord(epoch + 1, loss_sum / max(seen, 1), correct / max(seen, 1), val_acc, time.perf_counter() - t0)
            )
            if on_epoch is not None:
                on_epoch(result.history[-1])
            if config.keep_best and (best is None or val_acc > best[0]):
                best = (val_acc, epoch + 1, {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()})
            progress(step / steps, f"epoch {epoch + 1}/{config.epochs}: validation accuracy {100 * val_acc:.2f} %")
        result.seconds = time.perf_counter() - start
        if best is not None and best[1] != config.epochs:
            module.load_state_dict(best[2])
            result.best_epoch = best[1]
        module.eval()
        return result
    finally:
        for m in (module, *companions):
            m.to("cpu")
        torch.set_num_threads(old_threads)
