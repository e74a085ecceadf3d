#!/usr/bin/env python3
"""Classify image files with the model in this folder and print the top-k labels.

    python infer.py IMAGE [IMAGE ...] [--top-k 5] [--json] [--provider cpu|cuda|tensorrt]
    python infer.py --benchmark 50 [--warmup 5] [--threads 4] [--json] [IMAGE ...]

The benchmark mode times N runs at batch 1 (after a warm-up) and reports the
median and 90th percentile, the peak resident memory of this process and the
ONNX Runtime version and provider; EdgeSlim runs it on a board over SSH.

Needs only onnxruntime, numpy and Pillow (pip install onnxruntime numpy pillow).
Everything about the model — its file, input, preprocessing and class labels —
is read from model.json beside this script, so the script runs unchanged in
any bundle EdgeSlim writes.
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def load_card():
    with open(os.path.join(HERE, "model.json"), encoding="utf-8") as fh:
        return json.load(fh)


def preprocess(path, card):
    """The image as the model's input: resize, centre-crop, scale, normalise, NCHW float32."""
    pp = card["preprocessing"]
    channels, height, width = card["input"]["chw"]
    img = Image.open(path)
    img = img.convert("L" if channels == 1 else "RGB")
    if pp.get("resize"):
        w, h = img.size
        short = min(w, h)
        size = int(pp["resize"])
        img = img.resize((max(1, int(size * w / short)), max(1, int(size * h / short))), Image.BILINEAR)
    if pp.get("crop"):
        crop = int(pp["crop"])
        w, h = img.size
        left, top = int(round((w - crop) / 2.0)), int(round((h - crop) / 2.0))
        img = img.crop((left, top, left + crop, top + crop))
    if img.size != (width, height):
        img = img.resize((width, height), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32) * float(pp.get("scale", 1.0 / 255.0))
    if x.ndim == 2:
        x = x[:, :, None]
    if pp.get("channel_order") == "BGR":
        x = x[:, :, ::-1]
    mean = np.asarray(pp.get("mean", [0.0]), dtype=np.float32)
    std = np.asarray(pp.get("std", [1.0]), dtype=np.float32)
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def session(card, provider, threads=0):
    name = PROVIDERS[provider]
    if name not in ort.get_available_providers():
        sys.exit(f"infer.py: the {provider} provider is not available in this onnxruntime build "
                 f"(available: {', '.join(ort.get_available_providers())})")
    providers = [name] + (["CPUExecutionProvider"] if name != "CPUExecutionProvider" else [])
    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(os.path.join(HERE, card["model"]["onnx_file"]), sess_options=options, providers=providers)


def softmax(logits):
    z = logits - logits.max()
    e = np.exp(z)
    return e / e.sum()


def classify(sess, card, image, k):
    x = preprocess(image, card)
    logits = sess.run(None, {sess.get_inputs()[0].name: x})[0][0].astype(np.float64)
    probs = softmax(logits)
    labels = card.get("class_names") or [str(i) for i in range(len(probs))]
    order = np.argsort(-probs)[:k]
    return [{"index": int(i), "label": labels[int(i)], "probability": float(probs[int(i)])} for i in order]


def peak_rss_mb():
    """Peak resident memory of this process in MB (10^6 bytes), or None where the OS does not say."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6  # bytes on macOS, KiB elsewhere


def percentile(sorted_values, q):
    """Linear-interpolated percentile of already sorted values (numpy's default method)."""
    pos = (len(sorted_values) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def benchmark(sess, card, images, runs, warmup):
    """Time ``runs`` batch-1 inferences after ``warmup`` untimed ones, on the first image (zeros without one)."""
    if images:
        x = preprocess(images[0], card)
    else:
        x = np.zeros([1] + list(card["input"]["chw"]), dtype=np.float32)
    feed = {sess.get_inputs()[0].name: x}
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - start) * 1000.0)
    ordered = sorted(times)
    return {
        "runs": runs, "warmup": warmup, "batch": 1, "times_ms": times,
        "median_ms": percentile(ordered, 50), "p90_ms": percentile(ordered, 90), "min_ms": ordered[0],
        "mean_ms": sum(times) / len(times), "peak_rss_mb": peak_rss_mb(),
        "onnxruntime": ort.__version__, "provider": sess.get_providers()[0],
        "python": platform.python_version(), "machine": platform.machine(), "system": platform.system(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description="Classify images with the bundled model; prints the top-k labels.")
    parser.add_argument("images", nargs="*", metavar="IMAGE")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--provider", choices=sorted(PROVIDERS), default="cpu")
    parser.add_argument("--benchmark", type=int, metavar="N", default=0,
                        help="time N runs at batch 1 and report latency, peak memory and the runtime")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs before the benchmark (default 5)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for ONNX Runtime (default: its own choice)")
    args = parser.parse_args(argv)
    if not args.images and args.benchmark < 1:
        parser.error("give at least one IMAGE (or --benchmark N)")
    card = load_card()
    sess = session(card, args.provider, max(0, args.threads))
    results = []
    for image in args.images:
        if not os.path.isfile(image):
            sys.exit(f"infer.py: no such image file: {image}")
        results.append({"image": image, "top": classify(sess, card, image, max(1, args.top_k))})
    bench = None
    if args.benchmark > 0:
        bench = benchmark(sess, card, args.images, args.benchmark, max(0, args.warmup))
        bench["threads"] = args.threads or None
    if args.json:
        report = {"model": card["model"]["file"], "results": results}
        if bench is not None:
            report["benchmark"] = bench
        print(json.dumps(report, indent=2))
        return 0
    if bench is not None:
        rss = "" if bench["peak_rss_mb"] is None else f", peak memory {bench['peak_rss_mb']:.0f} MB"
        print(f"{bench['runs']} runs at batch 1: median {bench['median_ms']:.3f} ms, p90 {bench['p90_ms']:.3f} ms{rss} "
              f"(ONNX Runtime {bench['onnxruntime']}, {bench['provider']})")
    for res in results:
        best = res["top"][0]
        print(f"{res['image']}: {best['label']} ({100 * best['probability']:.1f} %)")
        for rank, item in enumerate(res["top"], start=1):
            print(f"  {rank}. {item['label']:<20} {100 * item['probability']:6.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
