"""``edgeslim-cli run``: apply a recipe to a model, into a result folder or a workspace.

Registered by :func:`core.cli.main.build_parser`. Everything that can be wrong
with the arguments (the recipe, --out against --workspace, the device) fails
before the model is loaded; the run itself is the core run service.
"""

from __future__ import annotations

import argparse
import sys

from core.controls import ask
from core.cli.common import (
    StderrProgress, _add_data_args, _add_device_arg, _add_model_args, _add_timing_args, _fresh_line, _print_json,
    checked_device, data_source, model_source, run_table,
)
from core.errors import EdgeSlimError


def cmd_run(args: argparse.Namespace) -> int:
    from core.jobs import sub_progress
    from core.pipeline.recipe import load_recipe
    from core.pipeline.runner import RunOptions, run_recipe

    recipe = load_recipe(args.recipe)  # a bad recipe fails here, before any model is loaded
    recipe.check_order(input_is_onnx=str(args.model).lower().endswith(".onnx"))
    device = checked_device(args)  # a bad form, or CUDA on a machine without it: one line, nothing loaded
    output = None
    if args.workspace is not None and args.out:  # both given: one would be silently ignored
        out_flag, ws_flag = ask("out", action=False), ask("workspace", action=False)
        raise EdgeSlimError(f"{out_flag} and {ws_flag} were both given: a workspace run keeps its files in the workspace "
                            "(artifacts/run-N, shown by `runs show ID`)",
                            f"drop {out_flag} to store the run in the workspace, or drop {ws_flag} to write the result files to {out_flag} DIR")
    if args.workspace is None and args.out:  # before anything is loaded: never overwrite an input or, without --force, a result
        from core.run_output import RunOutput, input_paths

        output = RunOutput.check(args.out, input_paths([args.model, args.weights, args.data]), args.force)
    if args.workspace is not None:  # a read-only or full workspace is found now, not after loading and measuring
        from core.cli.workspace import check_workspace_writable

        check_workspace_writable(args.workspace)
    elif not args.out:
        raise EdgeSlimError(f"run needs {ask('out', action=False)} DIR or {ask('workspace', action=False)}",
                            f"{ask('out')} DIR for the result files, or {ask('workspace', action=False)} to store the run")
    msource, dsource = model_source(args), data_source(args)
    progress = StderrProgress(enabled=not args.quiet)
    progress(0.0, "loading model")
    model = msource.load()
    recipe.check_order(input_is_onnx=model.is_onnx)
    progress(0.01, "loading data")
    data = dsource.load(model)
    options = RunOptions(batch=args.batch, threads=args.threads, seed=args.seed, repeats=args.repeats, device=device)
    run_id = None
    if args.workspace is not None:
        from core.app.execute import RunRequest, execute_run, loaded_cache
        from core.cli.workspace import open_workspace

        with open_workspace(args.workspace) as ws:  # says so when it creates one (a mistyped path)
            request = RunRequest(recipe.to_toml(), msource, dsource, options, recipe.name)
            done = execute_run(ws, request, progress=sub_progress(progress, 0.02, 1.0), reuse=not args.no_reuse,
                               cache=loaded_cache(msource, dsource, model, data))
            row = done.row
            run_id = row.id
            if done.note:
                sys.stderr.write(f"{_fresh_line()}note: {done.note}\n")
            out = {"status": row.status, "recipe": recipe.to_dict(), "baseline": row.baseline, "final": row.final,
                   "steps": row.steps, "artifact": row.artifacts.get("onnx") or row.artifacts.get("pt2"),
                   "artifacts": row.artifacts, "seconds": row.seconds, "reused": done.reused, "device": row.device}
            status = row.status
    else:
        result, record = output.run(lambda folder: run_recipe(recipe, model, data, folder, options, progress=sub_progress(progress, 0.02, 1.0)))
        out = record or result.to_dict()
        status = result.status
    progress.done()
    if args.json:
        _print_json({
            "status": out["status"], "recipe": out["recipe"], "model": args.model, "data": args.data,
            "baseline": out["baseline"], "final": out["final"], "steps": out["steps"],
            "artifact": out["artifact"], "artifacts": out["artifacts"], "seconds": out["seconds"], "device": out.get("device"),
            **({"run_id": run_id, "reused": out.get("reused", False)} if run_id is not None else {}),
        })
    else:
        print(run_table(out))
        for step in out["steps"]:
            print(f"step {step['index']} {step['technique']}: {step['summary']}")
            for note in step["notes"]:
                print(f"  note: {note}")
        print(f"artifact: {out['artifact']}\nresult:   {out['artifacts'].get('result')}")
        if run_id is not None:
            print(f"stored as run {run_id}" + (" (an identical finished run, reused)" if out.get("reused") else ""))
    if status == "cancelled":
        return 130
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("run", help="apply a recipe (TOML) to a model and measure every step against the baseline")
    p.add_argument("recipe", metavar="RECIPE.toml", help="the recipe; examples in resources/recipes/")
    _add_model_args(p, option=True)
    _add_data_args(p, required=True)
    p.add_argument("--out", metavar="DIR", help="folder for result.json, the model files and per-step files")
    p.add_argument("--force", action="store_true", help="with --out: replace an earlier result in DIR (completely)")
    p.add_argument("--workspace", nargs="?", const="", metavar="W",
                   help="store the run in workspace W (the default workspace when W is left out); identical runs are reused")
    p.add_argument("--no-reuse", action="store_true", help="with --workspace: run even if an identical run is stored")
    p.add_argument("--seed", type=int, default=0, help="seed for training and sampling (default 0)")
    _add_device_arg(p)
    _add_timing_args(p, repeats=50, threads_help="CPU threads for training and latency (default 2)")
    p.set_defaults(func=cmd_run)
