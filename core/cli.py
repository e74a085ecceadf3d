"""``edgeslim-cli``: the command line over EdgeSlim's core.

Every command has ``--help``. Input problems exit with status 2 and one line
naming the problem and the fix; unexpected failures exit 1 with one line and
the path of a log holding the traceback. ``--json`` prints exactly one JSON
object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Optional, Sequence

from core import __version__
from core.errors import EdgeSlimError

EXIT_USAGE = 2
EXIT_INTERNAL = 1


# --------------------------------------------------------------------------- progress


class StderrProgress:
    """Progress on stderr: one rewritten line on a terminal, sparse lines otherwise."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last_print = 0.0
        self._last_msg = ""

    def __call__(self, fraction: float, message: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        text = f"[{fraction * 100:5.1f}%] {message}"
        if self.tty:
            sys.stderr.write("\r" + text[:100].ljust(100))
            sys.stderr.flush()
        elif message != self._last_msg and (now - self._last_print > 2.0 or fraction >= 1.0):
            sys.stderr.write(text + "\n")
            self._last_print = now
        self._last_msg = message

    def done(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


# --------------------------------------------------------------------------- argument helpers


def _shape(text: str) -> tuple[int, int, int]:
    try:
        dims = tuple(int(t) for t in text.replace("x", ",").split(","))
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) <= 0:
        raise argparse.ArgumentTypeError(f"expected C,H,W such as 3,224,224, got {text!r}")
    return dims  # type: ignore[return-value]


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return n


def _add_model_args(p: argparse.ArgumentParser, option: bool = False) -> None:
    p.add_argument(
        *(("--model",) if option else ("model",)),
        metavar="MODEL",
        **({"required": True} if option else {}),
        help="demo | torchvision:NAME | timm:NAME | a file: state_dict (.pt/.pth, with --arch), "
        "torch.export program (.pt2), TorchScript (.pt/.ts), full pickle (with --trust), ONNX (.onnx)",
    )
    p.add_argument("--arch", help="architecture for a state_dict file, e.g. torchvision:resnet18 or timm:efficientnet_lite0")
    p.add_argument("--num-classes", type=_positive, help="number of classes (torchvision:NAME and --arch)")
    p.add_argument("--weights", help="state_dict file to load into torchvision:NAME or timm:NAME")
    p.add_argument("--input-shape", type=_shape, metavar="C,H,W", help="input shape when the file does not say")
    p.add_argument(
        "--trust",
        action="store_true",
        help="allow loading a full pickle (it runs code from the file: only for files you trust)",
    )


def _add_data_args(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument(
        "--data",
        required=required,
        metavar="DATA",
        help="demo | an image folder (one sub-folder per class) | cifar10:PATH | mnist:PATH | fashionmnist:PATH",
    )
    p.add_argument("--preset", help="preprocessing preset for image folders: imagenet (default), as-is; rgb32 for MNIST")
    p.add_argument("--image-size", type=_positive, help="input size for image folders (crop size)")
    p.add_argument("--labels", metavar="FILE",
                   help="class folder -> model output: `folder,index` lines, or one class name per line in output order "
                   "(for folders holding some of the model's classes; with 1000 outputs, folders named by ImageNet "
                   "index or WordNet id need no file)")


def _add_timing_args(p: argparse.ArgumentParser, *, repeats: int, threads_help: str = "CPU threads for latency (default 2)") -> None:
    """--batch, --threads, --repeats, --json and --quiet, shared by the commands that measure."""
    p.add_argument("--batch", type=_positive, default=1, help="batch size for latency (default 1)")
    p.add_argument("--threads", type=_positive, default=2, help=threads_help)
    p.add_argument("--repeats", type=_positive, default=repeats, help=f"timed runs per model for latency (default {repeats})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _load_model(args: argparse.Namespace):
    from core.models import load_model

    return load_model(
        args.model,
        arch=args.arch,
        num_classes=args.num_classes,
        weights=args.weights,
        trust=args.trust,
        input_shape=args.input_shape,
    )


def _load_data(args: argparse.Namespace, model=None):
    """The dataset; given the model, also mapped onto its outputs (--labels) and checked against it, before any long work."""
    from core.data import load_dataset

    data = load_dataset(args.data, preset=args.preset, image_size=args.image_size)
    if model is None:
        return data
    from core.metrics.compat import fit_data

    return fit_data(model, data, getattr(args, "labels", None))


def _print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


# --------------------------------------------------------------------------- commands


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
        from core.cli_workspace import check_workspace_writable

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
        from core.cli_workspace import open_workspace
        from core.store.execute import RunRequest, execute_run

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


def load_options(args: argparse.Namespace) -> dict:
    """How the model and data were asked for, as stored with a run (so it can be replayed)."""
    shape = getattr(args, "input_shape", None)
    return {
        "arch": args.arch, "num_classes": args.num_classes, "weights": args.weights, "trust": bool(args.trust),
        "input_shape": list(shape) if shape else None, "preset": args.preset, "image_size": args.image_size,
        **({"labels": str(Path(args.labels).expanduser().resolve())} if getattr(args, "labels", None) else {}),
    }


def _lo_key(args: argparse.Namespace) -> str:
    return json.dumps(load_options(args), sort_keys=True, default=str)


def run_table(out: dict) -> str:
    """Baseline and every step side by side: accuracy, agreement, size, MACs, latency and the ratios."""
    from core import fmt

    rows = []
    stages = [("baseline", out["baseline"])] + [(f"{s['index']}. {s['technique']}", s["metrics"]) for s in out["steps"]]
    base = out["baseline"] or {}
    for name, m in stages:
        if not m:
            continue
        lat = (m.get("latency_ms") or {}).get("onnxruntime")
        r = m.get("ratios") or {}
        d_acc = None if base.get("accuracy") is None or m.get("accuracy") is None else 100 * (m["accuracy"] - base["accuracy"])
        rows.append([
            name,
            f"{100 * m['accuracy']:.2f} %" if m.get("accuracy") is not None else "—",
            "—" if d_acc is None or name == "baseline" else f"{d_acc:+.2f}",
            f"{100 * m['agreement']:.1f} %" if m.get("agreement") is not None else "—",
            fmt.size(m["size_bytes"]),
            fmt.size(m["zip_bytes"]),
            fmt.si(m.get("macs")),
            f"{lat:.3f} ms" if lat is not None else "—",
            _x(r.get("size")), _x(r.get("zip")), _x(r.get("macs")), _x(r.get("speedup_onnxruntime")),
        ])
    headers = ["stage", "top-1", "Δ pt", "agree", "ONNX file", "zipped", "MACs", "ORT latency", "size ×", "zip ×", "MACs ×", "speed-up"]
    return fmt.table(headers, rows, "lrrrrrrrrrrr")


def _x(v) -> str:
    return "—" if v is None else f"{v:.2f}×"


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

    from core import cli_runs

    cli_runs.add_commands(sub)
    from core import cli_sensitivity

    cli_sensitivity.add_commands(sub)
    from core import cli_export
    cli_export.add_commands(sub)
    return parser


def _fresh_line() -> str:
    """A newline after a terminal progress line, nothing when stderr is a pipe."""
    return "\n" if sys.stderr.isatty() else ""


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
