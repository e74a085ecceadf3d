"""``edgeslim-cli sweep`` and ``edgeslim-cli runs …``: experiments kept in a workspace.

Registered by :func:`core.cli.build_parser`; shares its argument helpers,
progress line and one-line error handling.
"""

from __future__ import annotations

import argparse
from typing import Optional

from core.cli.common import StderrProgress, _add_data_args, _add_model_args, _add_timing_args, _positive, _print_json, load_options
from core.errors import EdgeSlimError


def _workspace(args: argparse.Namespace, read: bool = False):
    from core.cli.workspace import open_workspace, open_workspace_to_read

    if read:  # listing and showing: a read-only workspace opens read-only
        return open_workspace_to_read(args.workspace)
    return open_workspace(args.workspace)  # says so when it creates one (a mistyped path)


def _metric_cells(final: Optional[dict], baseline: Optional[dict]) -> list[str]:
    from core import fmt

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


# --------------------------------------------------------------------------- sweep


def cmd_sweep(args: argparse.Namespace) -> int:
    from core import fmt
    from core.pipeline.executors import make_executor
    from core.pipeline.runner import RunOptions
    from core.pipeline.sweep import load_sweep, run_sweep, trial_name

    sweep = load_sweep(args.sweep)  # a bad sweep file fails before anything is loaded or started
    if args.workers and args.cluster:
        raise EdgeSlimError("--workers and --cluster both given", "use --workers N for local processes or --cluster ADDR for Dask")
    from core.cli.common import _load_data, _load_model
    from core.cli.workspace import check_workspace_writable

    check_workspace_writable(args.workspace)  # read-only or full: said before the model is loaded
    _load_data(args, _load_model(args))  # model and data that do not fit fail here once, not in every trial
    with _workspace(args) as ws:  # opened now, and announced when new, not after the first trial
        ws_path = ws.path
    progress = StderrProgress(enabled=not args.quiet)
    executor = make_executor(args.workers, args.cluster)
    options = RunOptions(batch=args.batch, threads=args.threads, repeats=args.repeats)
    outcome = run_sweep(sweep, ws_path, args.model, args.data, load_options=load_options(args), options=options,
                        executor=executor, progress=progress)
    progress.done()
    if args.json:
        _print_json({"workspace": str(ws_path), **outcome.to_dict()})
        return 0 if outcome.status == "done" else 130
    rows = []
    for t in outcome.trials:
        rows.append([str(t.number), str(t.run_id or "—"), trial_name(sweep.name, t.point), t.status + (" (reused)" if t.reused else ""),
                     *_metric_cells(t.final, t.baseline), "yes" if t.run_id in outcome.front else ""])
    print(fmt.table(["trial", "run", "settings", "status", "top-1", "Δ pt", "size", "MACs", "ORT ms", "Pareto"], rows, "rrllrrrrrl"))
    print(f"sweep {outcome.sweep_id} in {ws_path}: {len(outcome.trials)} trials in {outcome.seconds:.0f} s on {executor.describe()}; "
          f"Pareto front ({' vs '.join(outcome.objectives)}): runs {outcome.front}, hypervolume {outcome.hypervolume:.4f}")
    for t in outcome.trials:
        if t.error:
            print(f"trial {t.number}: {t.error}")
    return 0 if outcome.status == "done" else 130


# --------------------------------------------------------------------------- runs


def cmd_runs_list(args: argparse.Namespace) -> int:
    from core import fmt
    from core.pipeline.pareto import pareto_indices

    with _workspace(args, read=True) as ws:
        runs = ws.list_runs(status=args.status)
        done = [r for r in runs if r.status == "done" and r.final]
        front = {done[i].id for i in pareto_indices([r.final for r in done], ["size", "accuracy"])} if done else set()
        if args.json:
            _print_json({"workspace": str(ws.path), "interrupted_now": ws.interrupted, "runs": [
                {"id": r.id, "name": r.name, "recipe": r.recipe_name, "status": r.status, "techniques": r.techniques,
                 "sweep_id": r.sweep_id, "created": r.created, "final": r.final, "pareto": r.id in front} for r in runs
            ]})
            return 0
        rows = [[str(r.id), r.name[:48], r.status, ", ".join(r.techniques), *_metric_cells(r.final, r.baseline),
                 "★" if r.id in front else ""] for r in runs]
        print(fmt.table(["id", "name", "status", "techniques", "top-1", "Δ pt", "size", "MACs", "ORT ms", "Pareto"], rows, "rlllrrrrrl"))
        for run_id in ws.interrupted:
            print(f"run {run_id} was interrupted (its process stopped); resume it with: edgeslim-cli runs resume {run_id}")
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    from core.cli.common import run_table

    with _workspace(args, read=True) as ws:
        row = ws.get_run(args.id)
    if args.json:
        _print_json(row.to_dict())
        return 0
    print(f"run {row.id}: {row.name}  [{row.status}]  model {row.model_spec}, data {row.data_spec}")
    if row.baseline:
        print(run_table({"baseline": row.baseline, "steps": row.steps}))
    for step in row.steps:
        print(f"step {step['index']} {step['technique']}: {step['summary']}")
    if row.error:
        print(f"error: {row.error}")
    for kind, path in row.artifacts.items():
        print(f"{kind}: {path}")
    from core.store.workspace import missing_artifacts

    missing = missing_artifacts(row) if row.status == "done" else []
    if missing:
        print(f"note: this run's files are missing ({', '.join(missing)}); make them again with "
              f"`edgeslim-cli runs resume {row.id}`, or delete the run with `edgeslim-cli runs delete {row.id}`")
    return 0


