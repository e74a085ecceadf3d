"""Sweep benchmark: a 12-trial grid on three executors, and an Optuna search against the grid.

On the demo model and data, one script, one machine:
1. the same 12-trial grid (prune.structured ratio × importance × int8 on/off,
   one epoch of fine-tuning) in-process (1 worker, 2 threads), in 2 local
   worker processes (1 thread each) and on a 2-worker Dask LocalCluster
   (1 thread each) — each in a fresh workspace so nothing is reused — wall
   time per executor and the Pareto front the grid finds;
2. an Optuna NSGA-II search of 12 trials over continuous ranges with a size
   constraint, and the hypervolume (accuracy vs ONNX size, baseline-normalised)
   of its feasible front next to the grid's.

    python tests/bench/bench_sweep.py [--skip-executors] [--trials 12]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from core import fmt
from core.app.executors import DaskExecutor, InProcessExecutor, ProcessPoolExecutor
from core.app.sources import DataSource, ModelSource
from core.app.sweep import run_sweep
from core.pipeline.pareto import summarise
from core.pipeline.runner import RunOptions
from core.pipeline.sweep import parse_sweep

BASE = """name = "base"
[[step]]
technique = "prune.structured"
ratio = 0.5
[[step]]
technique = "finetune"
epochs = 1
lr = 0.05
[[step]]
technique = "quantize.static"
"""
GRID = '''name = "grid12"
recipe = "base.toml"
[grid]
"prune.structured.ratio" = [0.25, 0.5, 0.75]
"prune.structured.importance" = ["l1", "random"]
"quantize.static" = ["on", "off"]
'''
OPTUNA = '''name = "nsga12"
recipe = "base.toml"
mode = "optuna"
trials = {trials}
sampler = "nsga2"
objectives = ["accuracy", "size"]
[search]
"prune.structured.ratio" = {{ min = 0.1, max = 0.85 }}
"prune.structured.importance" = ["l1", "random"]
"quantize.static" = ["on", "off"]
[constraints]
max_size_bytes = {max_size}
'''


def front_rows(outcome) -> list[list[str]]:
    by_id = {t.run_id: t for t in outcome.trials}
    rows = []
    for run_id in outcome.front:
        t = by_id[run_id]
        rows.append([str(run_id), ", ".join(f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
                                            for k, v in t.point.items()),
                     f"{100 * t.final['accuracy']:.2f}", fmt.size(t.final["size_bytes"]), fmt.si(t.final.get("macs"))])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-executors", action="store_true", help="run the grid in-process only")
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgeslim-sweep-bench-") as tmp:
        root = Path(tmp)
        (root / "base.toml").write_text(BASE)
        grid = parse_sweep(GRID, root, "grid12")
        executors = [("in-process, 1 worker × 2 threads", lambda: InProcessExecutor(), 2)]
        if not args.skip_executors:
            executors += [("2 local processes × 1 thread", lambda: ProcessPoolExecutor(2), 1),
                          ("Dask LocalCluster, 2 workers × 1 thread", lambda: DaskExecutor("local:2"), 1)]
        timing, grid_outcome = [], None
        for label, make, threads in executors:
            sys.stderr.write(f"grid on {label} ...\n")
            t0 = time.perf_counter()
            outcome = run_sweep(grid, root / f"ws-{len(timing)}", ModelSource("demo"), DataSource("demo"),
                                options=RunOptions(threads=threads, repeats=args.repeats), executor=make())
            wall = time.perf_counter() - t0
            done = sum(t.status == "done" for t in outcome.trials)
            timing.append([label, f"{done}/{len(outcome.trials)}", f"{wall:.0f} s", f"{wall / max(done, 1):.1f} s"])
            grid_outcome = grid_outcome or outcome
        print("# 12-trial grid on the demo: wall time per executor (fresh workspace each, nothing reused)")
        print(fmt.table(["executor", "trials done", "wall", "per trial"], timing, "lrrr"))
        print()
        print(f"# grid Pareto front (accuracy vs ONNX size): hypervolume {grid_outcome.hypervolume:.4f}")
        print(fmt.table(["run", "settings", "top-1 %", "ONNX size", "MACs"], front_rows(grid_outcome), "llrrr"))

        baseline = next(t.baseline for t in grid_outcome.trials if t.baseline)
        max_size = int(baseline["size_bytes"] * 0.3)
        optuna_sweep = parse_sweep(OPTUNA.format(trials=args.trials, max_size=max_size), root, "nsga12")
        sys.stderr.write("optuna search ...\n")
        t0 = time.perf_counter()
        search = run_sweep(optuna_sweep, root / "ws-optuna", ModelSource("demo"), DataSource("demo"), options=RunOptions(threads=2, repeats=args.repeats))
        wall = time.perf_counter() - t0
        feasible_grid = [t.final for t in grid_outcome.trials if t.final and t.final["size_bytes"] <= max_size]
        grid_hv = summarise(feasible_grid, baseline, ["accuracy", "size"]).hypervolume if feasible_grid else 0.0
        print()
        print(f"# Optuna NSGA-II, {args.trials} trials, constraint size ≤ {fmt.size(max_size)} (30 % of fp32), {wall:.0f} s")
        print(fmt.table(["run", "settings", "top-1 %", "ONNX size", "MACs"], front_rows(search), "llrrr"))
        print(fmt.table(["search", "trials", "feasible", "hypervolume (feasible front)"], [
            ["grid", str(len(grid_outcome.trials)), str(len(feasible_grid)), f"{grid_hv:.4f}"],
            ["optuna nsga2", str(len(search.trials)), str(sum(t.feasible for t in search.trials)), f"{search.hypervolume:.4f}"],
        ], "lrrr"))


if __name__ == "__main__":
    main()
