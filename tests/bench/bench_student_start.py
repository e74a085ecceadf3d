"""A distillation student started from a pretrained-shaped file against one started from scratch, on the demo.

No ImageNet weights can be downloaded here, so the "pretrained" file is made the
way a user's upstream checkpoint is: the student architecture with a 1000-class
head, trained on a *different* label set (digits 0-4 only of the demo's training
split). ``distill.kd`` then loads its backbone, replaces the head for the ten
digits, and distils the demo teacher into it; the scratch student gets the same
recipe from a fresh initialisation. Accuracy is the stored run's own
measurement (ONNX Runtime on the validation split).

    python tests/bench/bench_student_start.py [--student mobilenet_v3_small] [--epochs 1,3] [--lr 0.05,0.01] [--pretrain-epochs 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402
from torch.utils.data import Subset  # noqa: E402

from core import fmt  # noqa: E402
from core.data import load_dataset  # noqa: E402
from core.models import load_model  # noqa: E402
from core.models.students import build_student  # noqa: E402
from core.pipeline.recipe import parse_recipe  # noqa: E402
from core.pipeline.runner import RunOptions, run_recipe  # noqa: E402
from core.training import TrainConfig, train_classifier  # noqa: E402


def pretrained_file(student: str, data, epochs: int, out: Path) -> tuple[Path, float]:
    """The student with a 1000-class head trained on digits 0-4 only: a checkpoint from another task."""
    model, _ = build_student(student, 1000, tuple(data.input_shape), 1.0, seed=1)
    keep = lambda split: Subset(split, [i for i in range(len(split)) if int(split[i][1]) < 5])  # noqa: E731
    upstream = dataclasses.replace(data, train=keep(data.train), val=keep(data.val))
    result = train_classifier(model, upstream, TrainConfig(epochs=epochs, lr=0.05, seed=1, threads=2))
    torch.save(model.state_dict(), out)
    return out, result.final_val_accuracy


def distil(student: str, weights: str, epochs: int, lr: float, model, data, out: Path) -> tuple[float, float, str]:
    text = (f'name = "start"\n[[step]]\ntechnique = "distill.kd"\nstudent = "{student}"\nepochs = {epochs}\n'
            f'student_weights = "{weights}"\nwidth = 1.0\nlr = {lr}\n')  # the same width: the file's
    recipe = parse_recipe(text, source="bench")
    t0 = time.perf_counter()
    result = run_recipe(recipe, model, data, out, RunOptions(threads=2, warmup=1, repeats=3, device="cpu"))
    step = result.steps[0]
    return result.final.metrics.accuracy, time.perf_counter() - t0, step.outcome.summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--student", default="mobilenet_v3_small")
    ap.add_argument("--epochs", default="1,3", help="distillation epochs, comma-separated")
    ap.add_argument("--pretrain-epochs", type=int, default=8)
    ap.add_argument("--lr", default="0.05", help="peak learning rates of the distillation, comma-separated (each start, each rate)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    data, teacher = load_dataset("demo", seed=0), load_model("demo")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        weights, upstream_acc = pretrained_file(args.student, data, args.pretrain_epochs, Path(tmp) / "upstream.pth")
        print(f"upstream checkpoint: {args.student}, 1000-class head, {args.pretrain_epochs} epochs on digits 0-4: "
              f"{upstream_acc:.1%} on their validation images")
        for epochs in (int(e) for e in args.epochs.split(",")):
            for lr in (float(x) for x in args.lr.split(",")):
                for start, path in (("scratch", ""), ("pretrained-shaped file", str(weights))):
                    acc, seconds, summary = distil(args.student, path, epochs, lr, teacher, data, Path(tmp) / f"{start}-{epochs}-{lr}")
                    rows.append([args.student, start, str(epochs), f"{lr:g}", f"{100 * acc:.2f} %", f"{seconds:.0f} s"])
                    print(f"  {start}, {epochs} epoch(s), peak lr {lr:g}: {summary}", flush=True)
    print()
    print(fmt.table(["student", "start", "epochs", "peak lr", "top-1 (ONNX Runtime, 539 val)", "time"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
