"""Training speed by device: epoch time on the CPU against the GPU, and the accuracy each reaches.

Trains the same networks from the same seed for the same epochs on the demo
digits (``--data`` for another dataset) on the CPU and, when PyTorch sees a
GPU, on ``cuda:0`` (mixed precision, loader workers, pinned memory: the path
every EdgeSlim training step takes). Without a GPU it prints "no GPU" and
only the CPU rows. Accuracy is the training loop's own validation accuracy on
the device; the deployable model's figures come from ONNX Runtime on the CPU
either way.

    python tests/bench/bench_train_device.py [--epochs 2] [--students demo_w8,resnet18] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from core import fmt  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.models.students import build_student  # noqa: E402
from core.training import TrainConfig, train_classifier  # noqa: E402


def bench(student: str, data, device: str, epochs: int, threads: int, width: float) -> list:
    model, _ = build_student(student, data.num_classes, tuple(data.input_shape), width, seed=0)
    config = TrainConfig(epochs=epochs, batch_size=64, lr=0.05, seed=0, threads=threads, device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    result = train_classifier(model, data, config)
    total = time.perf_counter() - t0
    per_epoch = [h.seconds for h in result.history]
    return [student, f"×{width:g}", device, f"{min(per_epoch):.2f} s", f"{total:.1f} s", f"{100 * result.final_val_accuracy:.2f} %"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="demo")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--students", default="demo_w8,resnet18")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    data = load_dataset(args.data, seed=0)
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda:0")
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    else:
        print("no GPU: PyTorch sees no CUDA device; CPU rows only")
    print(f"data {data.name}: {len(data.train)} training images {tuple(data.input_shape)}, torch {torch.__version__}, "
          f"{args.threads} CPU threads, {args.epochs} epoch(s)")
    rows = [bench(s.strip(), data, d, args.epochs, args.threads, args.width) for s in args.students.split(",") for d in devices]
    print(fmt.table(["student", "width", "device", "fastest epoch", "total", "val accuracy"], rows, "llllrr"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
