"""Train the demo model that ships with EdgeSlim (``edgeslim-cli train-demo``).

The app must work offline on first start, so the trained weights live in
``resources/demo/``; this module reproduces them from the demo data. It writes
a state_dict (safe to load with ``weights_only=True``) and a JSON card with the
architecture config, classes, preprocessing and the validation accuracy.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from core.jobs import CancelToken, ProgressFn, sub_progress
from core.models.demo_net import DemoNetConfig, DemoResNet
from core.training import TrainConfig, TrainResult, train_classifier

DEMO_TRAIN_CONFIG = TrainConfig(epochs=30, batch_size=64, lr=0.1, weight_decay=5e-4, augment=True, seed=0, threads=2)
WEIGHTS_NAME = "demo_resnet.pt"
CARD_NAME = "demo_resnet.json"


@dataclass
class DemoTrainOutcome:
    weights: Path
    card: Path
    val_accuracy: float
    result: TrainResult


def _atomic_write_bytes(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def train_demo(
    out_dir: Path,
    config: TrainConfig = DEMO_TRAIN_CONFIG,
    net: DemoNetConfig = DemoNetConfig(),
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> DemoTrainOutcome:
    """Train a :class:`DemoResNet` on the demo digits and write weights + card to ``out_dir``."""
    from core.data import load_dataset

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_dataset("demo", seed=config.seed)
    torch.manual_seed(config.seed)
    model = DemoResNet(net)
    result = train_classifier(model, data, config, progress=sub_progress(progress, 0.0, 0.98), cancel=cancel)
    weights = out_dir / WEIGHTS_NAME
    card = out_dir / CARD_NAME
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    _atomic_write_bytes(weights, lambda fh: torch.save(state, fh))
    info = {
        "arch": "demo:DemoResNet",
        "config": net.to_dict(),
        "class_names": list(data.class_names),
        "input_shape": list(data.input_shape),
        "preprocessing": data.preprocessing.to_dict(),
        "dataset": "demo (scikit-learn handwritten digits, 3x32x32)",
        "metrics": {"val_accuracy": result.final_val_accuracy, "n_val": len(data.val)},
        "training": {
            "command": "edgeslim-cli train-demo",
            "seconds": round(result.seconds, 1),
            **{k: v for k, v in result.to_dict()["config"].items()},
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }
    _atomic_write_bytes(card, lambda fh: fh.write(json.dumps(info, indent=2).encode()))
    if progress:
        progress(1.0, f"demo model written to {out_dir} (validation accuracy {100 * result.final_val_accuracy:.2f} %)")
    return DemoTrainOutcome(weights, card, result.final_val_accuracy, result)
