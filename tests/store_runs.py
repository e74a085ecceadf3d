"""Stored runs with hand-set metrics, for tests of what is shown of a workspace (no model is run).

The metrics have the shape the runner stores (``baseline`` / ``final`` /
``steps`` of result.json) so every reader sees what a real run leaves.
"""

from __future__ import annotations

from typing import Optional

from core.store.workspace import Workspace

BASELINE = {"accuracy": 0.99, "size_bytes": 700_000, "zip_bytes": 650_000, "macs": 26_000_000, "params": 175_000,
            "latency_ms": {"onnxruntime": 0.20}}


def final_metrics(accuracy: float, size: int, macs: int, latency: float, params: int = 100_000) -> dict:
    return {"accuracy": accuracy, "size_bytes": size, "zip_bytes": int(size * 0.9), "macs": macs, "params": params,
            "latency_ms": {"onnxruntime": latency},
            "ratios": {"size": BASELINE["size_bytes"] / size, "speedup_onnxruntime": BASELINE["latency_ms"]["onnxruntime"] / latency}}


def prune_layers(ratio: float) -> list[dict]:
    """Step records of a structured prune of two layers (channels, params, MACs before and after)."""
    keep = 1 - ratio
    return [{"layer": name, "type": "Conv2d", "out_channels_before": ch, "out_channels": int(ch * keep),
             "params_before": p, "params": int(p * keep), "macs_before": m, "macs": int(m * keep)}
            for name, ch, p, m in (("conv1", 16, 432, 442_368), ("layer1.0.conv1", 16, 2304, 2_359_296))]


def add_run(
    ws: Workspace, name: str, techniques: list[str], final: Optional[dict], status: str = "done",
    steps: Optional[list] = None, model_spec: str = "demo", sweep_id: Optional[int] = None,
) -> int:
    run_id = ws.create_run(name=name, recipe_name=name, recipe_toml="", techniques=techniques, model_spec=model_spec,
                           data_spec="demo", load_options={}, options={}, trial_key=f"key-{name}", sweep_id=sweep_id)
    ws.start_run(run_id)
    result = {"baseline": BASELINE, "final": final, "steps": steps or [], "seconds": 3.0}
    if status == "running":
        ws.record_progress(run_id, result)
    else:
        ws.finish_run(run_id, status, result, error="stopped" if status != "done" else None)
    return run_id


def fill(ws: Workspace) -> dict[str, int]:
    """Eleven runs across the families, two of them not done; names -> ids."""
    runs = {
        "int8": (["quantize.static"], final_metrics(0.989, 190_000, 26_000_000, 0.10)),
        "fp16": (["quantize.fp16"], final_metrics(0.990, 350_000, 26_000_000, 0.28)),
        "prune30": (["prune.structured", "finetune"], final_metrics(0.985, 360_000, 13_000_000, 0.14)),
        "prune50": (["prune.structured", "finetune"], final_metrics(0.972, 180_000, 6_800_000, 0.11)),
        "prune70": (["prune.structured", "finetune"], final_metrics(0.90, 80_000, 2_500_000, 0.08)),
        "chain": (["prune.structured", "finetune", "quantize.static"], final_metrics(0.975, 60_000, 6_800_000, 0.09)),
        "tucker": (["lowrank.tucker", "finetune"], final_metrics(0.983, 420_000, 15_000_000, 0.21)),
        "kd": (["distill.kd"], final_metrics(0.988, 180_000, 7_000_000, 0.12)),
        "sparse": (["prune.unstructured", "finetune"], final_metrics(0.983, 700_000, 26_000_000, 0.20)),
    }
    ids = {}
    for name, (techniques, final) in runs.items():
        steps = [{"index": 1, "technique": "prune.structured", "layers": prune_layers(0.5 if name != "prune30" else 0.3)}] \
            if "prune.structured" in techniques else []
        ids[name] = add_run(ws, name, techniques, final, steps=steps)
    ids["failed"] = add_run(ws, "failed", ["quantize.qat"], None, status="failed")
    ids["cancelled"] = add_run(ws, "cancelled", ["prune.structured", "finetune"], final_metrics(0.60, 180_000, 6_800_000, 0.11),
                               status="cancelled")
    return ids
