"""``edgeslim-cli``: the command line over EdgeSlim's core.

Every command has ``--help``. Input problems exit with status 2 and one line
naming the problem and the fix; unexpected failures exit 1 with one line and
the path of a log holding the traceback. ``--json`` prints exactly one JSON
object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Optional, Sequence

from core import __version__
from core.cli.common import (
    StderrProgress, _positive, _add_model_args, _add_data_args, _add_timing_args, _load_model, _load_data, _print_json, load_options, _lo_key, run_table, _fresh_line,
)
from core.errors import EdgeSlimError

EXIT_USAGE = 2
EXIT_INTERNAL = 1


def cmd_inspect(args: argparse.Namespace) -> int:
    from core import fmt
    from core.models import inspect_model

    model = _load_model(args)
    report = inspect_model(model, args.input_shape)
    if args.json:
        _print_json({"model": args.model, "name": model.name, "format": model.source_format, **report.to_dict()})
        return 0
    total_macs = max(report.total_macs or 0, 1)
    rows = [
        [
            layer.name,
            layer.type,
            fmt.shape(layer.output_shape),
            f"{layer.params:,}",
            fmt.si(layer.macs) if layer.macs is not None else "—",
            f"{100 * (layer.macs or 0) / total_macs:5.1f}%",
        ]
        for layer in report.layers
    ]
    print(f"{model.name}  ({model.source_format}, input {fmt.shape(report.input_shape)})")
    print(fmt.table(["layer", "type", "output", "params", "MACs", "share"], rows, "llrrrr"))
    print(f"total: {report.total_params:,} params, {fmt.si(report.total_macs)} MACs")
    for note in [*model.notes, *report.notes]:
        print(f"note: {note}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from core import fmt
    from core.metrics import measure_model

    progress = StderrProgress(enabled=not args.quiet)
    progress(0.0, "loading model")
    model = _load_model(args)
    progress(0.02, "loading data")
    data = _load_data(args, model)
    from core.jobs import sub_progress

    metrics = measure_model(
        model, data, batch=args.batch, threads=args.threads, repeats=args.repeats, progress=sub_progress(progress, 0.05, 1.0)
    )
    progress.done()
    out = metrics.to_dict()
    if args.json:
        _print_json({"model": args.model, "data": args.data, **out})
        return 0
    lat = out["latency_ms"]
    rows = [
        ["top-1 accuracy", f"{out['accuracy']:.4f}  ({metrics.n_eval} validation images)"],
        ["top-5 accuracy", "—" if out.get("top5") is None else f"{out['top5']:.4f}"],
        ["parameters", f"{out['params']:,}  ({out['nonzero_params']:,} non-zero)"],
        ["MACs", fmt.si(out["macs"])],
        ["size", f"{fmt.size(out['size_bytes'])}  (zipped {fmt.size(out['zip_bytes'])})"],
    ]
    for backend in ("torch", "onnxruntime"):
        if lat.get(backend) is not None:
            p90 = (lat.get("p90") or {}).get(backend)
            rows.append(
                [f"latency {backend}", f"{lat[backend]:.2f} ms median, {p90:.2f} ms p90 (batch {lat['batch']}, {lat['threads']} threads)"]
            )
    print(f"{model.name} on {data.name}")
    print(fmt.table(["metric", "value"], rows))
    for note in [*model.notes, *data.notes, *metrics.notes]:
        print(f"note: {note}")
    return 0


def cmd_train_demo(args: argparse.Namespace) -> int:
    from dataclasses import replace

    import core.paths as paths
    from core.demo import DEMO_TRAIN_CONFIG, train_demo

    out = Path(args.out) if args.out else paths.DEMO_DIR
    config = replace(DEMO_TRAIN_CONFIG, epochs=args.epochs, seed=args.seed, threads=args.threads)
    progress = StderrProgress(enabled=not args.quiet)
    outcome = train_demo(out, config, progress=progress)
    progress.done()
    summary = {
        "weights": str(outcome.weights),
        "card": str(outcome.card),
        "val_accuracy": outcome.val_accuracy,
        "seconds": round(outcome.result.seconds, 1),
        "epochs": config.epochs,
    }
    if args.json:
        _print_json(summary)
    else:
        print(
            f"trained the demo model in {summary['seconds']} s: validation accuracy {outcome.val_accuracy:.4f}\n"
            f"weights: {outcome.weights}\ncard:    {outcome.card}"
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from core.jobs import sub_progress
    from core.pipeline.recipe import load_recipe
    from core.pipeline.runner import RunOptions, run_recipe

    recipe = load_recipe(args.recipe)  # a bad recipe fails here, before any model is loaded
    recipe.check_order(input_is_onnx=str(args.model).lower().endswith(".onnx"))
    output = None
    if args.workspace is not None and args.out:  # both given: one would be silently ignored
        raise EdgeSlimError("--out and --workspace were both given: a workspace run keeps its files in the workspace "
                            "(artifacts/run-N, shown by `runs show ID`)",
                            "drop --out to store the run in the workspace, or drop --workspace to write the result files to --out DIR")
    if args.workspace is None and args.out:  # before anything is loaded: never overwrite an input or, without --force, a result
        from core.run_output import RunOutput, input_paths

        output = RunOutput.check(args.out, input_paths([args.model, args.weights, args.data]), args.force)
    if args.workspace is not None:  # a read-only or full workspace is found now, not after loading and measuring
        from core.cli.workspace import check_workspace_writable

        check_workspace_writable(args.workspace)
    progress = StderrProgress(enabled=not args.quiet)
    progress(0.0, "loading model")
    model = _load_model(args)
    recipe.check_order(input_is_onnx=model.is_onnx)
    progress(0.01, "loading data")
    data = _load_data(args, model)
    options = RunOptions(batch=args.batch, threads=args.threads, seed=args.seed, repeats=args.repeats)
    run_id = None
    if args.workspace is not None:
        from core.cli.workspace import open_workspace
        from core.app.execute import RunRequest, execute_run

        with open_workspace(args.workspace) as ws:  # says so when it creates one (a mistyped path)
            request = RunRequest(recipe.to_toml(), args.model, args.data, load_options(args), options, recipe.name)
            done = execute_run(ws, request, progress=sub_progress(progress, 0.02, 1.0), reuse=not args.no_reuse,
                               cache={("model", args.model, _lo_key(args)): model, ("data", args.data, args.preset, args.image_size): data})
            row = done.row
            run_id = row.id
            if done.note:
                sys.stderr.write(f"{_fresh_line()}note: {done.note}\n")
            out = {"status": row.status, "recipe": recipe.to_dict(), "baseline": row.baseline, "final": row.final,
                   "steps": row.steps, "artifact": row.artifacts.get("onnx") or row.artifacts.get("pt2"),
                   "artifacts": row.artifacts, "seconds": row.seconds, "reused": done.reused}
            status = row.status
    else:
        if not args.out:
            raise EdgeSlimError("run needs --out DIR or --workspace", "pass --out DIR for the result files, or --workspace to store the run")
        result, record = output.run(lambda folder: run_recipe(recipe, model, data, folder, options, progress=sub_progress(progress, 0.02, 1.0)))
        out = record or result.to_dict()
        status = result.status
    progress.done()
    if args.json:
        _print_json({
            "status": out["status"], "recipe": out["recipe"], "model": args.model, "data": args.data,
            "baseline": out["baseline"], "final": out["final"], "steps": out["steps"],
            "artifact": out["artifact"], "artifacts": out["artifacts"], "seconds": out["seconds"],
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


def cmd_techniques(args: argparse.Namespace) -> int:
    from core.techniques import all_techniques
    from core.techniques.base import allowed_text

    items = all_techniques()
    if args.json:
        _print_json({"techniques": [
            {"name": t.name, "family": t.family, "label": t.label, "summary": t.summary, "side": t.side,
             "params": [{"name": p.name, "kind": p.kind, "default": list(p.default) if isinstance(p.default, tuple) else p.default,
                         "allowed": allowed_text(p), "label": p.spec.label, "help": p.spec.help} for p in t.params]}
            for t in items
        ]})
        return 0
    for t in items:
        print(f"{t.name}  [{t.family}, {t.side}-side]  {t.summary}")
        for p in t.params:
            default = list(p.default) if isinstance(p.default, tuple) else p.default
            print(f"    {p.name} = {default!r:<14} {allowed_text(p)}; {p.spec.help}")
    return 0


# --------------------------------------------------------------------------- parser and entry point


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeslim-cli",
        description="Compress computer-vision models for embedded devices: inspect, evaluate, run recipes, train the demo.",
    )
    parser.add_argument("--version", action="version", version=f"edgeslim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("inspect", help="per-layer table of a model: type, output shape, params, MACs")
    _add_model_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("evaluate", help="accuracy, size, MACs and latency (PyTorch and ONNX Runtime) of a model")
    _add_model_args(p)
    _add_data_args(p, required=True)
    _add_timing_args(p, repeats=50)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("train-demo", help="train the shipped demo model on the demo data (about a minute)")
    p.add_argument("--out", help="folder for the weights and card (default: the app's resources/demo)")
    p.add_argument("--epochs", type=_positive, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=_positive, default=2)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_train_demo)

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
    _add_timing_args(p, repeats=50, threads_help="CPU threads for training and latency (default 2)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("techniques", help="list the compression techniques and their parameters")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_techniques)

    from core.cli import runs as cli_runs

    cli_runs.add_commands(sub)
    from core.cli import sensitivity as cli_sensitivity

    cli_sensitivity.add_commands(sub)
    from core.cli import export as cli_export
    cli_export.add_commands(sub)
    return parser


def _log_crash() -> Optional[Path]:
    """The traceback in a new file of its own (None when nothing could be written; never raises)."""
    from core.crash_log import write_crash_log

    return write_crash_log(traceback.format_exc())


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EdgeSlimError as exc:
        sys.stderr.write(f"{_fresh_line()}edgeslim-cli: error: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into `head` and the reader left: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        sys.stderr.write(f"{_fresh_line()}edgeslim-cli: interrupted\n")
        return 130
    except Exception as exc:  # last resort: one line, traceback in a log; reporting never fails in turn
        from core.crash_log import describe
        from core.store.disk_faults import as_user_error

        disk = as_user_error(exc)  # a disk that filled up or is read-only mid-command: the user's to fix, not a bug
        if disk is not None:
            sys.stderr.write(f"{_fresh_line()}edgeslim-cli: error: {disk}\n")
            return EXIT_USAGE

        log = _log_crash()
        where = f"details in {log}" if log else "the details could not be saved: no writable folder for a crash log"
        try:
            sys.stderr.write(f"{_fresh_line()}edgeslim-cli: internal error: {describe(exc)} ({where}; please report it)\n")
        except Exception:  # noqa: BLE001 - stderr closed or broken: the exit code still says it
            pass
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
