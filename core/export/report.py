"""The bundle's human-readable files: a per-target README and a one-page HTML report.

Both are rendered from the bundle's ``model.json`` card, so what a person reads
and what a program reads cannot disagree. The report's trade-off plot is an
inline SVG drawn here: the page opens anywhere, offline, with nothing beside it.
"""

from __future__ import annotations

import html
import shlex
from typing import Optional

from core import fmt
from core.export import markdown as md
from core.export.targets import TargetProfile


# --------------------------------------------------------------------------- shared pieces


def _shape_x(card: dict, batch: int = 1) -> str:
    return "x".join(str(d) for d in [batch, *card["input"]["chw"]])


def _pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:.2f} %"


def _ms(x: Optional[float]) -> str:
    return "—" if x is None else (f"{x:.3f} ms" if x < 10 else f"{x:.1f} ms")


def _measured(card: dict) -> Optional[dict]:
    return card["metrics"]["latency_ms"].get("measured")


def _preprocessing_words(card: dict) -> str:
    pp = card["preprocessing"]
    c, h, w = card["input"]["chw"]
    steps = [f"open the image as {'greyscale' if c == 1 else 'RGB'}"]
    if pp.get("resize"):
        steps.append(f"resize its shorter side to {pp['resize']} px (bilinear)")
    if pp.get("crop"):
        steps.append(f"centre-crop {pp['crop']}×{pp['crop']}")
    steps.append(f"make it {w}×{h} if it is not")
    steps.append(f"multiply pixels by {pp.get('scale', 1 / 255):.6g}")
    steps.append(f"subtract mean {list(pp['mean'])} and divide by std {list(pp['std'])} per channel")
    steps.append(f"lay out as {card['input']['layout']} float32 ({_shape_x(card)})")
    return "; ".join(steps) + "."


# --------------------------------------------------------------------------- README


def readme(card: dict, profile: TargetProfile) -> str:
    """The README.md of a bundle for ``profile``."""
    est, fit, model = card["estimate"], card["fit"], card["model"]
    lines = [
        f"# {md.text(card['name'])} for {md.text(profile.label)}",
        "",
        f"Exported by EdgeSlim {card['edgeslim']} on {card['created'][:10]} "
        f"({model['format']}, {model['precision']}). Runtime on the device: {profile.runtime}.",
        "",
        "| file | size | sha256 |",
        "|---|---:|---|",
        *[f"| `{f['path']}` | {fmt.size(f['bytes'])} | `{f['sha256'][:16]}…` |" for f in card["files"]],
        "| `model.json` | | input, preprocessing, labels, recipe, metrics, estimate, parity |",
        "| `infer.py` | | classify an image on a PC or the device (onnxruntime, numpy, Pillow) |",
        "| `report.html` | | one-page report with the trade-off plot |",
        "",
        "## Fit and estimate",
        "",
        f"**{'Fits' if fit['fits'] else 'Does not fit'}** on {md.text(profile.label)} (estimate).",
    ]
    issues = [f"- {md.prose(p['message'])}" for p in fit["problems"]] + [f"- note: {md.prose(w)}" for w in fit["warnings"]]
    lines += ["", *issues] if issues else []
    storage = "Flash" if profile.kind == "mcu" else "Storage"
    ram_need = f"{fmt.size(est['peak_activation_bytes'])} activations"
    if profile.weights_in_ram:
        ram_need += f" + {fmt.size(est['weight_bytes'])} weights"
    lines += [
        "",
        "| memory | model needs | target has |",
        "|---|---:|---:|",
        f"| {storage} | {fmt.size(est['storage_bytes'])} | {fmt.size(profile.memory.storage_bytes)} |",
        f"| RAM | {ram_need} | {fmt.size(profile.memory.ram_bytes)} |",
        "",
        f"Peak activation memory is reached at {md.code(est['peak_at'])}. Estimated latency on {md.text(profile.label)}: "
        f"**{_ms(est['latency_ms'])}** at {est['precision']} ({est['bound']}-bound roofline, a lower bound; "
        f"{fmt.si(est['macs'])} MACs).",
    ]
    measured = _measured(card)
    if measured:
        lines.append(f"Measured on the export machine ({measured['machine']}): {_ms(measured['median_ms'])} median with "
                     f"ONNX Runtime CPU, {measured['threads']} threads, batch {measured['batch']} — not the target.")
    lines += ["", "Assumptions of the estimate:", "", *[f"- {md.prose(a)}" for a in est["assumptions"]], ""]
    lines += ["## Verified", ""]
    lines += [f"- {md.prose(p['summary'])}" for p in card["parity"]]
    lines += ["", "## Run it", "", *_run_section(card, profile), ""]
    lines += [
        "## Input", "",
        f"Input {md.code(card['input']['name'])}, shape {md.text(card['input']['shape'])} ({card['input']['layout']}, float32); "
        f"output {md.code(card['output']['name'])}: {md.prose(card['output']['meaning'])}.", "",
        f"Preprocessing: {_preprocessing_words(card)}", "",
        f"Classes ({len(card['class_names'])}): {', '.join(md.text(c) for c in card['class_names'][:20])}"
        + (" …" if len(card["class_names"]) > 20 else ""), "",
        "## Where the target's figures come from", "",
        profile.source.strip(), "",
        *[f"- {n}" for n in profile.notes],
    ]
    return "\n".join(lines).rstrip() + "\n"


