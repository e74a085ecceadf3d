"""The training settings finetune, distill.kd and arch.swap share, declared once.

Each technique declares these fields in its own class body (so the form keeps
its order: what is trained, then how), built by the factories here so the
labels, ranges and help text stay the same everywhere. :func:`train_config`
turns any config holding them into the loop's :class:`TrainConfig`, on the
step's device.
"""

from __future__ import annotations

from typing import Any

from core.techniques.base import StepContext, TechniqueError, coerce_value, param, params_of
from core.training import TrainConfig, TrainResult
from core.training_setup import AUGMENTATIONS, AUTO, OPTIMIZERS, SCHEDULES

FIELDS = ("optimizer", "schedule", "step_size", "gamma", "label_smoothing", "augmentation", "keep_best")


def weight_decay_param() -> Any:
    return param(5e-4, label="Weight decay", help="L2 penalty on the weights", min=0.0, max=0.1, step=1e-4)


def augment_param() -> Any:
    return param(True, label="Augment", help="Augment the training images (which way: augmentation); off = none")


def optimizer_param() -> Any:
    return param("sgd", label="Optimizer", choices=OPTIMIZERS,
                 help="sgd: Nesterov momentum 0.9 (small CNNs from scratch); adamw / adam: adaptive rates "
                 "(fine-tuning pretrained networks; use a learning rate near 1e-3)")


def schedule_param() -> Any:
    return param("onecycle", label="Schedule", choices=SCHEDULES,
                 help="onecycle: warm up then anneal (few epochs); cosine: anneal from the learning rate to 0; "
                 "step: multiply the rate by gamma every step_size epochs")


def step_size_param() -> Any:
    return param(30, label="Step size", help="Epochs between learning-rate drops (step schedule)", min=1, max=1000, step=1)


def gamma_param() -> Any:
    return param(0.1, label="Gamma", help="Factor applied to the learning rate at each drop (step schedule)", min=0.001, max=1.0, step=0.05)


def label_smoothing_param() -> Any:
    return param(0.0, label="Label smoothing", help="Share of the target spread over the other classes (0.1 is usual on photos)",
                 min=0.0, max=0.5, step=0.05)


def augmentation_param() -> Any:
    return param(AUTO, label="Augmentation", choices=(AUTO, *AUGMENTATIONS),
                 help="digits: small shifts, rotations and scaling; photo: horizontal flip + random-resized crop; "
                 "auto: digits on small images (the demo), photo on photos of 64 px and up")


def keep_best_param() -> Any:
    return param(False, label="Keep best epoch", help="End with the weights of the epoch with the best validation accuracy")


def train_config(cfg: Any, ctx: StepContext, **override: Any) -> TrainConfig:
    """The loop's settings from a technique config (epochs, lr, batch_size, weight_decay, augment + :data:`FIELDS`)."""
    check_fields(cfg)
    values = dict(
        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay, augment=cfg.augment,
        seed=ctx.seed, threads=ctx.threads, device=ctx.device,
        **{name: getattr(cfg, name) for name in FIELDS},
    )
    values.update(override)
    return TrainConfig(**values)


def check_fields(cfg: Any) -> None:
    """Configs built in code skip the recipe loader's checks; apply them to the training fields here."""
    for info in params_of(type(cfg)):
        if info.name not in FIELDS:
            continue
        try:
            coerce_value(info, getattr(cfg, info.name))
        except ValueError as exc:
            raise TechniqueError(f"{cfg.technique_name}: {info.name} = {getattr(cfg, info.name)!r} is not allowed ({exc})",
                                 f"set {info.name} within the allowed values") from exc


def settings_words(cfg: Any) -> str:
    """The non-default training choices in a few words for a step summary ("adam, step 30×0.1, photo")."""
    parts = []
    if cfg.optimizer != "sgd":
        parts.append(cfg.optimizer)
    if cfg.schedule == "step":
        parts.append(f"step schedule {cfg.step_size}×{cfg.gamma:g}")
    elif cfg.schedule != "onecycle":
        parts.append(cfg.schedule)
    if cfg.label_smoothing:
        parts.append(f"label smoothing {cfg.label_smoothing:g}")
    return ", ".join(parts)


def best_words(result: TrainResult) -> str:
    """The summary's tail " (best epoch 3 of 5 kept)" when keep_best restored an earlier epoch; else nothing."""
    return f" (best epoch {result.best_epoch} of {len(result.history)} kept)" if result.best_epoch is not None else ""


def training_notes(result: TrainResult) -> list[str]:
    """Where and how the training ran, for the step's notes."""
    device = result.config.device
    where = f"trained on {device} with mixed precision (float16 autocast)" if device.startswith("cuda") else ""
    return [where] if where else []


def training_extra(result: TrainResult) -> dict:
    return {"device": result.config.device, "augmentation": result.augmentation, "best_epoch": result.best_epoch}
