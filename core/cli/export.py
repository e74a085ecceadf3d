"""``edgeslim-cli export`` and ``edgeslim-cli targets``: verified bundles for device profiles.

Registered by :func:`core.cli.main.build_parser`; shares the argument helpers
and progress line of ``core.cli.common``. Cheap checks (the target, the
destination) run before the model is loaded, so a typo costs no export.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.controls import ask
from core.cli.common import StderrProgress, _add_data_args, _positive, _print_json, _shape
from core.errors import EdgeSlimError

EXIT_MISFIT = 3  # export --check: the model does not fit (1 is an internal error, 2 an input mistake)


def _source(args: argparse.Namespace, progress):
    """The ExportSource for ``--run`` or ``--model``, with its data."""
    from core.export.prepare import source_from_model, source_from_run

    if args.run is not None:
        from core.cli.workspace import open_workspace_to_read

        with open_workspace_to_read(args.workspace) as ws:  # read-only when it must be; says so when it creates one
            progress(0.0, f"loading run {args.run}")
            return source_from_run(ws, args.run, args.data, args.preset, args.image_size)
    if args.workspace:
        raise EdgeSlimError(f"{ask('workspace', action=False)} goes with --run", f"drop {ask('workspace', action=False)}, or export a stored run with --run ID")
    from core.cli.common import _load_data, _load_model

    progress(0.0, "loading model")
    model = _load_model(args)
    if not args.data:
        if model.source_format != "demo":
            raise EdgeSlimError("export needs the model's data, to calibrate it and to verify the written file",
                                f"{ask('data')} DATA (the dataset the model was trained for)")
        args.data = "demo"
    progress(0.02, "loading data")
    return source_from_model(model, _load_data(args, model))


def _calibrated(args: argparse.Namespace, target, estimate_ms: float) -> None:
    """With --run: the estimate corrected by what boards of this profile measured, and the run's own board figures."""
    if args.run is None:
        return
    from core.app.device_figures import device_figures
    from core.cli.workspace import open_workspace_to_read

    with open_workspace_to_read(args.workspace) as ws:
        figures = device_figures(ws, args.run, target, estimate_ms)
    if figures.calibrated_ms is not None:
        print(f"{figures.label}: {figures.calibrated_ms:.3g} ms on {target.label} (the roofline × {figures.factor:.3g})")
    for m in figures.measured:
        print(", ".join([m.text, *m.details]))


def cmd_export(args: argparse.Namespace) -> int:
    from core import fmt
    from core.export.bundle import check_destination, export_bundle
    from core.export.targets import get_target
    from core.jobs import sub_progress

    target = get_target(args.target)
    if args.check:
        return _check(args, target)
    if not args.out:
        raise EdgeSlimError(f"export needs {ask('out', action=False)} DIR, the folder for the bundle", f"{ask('out')} DIR, or --check to see the fit without writing")
    out = Path(args.out).expanduser().absolute()
    check_destination(out, args.force)
    from core.writable import check_writable

    check_writable(out, ask("out", action=False))  # read-only, full, or under a file: now, before the model is loaded
    progress = StderrProgress(enabled=not args.quiet)
    source = _source(args, progress)
    result = export_bundle(
        source, target, out, fmt=args.format, force=args.force, ignore_fit=args.ignore_fit,
        parity_samples=args.parity_samples, threads=args.threads, progress=sub_progress(progress, 0.05, 1.0),
    )
    progress.done()
    if args.json:
        _print_json(result.to_dict())
        return 0
    est, card = result.estimate, result.card
    print(f"bundle: {result.out}  ({target.label}, {result.format})")
    for f in card["files"]:
        print(f"  {f['path']:<18} {fmt.size(f['bytes']):>11}  sha256 {f['sha256'][:16]}…")
    print(f"fit: {result.fit.summary()}")
    for warning in result.fit.warnings:
        print(f"  note: {warning}")
    print(f"estimate on {target.label}: {est.latency_ms:.3g} ms at {est.precision} ({est.bound}-bound roofline, a lower bound); "
          f"weights {fmt.size(est.weight_bytes)}, peak activations {fmt.size(est.peak_activation_bytes)}")
    _calibrated(args, target, est.latency_ms)
    measured = card["metrics"]["latency_ms"].get("measured")
    if measured:
        print(f"measured here: {measured['median_ms']:.3g} ms (ONNX Runtime CPU, {measured['threads']} threads, batch 1; not the target)")
    for p in result.parity:
        print(f"parity: {p.summary()}")
    for note in result.notes:
        print(f"note: {note}")
    return 0