def _run_section(card: dict, profile: TargetProfile) -> list[str]:
    tool = {"onnxruntime": _run_ort, "tensorrt": _run_tensorrt, "stedgeai": _run_stedgeai, "esp-dl": _run_espdl}[profile.toolchain]
    return tool(card, profile)


def _infer_lines(host: str = "the device") -> list[str]:
    return [
        f"Check the labels on {host} with the bundled script (needs only onnxruntime, numpy and Pillow):",
        "",
        "```sh",
        "python3 -m venv ~/edgeslim-env && ~/edgeslim-env/bin/pip install onnxruntime numpy pillow",
        "~/edgeslim-env/bin/python infer.py photo.jpg --top-k 5",
        "```",
    ]


def _run_ort(card: dict, profile: TargetProfile) -> list[str]:
    model = card["model"]
    out = []
    if profile.kind == "sbc":
        out += ["Copy this folder to the board (64-bit Raspberry Pi OS; onnxruntime publishes aarch64 wheels):", "",
                "```sh", "scp -r . pi@raspberrypi.local:~/edgeslim-model", "ssh pi@raspberrypi.local", "cd ~/edgeslim-model", "```", ""]
    else:
        out += ["Copy this folder to the machine that will run it.", ""]
    out += _infer_lines()
    out += ["", "From your own code:", "", "```python", "import json, numpy as np, onnxruntime as ort",
            "card = json.load(open('model.json'))",
            f"session = ort.InferenceSession('{model['onnx_file']}', providers=['CPUExecutionProvider'])",
            f"logits = session.run(None, {{{str(card['input']['name'])!r}: x}})[0]  # x: float32 {_shape_x(card)}, preprocessed as below",
            "```"]
    if model["format"] == "pt2":
        out += ["", f"`{model['file']}` is a `torch.export` program for PyTorch on the device: "
                f"`torch.export.load('{model['file']}').module()(x)`; `{model['onnx_file']}` is the same model for ONNX Runtime."]
    return out


