"""What every edgeslim-cli command shares: progress on stderr, argument groups, the sources, JSON and the run table.

The command modules (``basic``, ``run``, ``sweep``, ``runs``, ``sensitivity``,
``export``) import from here, never from each other or from ``main``, so the
command line has no import cycle. Arguments become typed sources here
(:class:`core.app.sources.ModelSource`, :class:`DataSource`), never dicts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Optional

from core import fmt
from core.app.sources import DataSource, ModelSource

if TYPE_CHECKING:
    from core.metrics.latency import TimingOptions


# --------------------------------------------------------------------------- progress


class StderrProgress:
    """Progress on stderr: one rewritten line on a terminal, sparse lines otherwise."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last_print = 0.0
        self._last_msg = ""

    def __call__(self, fraction: float, message: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        text = f"[{fraction * 100:5.1f}%] {message}"
        if self.tty:
            sys.stderr.write("\r" + text[:100].ljust(100))
            sys.stderr.flush()
        elif message != self._last_msg and (now - self._last_print > 2.0 or fraction >= 1.0):
            sys.stderr.write(text + "\n")
            self._last_print = now
        self._last_msg = message

    def done(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")

    def emit(self, event) -> None:
        """An ``emit`` for the core services: their Progress events on this line, the rest left to the command."""
        from core.app.events import Progress

        if isinstance(event, Progress):
            self(event.fraction, event.message)


# --------------------------------------------------------------------------- argument helpers


def _shape(text: str) -> tuple[int, int, int]:
    try:
        return fmt.parse_shape(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return n


def _add_model_args(p: argparse.ArgumentParser, option: bool = False) -> None:
    p.add_argument(
        *(("--model",) if option else ("model",)),
        metavar="MODEL",
        **({"required": True} if option else {}),
        help="demo | torchvision:NAME | timm:NAME | a file: state_dict (.pt/.pth, with --arch), "
        "torch.export program (.pt2), TorchScript (.pt/.ts), full pickle (with --trust), ONNX (.onnx)",
    )
    p.add_argument("--arch", help="architecture for a state_dict file, e.g. torchvision:resnet18 or timm:efficientnet_lite0")
    p.add_argument("--num-classes", type=_positive, help="number of classes (torchvision:NAME and --arch)")
    p.add_argument("--weights", help="state_dict file to load into torchvision:NAME or timm:NAME")
    p.add_argument("--input-shape", type=_shape, metavar="C,H,W", help="input shape when the file does not say")
    p.add_argument(
        "--trust",
        action="store_true",
        help="allow loading a full pickle (it runs code from the file: only for files you trust)",
    )


def _add_data_args(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument(
        "--data",
        required=required,
        metavar="DATA",
        help="demo | an image folder (one sub-folder per class) | cifar10:PATH | mnist:PATH | fashionmnist:PATH",
    )
    p.add_argument("--preset", help="preprocessing preset for image folders: imagenet (default), as-is; rgb32 for MNIST")
    p.add_argument("--image-size", type=_positive, help="input size for image folders (crop size)")
    p.add_argument("--labels", metavar="FILE",
                   help="class folder -> model output: `folder,index` lines, or one class name per line in output order "
                   "(for folders holding some of the model's classes; with 1000 outputs, folders named by ImageNet "
                   "index or WordNet id need no file)")


def _add_timing_args(p: argparse.ArgumentParser, *, repeats: int, threads_help: str = "CPU threads for latency (default 2)") -> None:
    """--batch, --threads, --repeats, --json and --quiet, shared by the commands that measure."""
    p.add_argument("--batch", type=_positive, default=1, help="batch size for latency (default 1)")
    p.add_argument("--threads", type=_positive, default=2, help=threads_help)
    p.add_argument("--repeats", type=_positive, default=repeats, help=f"timed runs per model for latency (default {repeats})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def model_source(args: argparse.Namespace) -> ModelSource:
    """The model as the arguments ask for it (spec and loading options)."""
    shape = getattr(args, "input_shape", None)
    return ModelSource(args.model, arch=args.arch, num_classes=args.num_classes, weights=args.weights,
                       trust=bool(args.trust), input_shape=tuple(shape) if shape else None)


def data_source(args: argparse.Namespace) -> DataSource:
    """The dataset as the arguments ask for it; a labels file is kept as an absolute path (a resume reads the same one)."""
    return DataSource(args.data, preset=args.preset, image_size=args.image_size).with_labels(getattr(args, "labels", None))


def _load_model(args: argparse.Namespace):
    return model_source(args).load()


def _load_data(args: argparse.Namespace, model=None):
    """The dataset; given the model, also mapped onto its outputs (--labels) and checked against it, before any long work."""
    return data_source(args).load(model)


def _add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda[:N]",
                   help="training device (default auto: a CUDA GPU when PyTorch sees one, else the CPU)")


def checked_device(args: argparse.Namespace) -> str:
    """The --device form, checked, and resolvable on this machine (no GPU for cuda: one line, exit 2, nothing loaded)."""
    from core.torch_device import check_device, resolve_device

    device = check_device(args.device)
    resolve_device(device)
    return device


def timing(args: argparse.Namespace, warmup: int = 10) -> "TimingOptions":
    """--batch, --threads and --repeats as one object."""
    from core.metrics.latency import TimingOptions

    return TimingOptions(batch=args.batch, threads=args.threads, warmup=warmup, repeats=args.repeats)


def _print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


# --------------------------------------------------------------------------- commands


def run_table(out: dict) -> str:
    """Baseline and every step side by side: accuracy, agreement, size, MACs, latency and the ratios."""
    rows = []
    stages = [("baseline", out["baseline"])] + [(f"{s['index']}. {s['technique']}", s["metrics"]) for s in out["steps"]]
    base = out["baseline"] or {}
    for name, m in stages:
        if not m:
            continue
        lat = (m.get("latency_ms") or {}).get("onnxruntime")
        r = m.get("ratios") or {}
        d_acc = None if base.get("accuracy") is None or m.get("accuracy") is None else 100 * (m["accuracy"] - base["accuracy"])
        rows.append([
            name,
            f"{100 * m['accuracy']:.2f} %" if m.get("accuracy") is not None else "—",
            "—" if d_acc is None or name == "baseline" else f"{d_acc:+.2f}",
            f"{100 * m['agreement']:.1f} %" if m.get("agreement") is not None else "—",
            fmt.size(m["size_bytes"]),
            fmt.size(m["zip_bytes"]),
            fmt.si(m.get("macs")),
            f"{lat:.3f} ms" if lat is not None else "—",
            _x(r.get("size")), _x(r.get("zip")), _x(r.get("macs")), _x(r.get("speedup_onnxruntime")),
        ])
    headers = ["stage", "top-1", "Δ pt", "agree", "ONNX file", "zipped", "MACs", "ORT latency", "size ×", "zip ×", "MACs ×", "speed-up"]
    return fmt.table(headers, rows, "lrrrrrrrrrrr")


def metric_cells(final: Optional[dict], baseline: Optional[dict]) -> list[str]:
    """Top-1, its change against the baseline, size, MACs and ONNX Runtime latency of one run, as table cells."""
    if not final:
        return ["—"] * 5
    lat = (final.get("latency_ms") or {}).get("onnxruntime")
    d = None
    if baseline and baseline.get("accuracy") is not None and final.get("accuracy") is not None:
        d = 100 * (final["accuracy"] - baseline["accuracy"])
    return [
        "—" if final.get("accuracy") is None else f"{100 * final['accuracy']:.2f}",
        "—" if d is None else f"{d:+.2f}",
        fmt.size(final.get("size_bytes")),
        fmt.si(final.get("macs")),
        "—" if lat is None else f"{lat:.3f}",
    ]


def _x(v) -> str:
    return "—" if v is None else f"{v:.2f}×"


def _fresh_line() -> str:
    """A newline after a terminal progress line, nothing when stderr is a pipe."""
    return "\n" if sys.stderr.isatty() else ""
