#!/usr/bin/env python3
"""Classify image files with the model in this folder and print the top-k labels.

    python infer.py IMAGE [IMAGE ...] [--top-k 5] [--json] [--provider cpu|cuda|tensorrt]

Needs only onnxruntime, numpy and Pillow (pip install onnxruntime numpy pillow).
Everything about the model — its file, input, preprocessing and class labels —
is read from model.json beside this script, so the script runs unchanged in
any bundle EdgeSlim writes.
"""

import argparse
import json
import os
import sys

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


def session(card, provider):
    name = PROVIDERS[provider]
    if name not in ort.get_available_providers():
        sys.exit(f"infer.py: the {provider} provider is not available in this onnxruntime build "
                 f"(available: {', '.join(ort.get_available_providers())})")
    providers = [name] + (["CPUExecutionProvider"] if name != "CPUExecutionProvider" else [])
    return ort.InferenceSession(os.path.join(HERE, card["model"]["onnx_file"]), providers=providers)


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


def main(argv=None):
    parser = argparse.ArgumentParser(description="Classify images with the bundled model; prints the top-k labels.")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--provider", choices=sorted(PROVIDERS), default="cpu")
    args = parser.parse_args(argv)
    card = load_card()
    sess = session(card, args.provider)
    results = []
    for image in args.images:
        if not os.path.isfile(image):
            sys.exit(f"infer.py: no such image file: {image}")
        results.append({"image": image, "top": classify(sess, card, image, max(1, args.top_k))})
    if args.json:
        print(json.dumps({"model": card["model"]["file"], "results": results}, indent=2))
        return 0
    for res in results:
        best = res["top"][0]
        print(f"{res['image']}: {best['label']} ({100 * best['probability']:.1f} %)")
        for rank, item in enumerate(res["top"], start=1):
            print(f"  {rank}. {item['label']:<20} {100 * item['probability']:6.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
