"""``edgeslim-cli sensitivity``: which layers to leave alone when pruning or quantizing.

Registered by :func:`core.cli.main.build_parser`; the analysis is the core
sensitivity service (:mod:`core.app.sensitivity`). The human output is the table,
most sensitive layer first, and the suggested recipe step as TOML to paste.
"""

from __future__ import annotations

import argparse

from core.cli.common import StderrProgress, _add_data_args, _add_model_args, _positive, _print_json, data_source, model_source


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from core.app.sensitivity import SensitivityRequest, analyse_sensitivity

    layers = tuple(n.strip() for n in args.layers.split(",") if n.strip()) if args.layers else None
    request = SensitivityRequest(
        model_source(args), data_source(args), args.technique, ratio=args.ratio, importance=args.importance,
        method=args.method, calibration_samples=args.calibration_samples, layers=layers, max_batches=args.max_batches,
        threshold=args.threshold,
    )
    request.check()  # bad names fail before minutes of loading and exporting
    progress = StderrProgress(enabled=not args.quiet)
    outcome = analyse_sensitivity(request, progress.emit)
    progress.done()
    report, model, data = outcome.report, outcome.model, outcome.data
    if args.json:
        _print_json({"model": args.model, "data": args.data, **report.to_dict()})
        return 0
    print(f"{model.name} on {data.name}: {report.technique} sensitivity ({report.method}), "
          f"baseline top-1 {100 * report.baseline:.2f} % on {report.settings['eval_images']} images, {report.seconds:.0f} s")
    print(render_table(report))
    print("suggested recipe step:")
    print(step_toml(report))
    for note in report.notes:
        print(f"note: {note}")
    return 0


def render_table(report) -> str:
    """The report's rows, most sensitive first, with the columns its method measures."""
    from core import fmt

    def num(v, spec: str = ".2f") -> str:
        return "—" if v is None else format(v, spec)

    rows = []
    if report.technique == "prune.structured":
        headers, align = ["layer", "type", "coupled with", "params", "MACs removed", "top-1 %", "drop pt", "agree", "note"], "lllrrrrrl"
        for r in report.ranked():
            others = [n for n in r["group"] if n != r["layer"]]
            rows.append([r["layer"], r["type"], ", ".join(others) or "—", f"{100 * r['params_share']:.1f} %",
                         "—" if r["macs_removed"] is None else f"{fmt.si(r['macs_removed'])} ({100 * (r['macs_removed_share'] or 0):.0f} %)",
                         num(None if r["accuracy"] is None else 100 * r["accuracy"]), num(r["drop_pt"], "+.2f"),
                         num(r["agreement"], ".3f"), r["reason"] or ""])
    elif report.method == "error":
        headers, align = ["layer", "op", "params", "input SQNR dB", "output SQNR dB", "lost dB"], "llrrrr"
        for r in report.ranked():
            rows.append([r["layer"], r["op_type"], f"{100 * r['params_share']:.1f} %",
                         num(r["input_sqnr_db"]), num(r["output_sqnr_db"]), num(r["lost_db"], "+.2f")])
    else:
        label = "recovered pt" if report.key == "recovered_pt" else "drop pt"
        headers, align = ["layer", "op", "params", "top-1 %", label, "agree"], "llrrrr"
        for r in report.ranked():
            rows.append([r["layer"], r["op_type"], f"{100 * r['params_share']:.1f} %", num(100 * r["accuracy"]),
                         num(r[report.key], "+.2f"), num(r["agreement"], ".3f")])
    return fmt.table(headers, rows, align)


def step_toml(report) -> str:
    """The suggested step as a ``[[step]]`` table, checked by the recipe loader first."""
    import tomli_w

    from core.pipeline.recipe import make_step

    technique, params = report.suggested_step()
    make_step(technique, params)
    return "[[step]]\n" + tomli_w.dumps({"technique": technique, **params}).rstrip()


def add_commands(sub) -> None:
    p = sub.add_parser("sensitivity", help="per-layer sensitivity to pruning or int8, and the recipe step it suggests")
    _add_model_args(p, option=True)
    _add_data_args(p, required=True)
    p.add_argument("--technique", required=True, metavar="T", help="prune.structured or quantize.static")
    p.add_argument("--ratio", type=float, help="prune.structured: channel ratio pruned per group (default 0.5)")
    p.add_argument("--importance", help="prune.structured: channel ranking, e.g. l1 (default), l2, bn_scale, random")
    p.add_argument("--method", metavar="M",
                   help="quantize.static: exclude_one (default; all int8 but one layer), only_one (one layer int8), "
                        "error (fp32 vs int8 activations, one pass)")
    p.add_argument("--calibration-samples", type=_positive, help="quantize.static: calibration images (default 128)")
    p.add_argument("--layers", metavar="A,B", help="only these layers (comma-separated names)")
    p.add_argument("--max-batches", type=_positive, metavar="N", help="score on the first N validation batches of 128 (faster)")
    p.add_argument("--threshold", type=float, default=1.0, help="points of accuracy above which a layer is kept (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_sensitivity)
