"""``edgeslim-cli sweep``: a grid or Optuna sweep of a recipe, every trial a stored run.

Registered by :func:`core.cli.main.build_parser`. It checks the sweep file, the
workspace, the device and that model and data fit before any trial starts,
then runs the core sweep service and prints its trials and Pareto front.
"""

from __future__ import annotations

import argparse

from core.controls import ask
from core.cli.common import (
    StderrProgress, _add_data_args, _add_device_arg, _add_model_args, _add_timing_args, _positive, _print_json,
    checked_device, data_source, metric_cells, model_source,
)
from core.cli.workspace import workspace_for
from core.errors import EdgeSlimError


def cmd_sweep(args: argparse.Namespace) -> int:
    from core import fmt
    from core.app.executors import make_executor
    from core.app.sweep import SweepRequest, execute_sweep
    from core.cli.workspace import check_workspace_writable
    from core.pipeline.runner import RunOptions
    from core.pipeline.sweep import load_sweep, trial_name

    sweep = load_sweep(args.sweep)  # a bad sweep file fails before anything is loaded or started
    if args.workers and args.cluster:
        raise EdgeSlimError(f"{ask('workers', action=False)} and {ask('cluster', action=False)} both given",
                            f"use {ask('workers', action=False)} N for local processes or {ask('cluster', action=False)} ADDR for Dask")
    device = checked_device(args)
    check_workspace_writable(args.workspace)  # read-only or full: said before the model is loaded
    msource, dsource = model_source(args), data_source(args)
    dsource.load(msource.load())  # model and data that do not fit fail here once, not in every trial
    with workspace_for(args) as ws:  # opened now, and announced when new, not after the first trial
        ws_path = ws.path
    progress = StderrProgress(enabled=not args.quiet)
    executor = make_executor(args.workers, args.cluster)
    options = RunOptions(batch=args.batch, threads=args.threads, repeats=args.repeats, device=device)
    request = SweepRequest(sweep, ws_path, msource, dsource, options)
    outcome = execute_sweep(request, progress.emit, executor=executor)
    progress.done()
    if args.json:
        _print_json({"workspace": str(ws_path), **outcome.to_dict()})
        return 0 if outcome.status == "done" else 130
    rows = []
    for t in outcome.trials:
        rows.append([str(t.number), str(t.run_id or "—"), trial_name(sweep.name, t.point), t.status + (" (reused)" if t.reused else ""),
                     *metric_cells(t.final, t.baseline), "yes" if t.run_id in outcome.front else ""])
    print(fmt.table(["trial", "run", "settings", "status", "top-1", "Δ pt", "size", "MACs", "ORT ms", "Pareto"], rows, "rrllrrrrrl"))
    print(f"sweep {outcome.sweep_id} in {ws_path}: {len(outcome.trials)} trials in {outcome.seconds:.0f} s on {outcome.executor}; "
          f"Pareto front ({' vs '.join(outcome.objectives)}): runs {outcome.front}, hypervolume {outcome.hypervolume:.4f}")
    for t in outcome.trials:
        if t.error:
            print(f"trial {t.number}: {t.error}")
    return 0 if outcome.status == "done" else 130


def cmd_sweep_analysis(args: argparse.Namespace) -> int:
    """A stored sweep's finished trials and how much each swept setting decided each objective."""
    from core import fmt
    from core.app.sweep_analysis import OBJECTIVES, analyse_sweep

    objectives = [args.objective] if args.objective else list(OBJECTIVES)
    with workspace_for(args, read=True) as ws:
        a = analyse_sweep(ws, args.id, objectives)
        ws_path = ws.path
    if args.json:
        _print_json({"workspace": str(ws_path), "objectives": objectives, **a.to_dict()})
        return 0
    cells = {"accuracy": lambda v: f"{100 * v:.2f} %", "size": fmt.size, "latency": lambda v: f"{v:.3f} ms"}
    heads = {"accuracy": "top-1", "size": "size", "latency": "ORT ms"}
    rows = [[f"#{t.run_id}", *(_cell(t.values[p.key]) for p in a.params),
             *("—" if t.objectives[o] is None else cells[o](t.objectives[o]) for o in objectives)] for t in a.trials]
    print(fmt.table(["run", *(p.label for p in a.params), *(heads[o] for o in objectives)], rows,
                    "r" + "r" * len(a.params) + "r" * len(objectives)))
    print(f"sweep {a.sweep_id} ({a.name}, {a.mode or 'grid'}): {len(a.trials)} finished trial{'s' if len(a.trials) != 1 else ''}"
          + (f", {a.not_finished} not finished (not counted)" if a.not_finished else ""))
    imps = [a.importances[o] for o in objectives]
    table = [[p.key, *(("one value" if p.key in i.constant else "—") if p.key not in i.values else f"{i.values[p.key]:.3f}"
                       for i in imps)] for p in a.params]
    print("\nimportance of each swept setting (shares of 1 per objective):")
    print(fmt.table(["setting", *objectives], table, "l" + "r" * len(objectives)))
    for i in imps:
        print(f"{i.objective}: " + (f"by {i.evaluator}" if i.computed else f"not computed: {i.reason}"))
    return 0


def _cell(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def add_commands(sub) -> None:
    p = sub.add_parser("sweep", help="run a grid or Optuna sweep of a recipe; every trial is a stored run")
    p.add_argument("sweep", metavar="SWEEP.toml")
    _add_model_args(p, option=True)
    _add_data_args(p, required=True)
    p.add_argument("--workspace", metavar="W", help="workspace folder (default: the user's EdgeSlim workspace)")
    p.add_argument("--workers", type=_positive, help="run trials in N local worker processes")
    p.add_argument("--cluster", metavar="ADDR", help="run trials on a Dask cluster: tcp://HOST:PORT, or local:N for a local one")
    _add_device_arg(p)
    _add_timing_args(p, repeats=30, threads_help="CPU threads per trial (default 2)")
    p.set_defaults(func=cmd_sweep)

    from core.app.sweep_analysis import OBJECTIVES

    q = sub.add_parser("sweep-analysis", help="a stored sweep's trials and how much each swept setting mattered")
    q.add_argument("id", type=int, metavar="SWEEP_ID", help="the sweep's id (the sweep_id of its runs in `runs list --json`)")
    q.add_argument("--objective", choices=OBJECTIVES, help="rank the settings for this objective only (default: each)")
    q.add_argument("--workspace", metavar="W", help="workspace folder (default: the user's EdgeSlim workspace)")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=cmd_sweep_analysis)