def _run_tensorrt(card: dict, profile: TargetProfile) -> list[str]:
    model, name = card["model"], card["input"]["name"]
    onnx_file = model["onnx_file"]
    flags = {"fp16": " --fp16", "int8": " --int8 --fp16"}.get(model["precision"], "")
    shapes = " ".join(shlex.quote(f"--{k}Shapes={name}:{_shape_x(card, b)}") for k, b in (("min", 1), ("opt", 1), ("max", 8)))
    out = ["Copy this folder to the Jetson (JetPack 6 with TensorRT installed):", "",
           "```sh", "scp -r . jetson@jetson.local:~/edgeslim-model", "```", "",
           "Build a TensorRT engine on the Jetson itself (an engine is tied to its GPU and TensorRT version):", "",
           "```sh", "cd ~/edgeslim-model",
           f"/usr/src/tensorrt/bin/trtexec --onnx={onnx_file} --saveEngine=model.engine{flags} {shapes}",
           f"/usr/src/tensorrt/bin/trtexec --loadEngine=model.engine {shlex.quote(f'--shapes={name}:{_shape_x(card)}')}   # time it",
           "```", ""]
    if model["precision"] == "int8":
        out += ["The int8 file is QDQ with symmetric scales: TensorRT reads the scales from it, no calibration cache is needed. "
                "`--fp16` lets layers left unquantized run in fp16.", ""]
    elif model["precision"] == "fp32":
        out += ["Add `--fp16` to let TensorRT use fp16 kernels (usually faster); re-check accuracy if you do.", ""]
    out += ["To run it from Python, install NVIDIA's onnxruntime-gpu wheel for JetPack and use the bundled script "
            "with `--provider tensorrt` (or `cuda`):", "",
            "```sh", "python3 infer.py photo.jpg --top-k 5 --provider tensorrt", "```"]
    if model["format"] == "pt2":
        out += ["", f"`{model['file']}` is a `torch.export` program for PyTorch on the Jetson (NVIDIA's PyTorch wheels for JetPack)."]
    return out


def _memory_report(card: dict, profile: TargetProfile) -> list[str]:
    est = card["estimate"]
    flash, ram = profile.memory.storage_bytes, profile.memory.ram_bytes
    return [
        "Memory report (EdgeSlim's estimate; the vendor tool's analysis is the reference):", "",
        "| | bytes | share of the target |", "|---|---:|---:|",
        f"| weights (flash) | {est['weight_bytes']:,} ({fmt.size(est['weight_bytes'])}) | {100 * est['weight_bytes'] / flash:.1f} % of {fmt.size(flash)} |",
        f"| activations, peak (RAM) | {est['peak_activation_bytes']:,} ({fmt.size(est['peak_activation_bytes'])}) | "
        f"{100 * est['peak_activation_bytes'] / ram:.1f} % of {fmt.size(ram)} |",
        f"| compute | {est['macs']:,} MACs | {_ms(est['latency_ms'])} roofline lower bound |",
    ]


def _run_stedgeai(card: dict, profile: TargetProfile) -> list[str]:
    f = card["model"]["onnx_file"]
    return [
        "Import the int8 QDQ ONNX file into ST Edge AI Core (the `stedgeai` command line, or STM32CubeMX → "
        "X-CUBE-AI → add network → ONNX):", "",
        "```sh",
        f"stedgeai analyze  --model {f} --target stm32h7    # flash and RAM report: compare with the table below",
        f"stedgeai validate --model {f} --target stm32h7    # on the host; add --mode target with a board attached",
        f"stedgeai generate --model {f} --target stm32h7 --output st_ai_output   # the C library for your project",
        "```", "",
        "The input stays float32 (the graph quantizes it): feed the network preprocessed as described below. "
        "The batch dimension is fixed to 1 because the tool needs static shapes.", "",
        *_memory_report(card, profile), "",
        *_infer_lines("a PC, before flashing,"),
    ]


def _run_espdl(card: dict, profile: TargetProfile) -> list[str]:
    f = card["model"]["onnx_file"]
    return [
        "ESP-DL runs `.espdl` files, which ESP-PPQ makes from this float ONNX model on a PC, quantizing it to 8 bit "
        "with calibration images (use images from your training set, preprocessed as below):", "",
        "```python",
        "# pip install esp-ppq",
        "from esp_ppq.api import espdl_quantize_onnx",
        f"espdl_quantize_onnx(onnx_import_file='{f}', espdl_export_file='model.espdl',",
        "                    calib_dataloader=loader, calib_steps=8,  # loader yields preprocessed float32 tensors",
        f"                    input_shape=[{', '.join(_shape_x(card).split('x'))}], target='esp32s3', num_of_bits=8, device='cpu')",
        "```", "",
        "Then add `model.espdl` to your ESP-IDF project with the ESP-DL component and run it with `dl::Model` "
        "(see ESP-DL's how-to guides for the version you use). The batch dimension is fixed to 1.", "",
        *_memory_report(card, profile), "",
        *_infer_lines("a PC, before flashing,"),
    ]


# --------------------------------------------------------------------------- HTML report


