"""``edgeslim-cli inspect | evaluate | train-demo | techniques``: one model, no workspace.

Registered by :func:`core.cli.main.build_parser`. Arguments become typed
sources (``core.cli.common``); ``evaluate`` runs the core evaluate service and
prints its result.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli.common import (
    StderrProgress, _add_data_args, _add_model_args, _add_timing_args, _load_model, _positive, _print_json, data_source,
    model_source, timing,
)


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
    from core.app.evaluate import EvaluateRequest, evaluate

    progress = StderrProgress(enabled=not args.quiet)
    outcome = evaluate(EvaluateRequest(model_source(args), data_source(args), timing(args)), progress.emit)
    progress.done()
    model, data, metrics = outcome.model, outcome.data, outcome.metrics
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
    for note in outcome.notes:
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


def add_commands(sub) -> None:
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

    p = sub.add_parser("techniques", help="list the compression techniques and their parameters")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_techniques)
