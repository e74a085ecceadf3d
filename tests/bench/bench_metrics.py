"""Baseline measurements: what EdgeSlim's metrics report for fp32 models.

Prints, for the demo model and torchvision resnet18 (random weights, 224×224,
the ANCHORS.md reference), the ONNX file size, MACs and the median / p90
latency in PyTorch eager and ONNX Runtime at batch 1 and 8 on 2 threads, all in
one process. The ANCHORS figure for resnet18 fp32 on ONNX Runtime is 17.0 ms at
batch 1 and 131.8 ms at batch 8 on this machine class.

    python tests/bench/bench_metrics.py [--repeats 30] [--models demo,torchvision:resnet18]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from core import fmt
from core.metrics.latency import measure_latency_onnx, measure_latency_torch
from core.models import inspect_model, load_model
from core.models.onnx_export import export_onnx


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="demo,torchvision:resnet18")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.models.split(","):
            model = load_model(spec)
            shape = model.input_shape
            onnx_path = export_onnx(model.module, shape, Path(tmp) / f"{model.name}.onnx")
            macs = inspect_model(model).total_macs
            cells = [spec, "fp32", fmt.size(onnx_path.stat().st_size), fmt.si(model_params(model)), fmt.si(macs)]
            for batch in (1, 8):
                t = measure_latency_torch(model.module, shape, batch=batch, threads=args.threads, repeats=args.repeats)
                o = measure_latency_onnx(onnx_path, shape, batch=batch, threads=args.threads, repeats=args.repeats)
                cells += [f"{t.median_ms:.2f} / {t.p90_ms:.2f}", f"{o.median_ms:.2f} / {o.p90_ms:.2f}", f"{t.median_ms / o.median_ms:.2f}×"]
            rows.append(cells)
    headers = ["model", "method", "ONNX file", "params", "MACs",
               "torch b1 ms (med/p90)", "ORT b1 ms (med/p90)", "ORT speed-up b1",
               "torch b8 ms (med/p90)", "ORT b8 ms (med/p90)", "ORT speed-up b8"]
    print(f"threads={args.threads}, repeats={args.repeats}, one process")
    print(fmt.table(headers, rows, "lllrr" + "r" * 6))
    print("reference (ANCHORS.md, ORT 1.31, same machine class): resnet18 fp32 44.7 MB, ORT 17.0 ms b1, 131.8 ms b8")


def model_params(model) -> int:
    return sum(p.numel() for p in model.module.parameters())


if __name__ == "__main__":
    main()