def _points(card: dict) -> list[dict]:
    """(label, size, accuracy, kind) for the plot and the table: the run's stages, then the exported file."""
    m = card["metrics"]
    rows: list[dict] = []
    run = m.get("run")
    if run:
        if run.get("baseline"):
            rows.append({"label": "baseline", "kind": "baseline", **run["baseline"]})
        for s in run.get("steps", []):
            rows.append({"label": f"{s['index']}. {s['technique']}", "kind": "step", **s["metrics"]})
    elif m.get("reference"):
        rows.append({"label": "model as loaded", "kind": "baseline", **m["reference"]})
    measured = _measured(card)
    rows.append({
        "label": f"exported ({card['model']['format']})", "kind": "export", "accuracy": m.get("accuracy"),
        "size_bytes": m.get("size_bytes"), "macs": m.get("macs"),
        "latency_ms": measured["median_ms"] if measured else None, "estimated_ms": card["estimate"]["latency_ms"],
    })
    return rows


def tradeoff_svg(points: list[dict], width: int = 560, height: int = 320) -> str:
    """Accuracy against model size, each stage a dot, the stages joined in order, the exported file highlighted."""
    pts = [p for p in points if p.get("accuracy") is not None and p.get("size_bytes")]
    if not pts:
        return "<p>No accuracy and size figures to plot.</p>"
    left, right, top, bottom = 64, 20, 20, 48
    xs = [p["size_bytes"] / 1024 for p in pts]
    ys = [100 * p["accuracy"] for p in pts]
    x_ticks = _nice_ticks(0.0, max(xs) * 1.08)
    y_lo, y_hi = min(ys), max(ys)
    pad = max(1.0, (y_hi - y_lo) * 0.12)
    y_ticks = _nice_ticks(max(0.0, y_lo - pad), min(100.0, y_hi + pad))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * (width - left - right)

    def sy(v: float) -> float:
        return top + (y1 - v) / (y1 - y0) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             'role="img" aria-label="accuracy against model size" font-family="sans-serif" font-size="11">',
             f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" fill="#fafafa" stroke="#ccc"/>']
    for xv in x_ticks:
        parts.append(f'<line x1="{sx(xv):.1f}" y1="{top}" x2="{sx(xv):.1f}" y2="{height - bottom}" stroke="#eee"/>')
        parts.append(f'<text x="{sx(xv):.1f}" y="{height - bottom + 16}" text-anchor="middle">{xv:,.4g}</text>')
    for yv in y_ticks:
        parts.append(f'<line x1="{left}" y1="{sy(yv):.1f}" x2="{width - right}" y2="{sy(yv):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{sy(yv) + 4:.1f}" text-anchor="end">{yv:.4g}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 10}" text-anchor="middle">model file size (KiB)</text>')
    parts.append(f'<text x="14" y="{(top + height - bottom) / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {(top + height - bottom) / 2})">top-1 accuracy (%)</text>')
    path = [p for p in pts if p["kind"] != "export"]
    if len(path) > 1:
        d = " ".join(f"{'M' if i == 0 else 'L'}{sx(p['size_bytes'] / 1024):.1f},{sy(100 * p['accuracy']):.1f}" for i, p in enumerate(path))
        parts.append(f'<path d="{d}" fill="none" stroke="#7a9cc6" stroke-width="1.5"/>')
    colours = {"baseline": "#666", "step": "#2f6db5", "export": "#e0701b"}
    for p in pts:  # the exported file's dot last, on top
        cx, cy = sx(p["size_bytes"] / 1024), sy(100 * p["accuracy"])
        r = 7 if p["kind"] == "export" else 5
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r}" fill="{colours[p["kind"]]}" fill-opacity="0.9"><title>'
                     f'{html.escape(p["label"])}: {100 * p["accuracy"]:.2f} %, {p["size_bytes"] / 1024:,.1f} KiB</title></circle>')
    placed: list[tuple[float, float, float, float]] = []
    for p in sorted(pts, key=lambda q: q["kind"] != "export"):  # the exported file's label placed first
        cx, cy = sx(p["size_bytes"] / 1024), sy(100 * p["accuracy"])
        tx, ty, anchor = _label_spot(p["label"], cx, cy, width, height - bottom, placed)
        parts.append(f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}" fill="{colours[p["kind"]]}">{html.escape(p["label"])}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 × 10^k apart) covering lo..hi."""
    import math

    span = max(hi - lo, 1e-9)
    raw = span / (count - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = [start]
    while ticks[-1] < hi - 1e-9:
        ticks.append(ticks[-1] + step)
    return [round(t, 10) for t in ticks]


def _label_spot(label: str, cx: float, cy: float, width: float, floor: float,
                placed: list[tuple[float, float, float, float]]) -> tuple[float, float, str]:
    """Where a point's label goes: beside it, above or below, wherever it overlaps no label placed before."""
    w, h = 6.2 * len(label), 12.0
    anchor = "end" if cx > width * 0.65 else "start"
    dx = -9 if anchor == "end" else 9
    for dy in (-8, 16, -22, 30, -36, 44):
        x0 = cx + dx - (w if anchor == "end" else 0)
        box = (x0, cy + dy - h + 2, x0 + w, cy + dy + 2)
        if box[1] > 0 and box[3] < floor and not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            break
    placed.append(box)
    return cx + dx, cy + dy, anchor


def report_html(card: dict) -> str:
    """One self-contained page: metrics table, trade-off plot, fit, estimate and parity."""
    e = html.escape
    est, fit = card["estimate"], card["fit"]
    rows = _points(card)
    table = "\n".join(
        "<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in (
            r["label"], _pct(r.get("accuracy")), fmt.size(r.get("size_bytes")), fmt.si(r.get("macs")),
            _ms(r.get("latency_ms")), _ms(r.get("estimated_ms")) if r["kind"] == "export" else "—",
        )) + "</tr>" for r in rows
    )
    problems = "".join(f"<li>{e(p['message'])}</li>" for p in fit["problems"])
    warnings = "".join(f"<li>{e(w)}</li>" for w in fit["warnings"])
    assumptions = "".join(f"<li>{e(a)}</li>" for a in est["assumptions"])
    parity = "".join(f"<li>{e(p['summary'])}</li>" for p in card["parity"])
    measured = _measured(card)
    where = f" (ONNX Runtime CPU on {e(measured['machine'])}, {measured['threads']} threads, batch {measured['batch']})" if measured else ""
    verdict = "fits" if fit["fits"] else "does not fit"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{e(card['name'])} for {e(card['target']['label'])}</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; color: #222; line-height: 1.4; }}
