"""A plain supervised training loop, shared by the demo trainer and fine-tuning.

SGD with Nesterov momentum and a one-cycle learning-rate schedule: the standard
recipe for small CNNs, which converges in few epochs on CPU. Progress is
reported per batch and the cancel token is checked between batches.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError
from core.jobs import CancelToken, ProgressFn, check, null_progress


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.1  # peak learning rate of the one-cycle schedule
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    augment: bool = True  # small random affine jitter on training images
    seed: int = 0
    threads: Optional[int] = None  # torch intra-op threads; None = torch's default


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

    @property
    def final_val_accuracy(self) -> float:
        return self.history[-1].val_accuracy if self.history else float("nan")

    def to_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "history": [asdict(h) for h in self.history],
            "seconds": self.seconds,
            "final_val_accuracy": self.final_val_accuracy,
        }


class _Augmented(Dataset):
    """Applies a random affine jitter to each training sample (tensor in, tensor out)."""

    def __init__(self, base: Dataset) -> None:
        from torchvision.transforms import v2

        self.base = base
        self.jitter = v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int):
        x, y = self.base[i]
        return self.jitter(x), y


@torch.no_grad()
def accuracy(module: nn.Module, loader: DataLoader, cancel: Optional[CancelToken] = None) -> float:
    """Top-1 accuracy of ``module`` over ``loader`` (eval mode)."""
    module.eval()
    correct = total = 0
    for x, y in loader:
        check(cancel)
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
) -> TrainResult:
    """Train ``module`` in place on ``data.train``; validate after each epoch.

    ``loss_fn(logits, labels, inputs)`` replaces cross-entropy when given (the
    hook distillation uses to add its soft-target term).
    """
    progress = progress or null_progress
    torch.manual_seed(config.seed)
    old_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        train_set = _Augmented(data.train) if config.augment else data.train
        gen = torch.Generator().manual_seed(config.seed)
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=gen, drop_last=True)
        if len(loader) == 0:
            loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=gen)
        val_loader = data.loader("val", batch_size=256)
        opt = torch.optim.SGD(
            module.parameters(), lr=config.lr, momentum=config.momentum,
            weight_decay=config.weight_decay, nesterov=True,
        )
        steps = config.epochs * len(loader)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps, pct_start=0.15)
        ce = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        result = TrainResult(config)
        start = time.perf_counter()
        step = 0
        for epoch in range(config.epochs):
            t0 = time.perf_counter()
            module.train()
            loss_sum, correct, seen = 0.0, 0, 0
            for x, y in loader:
                check(cancel)
                logits = module(x)
                loss = loss_fn(logits, y, x) if loss_fn else ce(logits, y)
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise EdgeSlimError(
                        f"training diverged at epoch {epoch + 1} (loss {loss_value})", "lower the learning rate"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                loss_sum += loss_value * y.numel()
                correct += int((logits.argmax(1) == y).sum())
                seen += int(y.numel())
                progress(step / steps, f"epoch {epoch + 1}/{config.epochs}")
            val_acc = accuracy(module, val_loader, cancel)
            result.history.append(
                EpochRecord(epoch + 1, loss_sum / max(seen, 1), correct / max(seen, 1), val_acc, time.perf_counter() - t0)
            )
            progress(step / steps, f"epoch {epoch + 1}/{config.epochs}: validation accuracy {val_acc:.3f}")
        result.seconds = time.perf_counter() - start
        module.eval()
        return result
    finally:
        torch.set_num_threads(old_threads)
