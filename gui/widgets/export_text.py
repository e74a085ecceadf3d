"""The Export page's sentences: fit, precision, latency and parity in words a user can act on.

Pure functions over the plain dicts the worker returns (``ExportPreview`` and
``ExportResult`` as data) and the target profiles, kept apart from the widgets
so the wording is tested without a window. Core's messages name the user's
controls through :mod:`core.controls`; the views render them with ``for_app``.
"""

from __future__ import annotations

from typing import Optional

from core import fmt

TIGHT = 0.85  # core.export.fit.TIGHT: a budget used beyond this leaves little for the application


def share_text(need: Optional[int], budget: int) -> str:
    """'192.00 KiB of 2.00 MiB · 9.4 %'."""
    if need is None:
        return "—"
    share = need / budget
    pct = f"{100 * share:.1f} %" if share >= 0.001 else "< 0.1 %"
    return f"{fmt.size(need)} of {fmt.size(budget)} · {pct}"


def share_level(share: Optional[float]) -> str:
    """ok | tight | over, for the bar's colour."""
    if share is None or share <= TIGHT:
        return "ok"
    return "tight" if share <= 1 else "over"


def target_summary(target) -> str:
    """One line about a profile: processor, memory, compute, runtime."""
    mem = target.memory
    word = "flash" if target.kind == "mcu" else "storage"
    gops = ", ".join(f"{v:g} GOPS {p}" for p, v in sorted(target.compute_gops.items(), key=lambda kv: -kv[1]))
    runtime = target.runtime.split("(")[0].split(":")[0].strip()
    return (f"{target.processor.split(';')[0]}. {fmt.size(mem.ram_bytes)} RAM, {fmt.size(mem.storage_bytes)} {word}, "
            f"{mem.bandwidth_gbs:g} GB/s; peak {gops}. Runs {runtime}; takes {', '.join(target.formats)}.")


FORMAT_WORDS = {
    "onnx": "fp32 ONNX: the model as it computes",
    "onnx-fp16": "fp16 ONNX: half-precision weights, fp32 inputs and outputs",
    "onnx-int8": "int8 ONNX (QDQ)",
    "pt2": "torch.export program for PyTorch, with model.onnx beside it",
}


def format_text(fmt_name: Optional[str], target) -> str:
    """What a format means on ``target`` (int8: how export quantizes for it)."""
    if fmt_name is None:
        return "The target's format for this model, keeping its precision where the target runs it."
    text = FORMAT_WORDS.get(fmt_name, fmt_name)
    if fmt_name == "onnx-int8":
        q = target.quantization
        text += (f"; an fp32 model is quantized during export ({q.types}{', symmetric' if q.symmetric else ''}, "
                 "calibrated on the data's calibration split)")
    elif fmt_name == "onnx-fp16":
        text += "; an fp32 model is converted during export"
    return text + "."


def precision_text(preview: dict, target) -> str:
    """What the file computes in, what export did to it, what the device computes in."""
    est = preview.get("estimate") or {}
    file_p, device_p = preview.get("precision"), est.get("precision")
    made = {"int8": "quantized during export (calibrated on the data's calibration split)",
            "fp16": "converted during export"}.get(preview.get("change") or "", "as the model is")
    text = f"{file_p} file, {made}"
    if device_p and device_p != file_p:
        text += f"; {target.toolchain} converts it to {device_p} on the device"
    elif file_p and file_p not in target.precisions:
        text += f"; {target.label} runs {', '.join(target.precisions)} only"
    elif file_p == "fp32" and "onnx-int8" in target.formats:
        text += "; the target also runs int8: the format onnx-int8 gives a file about 4× smaller, usually faster"
    return text


def latency_text(preview: dict, label: str) -> str:
    est = preview.get("estimate") or {}
    ms = est.get("latency_ms")
    if ms is None:
        return "—"
    return (f"≥ {ms:.3g} ms per image at {est.get('precision')} ({est.get('bound')}-bound) — a roofline lower bound at "
            f"the profile's peak figures; {label} will be slower")


def ops_text(preview: dict, target) -> tuple[str, str]:
    """(text, level): the op types in the file and whether the target runs them (ok | warn | error)."""
    ops = preview.get("op_types") or {}
    fit = preview.get("fit") or {}
    bad = [p["message"] for p in fit.get("problems", []) if p.get("kind") == "op"]
    n = f"{len(ops)} op type{'s' if len(ops) != 1 else ''}"
    if bad:
        return f"{n}; {target.label} cannot run {len(bad)} of them (see below)", "error"
    if fit.get("ops_warning"):
        return f"{n}; " + fit["ops_warning"], "warn"
    if not ops:
        return "—", "ok"
    if target.ops.supported:
        return f"{n}, all on the profile's list of supported ops ({', '.join(sorted(ops))})", "ok"
    return f"{n} ({', '.join(sorted(ops))}); {target.label}'s runtime runs every standard ONNX op", "ok"


def parity_meaning(p: dict) -> str:
    """One sentence on what a parity result means for the user."""
    tol = p.get("tolerance") or {}
    agree, samples = p.get("agreement", 0.0), p.get("samples", 0)
    acc = ""
    if p.get("file_accuracy") is not None and p.get("reference_accuracy") is not None:
        acc = f" Top-1 accuracy {100 * p['file_accuracy']:.2f} % (the model: {100 * p['reference_accuracy']:.2f} %)."
    if not p.get("passed"):
        return (f"Beyond tolerance: the file agrees on {100 * agree:.2f} % of {samples} images (needs ≥ "
                f"{100 * tol.get('min_agreement', 0):g} %) and its logits differ by up to {p.get('max_rel_diff', 0):.3g} of their "
                f"scale (allowed {tol.get('max_rel_diff', 0):g}).{acc}")
    change = p.get("change")
    if change == "int8":
        head = (f"Quantized during export: it picks the model's class on {100 * agree:.2f} % of {samples} validation images "
                f"(needs ≥ {100 * tol.get('min_agreement', 0):g} %); int8 rounding moves the logits by up to "
                f"{p.get('max_abs_diff', 0):.3g}.")
    elif change == "fp16":
        head = (f"Converted to fp16 during export: same class on {100 * agree:.2f} % of {samples} validation images, "
                f"logits within {p.get('max_abs_diff', 0):.3g}.")
    else:
        head = (f"Computes what the model computes: the same class on {100 * agree:.2f} % of {samples} validation images, "
                f"logits equal up to {p.get('max_abs_diff', 0):.2g} (rounding).")
    return head + acc