table {{ border-collapse: collapse; }} td, th {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }} .fits {{ color: #1b7a2e; }} .misfit {{ color: #b3261e; }}
small {{ color: #666; }}
</style></head><body>
<h1>{e(card['name'])} → {e(card['target']['label'])}</h1>
<p>{e(card['model']['format'])} ({e(card['model']['precision'])}), {fmt.size(card['model']['bytes'])}, exported by EdgeSlim
{e(card['edgeslim'])} on {e(card['created'][:10])}. Verdict: <b class="{'fits' if fit['fits'] else 'misfit'}">{verdict}</b>.</p>
<h2>Metrics</h2>
<table><tr><th>stage</th><th>top-1</th><th>size</th><th>MACs</th><th>measured latency</th><th>estimated on target</th></tr>
{table}
</table>
<p><small>Measured latency: this machine{where}, not the target. Estimated: roofline lower bound on {e(card['target']['label'])}
at {e(est['precision'])}. The exported file's accuracy is on {card['metrics'].get('accuracy_images')} validation images.</small></p>
<h2>Trade-off</h2>
{tradeoff_svg(rows)}
<h2>Fit on {e(card['target']['label'])}</h2>
<ul>{problems}{warnings}<li>storage needed {fmt.size(est['storage_bytes'])}; peak activations {fmt.size(est['peak_activation_bytes'])}
at <code>{e(est['peak_at'])}</code>; weights {fmt.size(est['weight_bytes'])}; RAM needed {fmt.size(est['ram_bytes'])}</li></ul>
<h3>Assumptions of the estimate</h3>
<ul>{assumptions}</ul>
<h2>Parity</h2>
<ul>{parity}</ul>
</body></html>
"""
