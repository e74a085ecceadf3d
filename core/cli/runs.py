"""``edgeslim-cli runs …``: list, show, resume, delete the runs kept in a workspace, and their Pareto front.

Registered by :func:`core.cli.main.build_parser`; shares the argument helpers
and progress line of ``core.cli.common``.
"""

from __future__ import annotations

import argparse
from core.controls import ask
from core.cli.common import StderrProgress, _print_json, metric_cells
from core.cli.workspace import workspace_for
from core.errors import EdgeSlimError


# --------------------------------------------------------------------------- runs


def cmd_runs_list(args: argparse.Namespace) -> int:
    from core import fmt
    from core.pipeline.pareto import floors_from_baselines, pareto_indices

    with workspace_for(args, read=True) as ws:
        runs = ws.list_runs(status=args.status)
        done = [r for r in runs if r.status == "done" and r.final]
        floors = floors_from_baselines([r.baseline for r in done])  # a model far below its baseline is not a trade-off
        front = {done[i].id for i in pareto_indices([r.final for r in done], ["size", "accuracy"], floors)} if done else set()
        if args.json:
            _print_json({"workspace": str(ws.path), "interrupted_now": ws.interrupted, "runs": [
                {"id": r.id, "name": r.name, "recipe": r.recipe_name, "status": r.status, "techniques": r.techniques,
                 "sweep_id": r.sweep_id, "created": r.created, "final": r.final, "pareto": r.id in front} for r in runs
            ]})
            return 0
        rows = [[str(r.id), r.name[:48], r.status, ", ".join(r.techniques), *metric_cells(r.final, r.baseline),
                 "★" if r.id in front else ""] for r in runs]
        print(fmt.table(["id", "name", "status", "techniques", "top-1", "Δ pt", "size", "MACs", "ORT ms", "Pareto"], rows, "rlllrrrrrl"))
        for run_id in ws.interrupted:
            print(f"run {run_id} was interrupted (its process stopped); resume it with: edgeslim-cli runs resume {run_id}")
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    from core.cli.common import run_table

    from core.devices.measurements import measurements_for_run

    with workspace_for(args, read=True) as ws:
        row = ws.get_run(args.id)
        measured = measurements_for_run(ws, row.id)
    if args.json:
        _print_json({**row.to_dict(), "measurements": measured})
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
    for m in measured:
        print(f"measured on {m['device']} ({m['role']}): median {m['latency_ms']['median']:.3f} ms, "
              f"p90 {m['latency_ms']['p90']:.3f} ms — {m['device_description']}")
    from core.store.workspace import missing_artifacts

    missing = missing_artifacts(row) if row.status == "done" else []
    if missing:
        print(f"note: this run's files are missing ({', '.join(missing)}); make them again with "
              f"`edgeslim-cli runs resume {row.id}`, or delete the run with `edgeslim-cli runs delete {row.id}`")
    return 0


def cmd_runs_resume(args: argparse.Namespace) -> int:
    from core.app.execute import resume_run

    progress = StderrProgress(enabled=not args.quiet)
    with workspace_for(args) as ws:
        row = resume_run(ws, args.id, trust=args.trust, progress=progress).row
    progress.done()
    if args.json:
        _print_json(row.to_dict())
    else:
        print(f"run {row.id} resumed: {row.status}")
    return 0 if row.status == "done" else 130


def cmd_runs_delete(args: argparse.Namespace) -> int:
    with workspace_for(args) as ws:
        ws.delete_run(args.id)
    print(f"run {args.id} deleted")
    return 0


def cmd_runs_pareto(args: argparse.Namespace) -> int:
    from core import fmt
    from core.pipeline.pareto import floors_from_baselines, metric, summarise

    objectives = [args.x, args.y] + ([args.z] if args.z else [])
    with workspace_for(args) as ws:
        done = [r for r in ws.list_runs(status="done") if r.final and (args.sweep is None or r.sweep_id == args.sweep)]
    if not done:
        raise EdgeSlimError("the workspace has no finished runs", f"run a recipe or a sweep with {ask('workspace', action=False)} first")
    floors = floors_from_baselines([r.baseline for r in done], args.floor_pt)
    summary = summarise([r.final for r in done], done[0].baseline or {}, objectives, floors)
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
    q.add_argument("--floor-pt", type=float, default=5.0, metavar="PT",
                   help="leave out runs more than PT accuracy points below their baseline (default 5)")
    q.set_defaults(func=cmd_runs_pareto)