def cmd_runs_resume(args: argparse.Namespace) -> int:
    from core.app.execute import resume_run

    progress = StderrProgress(enabled=not args.quiet)
    with _workspace(args) as ws:
        row = resume_run(ws, args.id, trust=args.trust, progress=progress).row
    progress.done()
    if args.json:
        _print_json(row.to_dict())
    else:
        print(f"run {row.id} resumed: {row.status}")
    return 0 if row.status == "done" else 130


def cmd_runs_delete(args: argparse.Namespace) -> int:
    with _workspace(args) as ws:
        ws.delete_run(args.id)
    print(f"run {args.id} deleted")
    return 0


def cmd_runs_pareto(args: argparse.Namespace) -> int:
    from core import fmt
    from core.pipeline.pareto import metric, summarise

    objectives = [args.x, args.y] + ([args.z] if args.z else [])
    with _workspace(args) as ws:
        done = [r for r in ws.list_runs(status="done") if r.final and (args.sweep is None or r.sweep_id == args.sweep)]
    if not done:
        raise EdgeSlimError("the workspace has no finished runs", "run a recipe or a sweep with --workspace first")
    summary = summarise([r.final for r in done], done[0].baseline or {}, objectives)
    front = [done[i] for i in summary.indices]
    if args.json:
        _print_json({"objectives": objectives, "hypervolume": summary.hypervolume,
                     "front": [{"id": r.id, "name": r.name, **{o: metric(r.final, o) for o in objectives}} for r in front]})
        return 0
    rows = [[str(r.id), r.name[:48], *(f"{metric(r.final, o):.4g}" for o in objectives)] for r in front]
    print(fmt.table(["id", "name", *objectives], rows, "rl" + "r" * len(objectives)))
    print(f"{len(front)} of {len(done)} finished runs on the front; hypervolume {summary.hypervolume:.4f} "
          "(costs relative to the baseline, up to the baseline's size/latency/MACs and zero accuracy)")
    return 0


# --------------------------------------------------------------------------- registration


def add_commands(sub) -> None:
    p = sub.add_parser("sweep", help="run a grid or Optuna sweep of a recipe; every trial is a stored run")
    p.add_argument("sweep", metavar="SWEEP.toml")
    _add_model_args(p, option=True)
    _add_data_args(p, required=True)
    p.add_argument("--workspace", metavar="W", help="workspace folder (default: the user's EdgeSlim workspace)")
    p.add_argument("--workers", type=_positive, help="run trials in N local worker processes")
    p.add_argument("--cluster", metavar="ADDR", help="run trials on a Dask cluster: tcp://HOST:PORT, or local:N for a local one")
    _add_timing_args(p, repeats=30, threads_help="CPU threads per trial (default 2)")
    p.set_defaults(func=cmd_sweep)

    runs = sub.add_parser("runs", help="list, show, resume, delete stored runs; their Pareto front")
    rsub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--workspace", metavar="W", help="workspace folder (default: the user's EdgeSlim workspace)")
        q.add_argument("--json", action="store_true", help="print one JSON object")

    q = rsub.add_parser("list", help="every run with its final metrics and whether it is on the size/accuracy front")
    common(q)
    q.add_argument("--status", choices=("queued", "running", "done", "failed", "cancelled", "interrupted"))
    q.set_defaults(func=cmd_runs_list)
    q = rsub.add_parser("show", help="one run: baseline and every step")
    common(q)
    q.add_argument("id", type=int)
    q.set_defaults(func=cmd_runs_show)
    q = rsub.add_parser("resume", help="run an interrupted, failed or cancelled run again (or a done one whose files are gone)")
    common(q)
    q.add_argument("id", type=int)
    q.add_argument("--trust", action="store_true",
                   help="allow loading the run's model if it is a full pickle (asked again on every resume; never stored)")
    q.add_argument("--quiet", action="store_true", help="no progress on stderr")
    q.set_defaults(func=cmd_runs_resume)
    q = rsub.add_parser("delete", help="delete a run and its files (not while it runs)")
    common(q)
    q.add_argument("id", type=int)
    q.set_defaults(func=cmd_runs_delete)
    q = rsub.add_parser("pareto", help="the Pareto front of finished runs over two or three objectives")
    common(q)
    choices = ("accuracy", "size", "latency", "macs", "zip")
    q.add_argument("--x", default="size", choices=choices)
    q.add_argument("--y", default="accuracy", choices=choices)
    q.add_argument("--z", choices=choices, help="a third objective")
    q.add_argument("--sweep", type=int, help="only the runs of this sweep")
    q.set_defaults(func=cmd_runs_pareto)