def _check(args: argparse.Namespace, target) -> int:
    """``export --check``: the fit and the estimate of the file the export would write; nothing is written.

    Exit status 0 when it fits, EXIT_MISFIT when it does not (input mistakes stay 2).
    """
    from core import fmt
    from core.export.preview import preview_export
    from core.jobs import sub_progress

    progress = StderrProgress(enabled=not args.quiet)
    source = _source(args, progress)
    preview = preview_export(source, target, args.format, sub_progress(progress, 0.05, 1.0))
    progress.done()
    code = 0 if preview.fit.fits else EXIT_MISFIT
    if args.json:
        _print_json(preview.to_dict())
        return code
    size = f", model file {fmt.size(preview.file_bytes)}" if preview.file_bytes is not None else ""
    print(f"check: {target.label}, {preview.format} ({preview.precision}{size}); nothing written")
    print(f"fit: {preview.fit.summary()}")
    for warning in preview.fit.warnings:
        print(f"  note: {warning}")
    est = preview.estimate
    if est is not None:
        word = preview.fit.storage_word
        print(f"estimate on {target.label}: {est.latency_ms:.3g} ms at {est.precision} ({est.bound}-bound roofline, a lower bound); "
              f"{word} {fmt.size(est.storage_bytes)} of {fmt.size(target.memory.storage_bytes)}, "
              f"RAM {fmt.size(est.ram_bytes)} of {fmt.size(target.memory.ram_bytes)} "
              f"(peak activations {fmt.size(est.peak_activation_bytes)})")
        _calibrated(args, target, est.latency_ms)
    for note in preview.notes:
        print(f"note: {note}")
    return code


def cmd_targets(args: argparse.Namespace) -> int:
    from core import fmt
    from core.export.targets import list_targets, user_dir

    targets = list_targets()
    if args.json:
        _print_json({"user_dir": str(user_dir()), "targets": [t.to_dict() for t in targets]})
        return 0
    rows = [[t.name, t.label, t.toolchain, ", ".join(t.formats), fmt.size(t.memory.storage_bytes), fmt.size(t.memory.ram_bytes),
             f"{t.compute_gops.get('int8', 0):g}", "shipped" if t.shipped else str(t.path)] for t in targets]
    print(fmt.table(["name", "device", "tool chain", "formats", "storage", "RAM", "int8 GOPS", "profile"], rows, "llllrrrl"))
    print(f"add your own profiles (TOML, like the shipped ones) to {user_dir()}")
    return 0


def add_commands(sub) -> None:
    from core.export.targets import FORMATS

    p = sub.add_parser("export", help="write a verified bundle for a device: model file, model.json, infer.py, README, report")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", type=int, metavar="ID", help="export the final model of a stored run")
    which.add_argument("--model", metavar="MODEL", help="export a model: demo | torchvision:NAME | a model file")
    p.add_argument("--workspace", metavar="W", help="with --run: the workspace folder (default: the user's EdgeSlim workspace)")
    p.add_argument("--arch", help="with --model: architecture for a state_dict file, e.g. torchvision:resnet18")
    p.add_argument("--num-classes", type=_positive, help="with --model: number of classes")
    p.add_argument("--weights", help="with --model: state_dict file to load into torchvision:NAME or demo")
    p.add_argument("--input-shape", type=_shape, metavar="C,H,W", help="with --model: input shape when the file does not say")
    p.add_argument("--trust", action="store_true", help="with --model: allow loading a full pickle (runs code from the file)")
    p.add_argument("--target", required=True, metavar="NAME", help="device profile name (`edgeslim-cli targets`) or a profile .toml")
    p.add_argument("--out", metavar="DIR", help="bundle folder (must be new or empty, or an earlier bundle with --force)")
    p.add_argument("--check", action="store_true",
                   help="only check the fit and print the estimate for the file the export would write; writes nothing "
                        f"(exit status {EXIT_MISFIT} when it does not fit)")
    p.add_argument("--format", choices=tuple(FORMATS), help="model file format (default: the target's, keeping the model's precision)")
    _add_data_args(p, required=False)
    p.add_argument("--force", action="store_true", help="replace an earlier bundle in --out (atomically)")
    p.add_argument("--ignore-fit", action="store_true", help="write the bundle even if the estimate says it does not fit")
    p.add_argument("--parity-samples", type=_positive, default=1000, help="validation images for the parity check (default 1000)")
    p.add_argument("--threads", type=_positive, default=2, help="CPU threads for the latency measured here (default 2)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("targets", help="list the device profiles (shipped and your own)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_targets)
