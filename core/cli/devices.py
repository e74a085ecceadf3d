"""``edgeslim-cli devices …`` and ``edgeslim-cli measure``: boards over SSH, and runs measured on them.

Registered by :func:`core.cli.main.build_parser` like the other groups. A
device is a name for ``USER@HOST`` plus the target profile it is; ``check``
says what it lacks (with the pip line to run there) and ``measure`` times a
stored run's bundle on it and keeps the figures with the run.
"""

from __future__ import annotations

import argparse

from core.cli.common import StderrProgress, _positive, _print_json

EXIT_NOT_READY = 3  # devices check: reachable, but a package infer.py needs is missing


def cmd_devices_add(args: argparse.Namespace) -> int:
    from core.devices.registry import add_device, devices_file

    device = add_device(args.name, args.ssh, args.target, port=args.port, identity=args.identity, python=args.python)
    if args.json:
        _print_json({"device": device.to_dict(), "file": str(devices_file())})
        return 0
    print(f"device {device.name}: {device.address}, target {device.target}, python {device.python}"
          f"{', key ' + device.identity if device.identity else ', keys from ssh-agent'}")
    print(f"check it with: edgeslim-cli devices check {device.name} --accept-host-key  (the first time: confirms its host key)")
    return 0


def cmd_devices_list(args: argparse.Namespace) -> int:
    from core import fmt
    from core.devices.registry import devices_file, load_devices

    devices = load_devices()
    if args.json:
        _print_json({"file": str(devices_file()), "devices": [d.to_dict() for d in devices.values()]})
        return 0
    if not devices:
        print(f"no devices yet ({devices_file()}); add one with: edgeslim-cli devices add NAME --ssh USER@HOST --target PROFILE")
        return 0
    rows = [[d.name, d.address, d.target, d.python, d.identity or "ssh-agent"] for d in devices.values()]
    print(fmt.table(["name", "ssh", "target", "python", "key"], rows, "lllll"))
    return 0


def cmd_devices_remove(args: argparse.Namespace) -> int:
    from core.devices.registry import remove_device

    device = remove_device(args.name)
    print(f"device {device.name} ({device.address}) removed; its measurements stay with their runs")
    return 0


def cmd_devices_check(args: argparse.Namespace) -> int:
    from core import fmt
    from core.devices.check import check_device
    from core.devices.registry import get_device

    device = get_device(args.name)
    report = check_device(device, accept_host_key=args.accept_host_key)
    if args.json:
        _print_json({**report.to_dict(), "install": report.install_line(device.python)})
        return 0 if report.ready else EXIT_NOT_READY
    print(f"{device.name} ({device.address}): reachable")
    print(f"  CPU: {report.cpu}, {report.cores} cores; memory {fmt.size(report.memory_bytes)}; {report.system} {report.machine}")
    if report.jetson:
        print(f"  Jetson: {report.jetson}")
    print(f"  Python {report.python} ({device.python})")
    for name, version in report.packages.items():
        print(f"  {name:<12} {version or 'MISSING'}")
    if report.providers:
        print(f"  ONNX Runtime providers: {', '.join(report.providers)}")
    line = report.install_line(device.python)
    if line:
        print(f"missing: {', '.join(report.missing)}; run this on the device: {line}")
        return EXIT_NOT_READY
    print("ready to measure: edgeslim-cli measure --run ID --device " + device.name)
    return 0


def cmd_measure(args: argparse.Namespace) -> int:
    from core.cli.workspace import open_workspace
    from core.devices.measure import MeasureOptions, measure_run
    from core.devices.registry import get_device

    device = get_device(args.device)
    options = MeasureOptions(runs=args.runs, warmup=args.warmup, rounds=args.rounds, threads=args.threads,
                             baseline=args.baseline, accept_host_key=args.accept_host_key, parity_samples=args.parity_samples,
                             provider=args.provider)
    progress = StderrProgress(enabled=not args.quiet)
    with open_workspace(args.workspace) as ws:
        result = measure_run(ws, args.run, device, options, progress=progress)
    progress.done()
    if args.json:
        _print_json(result.to_dict())
        return 0
    m = result.run
    rss = "" if m.peak_rss_mb is None else f", peak memory {m.peak_rss_mb:.0f} MB"
    print(f"run {args.run} on {device.name}: median {m.latency_median_ms:.3f} ms, p90 {m.latency_p90_ms:.3f} ms{rss} "
          f"({m.info['runs']} runs at batch 1, {m.info['threads']} threads; ONNX Runtime {m.info['runtime']['onnxruntime']}, "
          f"{m.info['runtime']['provider']})")
    if m.estimated_ms:
        print(f"  estimate for {m.target}: {m.estimated_ms:.3g} ms (roofline lower bound): measured is {m.latency_median_ms / m.estimated_ms:.1f}x it")
    if result.baseline is not None:
        b = result.baseline
        print(f"baseline on {device.name}: median {b.latency_median_ms:.3f} ms, p90 {b.latency_p90_ms:.3f} ms; "
              f"speed-up {result.speedup:.2f}x (interleaved rounds)")
    p = m.info["parity"]
    print(f"parity on the device: top-1 agrees on {p['top1_agree']}/{p['images']} images, largest probability difference {p['max_abs_diff']:.2g}")
    print(f"device: {result.device.describe()}")
    for note in result.notes:
        print(f"note: {note}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("devices", help="boards reached over SSH: add, list, remove, check")
    dsub = p.add_subparsers(dest="devices_command", metavar="ACTION", required=True)

    q = dsub.add_parser("add", help="register a board: its SSH address and the target profile it is")
    q.add_argument("name", help="a short name, e.g. pi5")
    q.add_argument("--ssh", required=True, metavar="USER@HOST", help="the SSH login, e.g. pi@raspberrypi.local")
    q.add_argument("--port", type=_positive, default=22, help="SSH port (default 22)")
    q.add_argument("--identity", metavar="KEYFILE", help="private key file (default: ssh-agent and ~/.ssh keys; no passwords)")
    q.add_argument("--target", required=True, metavar="PROFILE", help="the device profile (`edgeslim-cli targets`)")
    q.add_argument("--python", metavar="PATH", help="Python on the device that runs the bundle (default python3)")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=cmd_devices_add)

    q = dsub.add_parser("list", help="the registered boards")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=cmd_devices_list)

    q = dsub.add_parser("remove", help="forget a board (its measurements stay with the runs)")
    q.add_argument("name")
    q.set_defaults(func=cmd_devices_remove)

    q = dsub.add_parser("check", help="connect; report Python, numpy, Pillow, onnxruntime, CPU, cores and memory "
                                      f"(exit status {EXIT_NOT_READY} when a package is missing)")
    q.add_argument("name")
    q.add_argument("--accept-host-key", action="store_true",
                   help="trust the board's host key the first time (compare the fingerprint first); a changed key is always refused")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=cmd_devices_check)

    p = sub.add_parser("measure", help="time a stored run's bundle on a board over SSH and store it with the run")
    p.add_argument("--run", type=int, required=True, metavar="ID", help="the stored run")
    p.add_argument("--device", required=True, metavar="NAME", help="a device from `edgeslim-cli devices list`")
    p.add_argument("--workspace", metavar="W", help="the workspace folder (default: the user's EdgeSlim workspace)")
    p.add_argument("--baseline", action="store_true", help="measure the run's baseline too, interleaved, for a fair speed-up")
    p.add_argument("--runs", type=_positive, default=50, help="timed runs per model at batch 1 (default 50)")
    p.add_argument("--warmup", type=_positive, default=5, help="untimed runs before each round (default 5)")
    p.add_argument("--rounds", type=_positive, default=3, help="interleaved rounds the runs are split into (default 3)")
    p.add_argument("--threads", type=_positive, help="ONNX Runtime threads (default: the profile's cores, at most the board's)")
    p.add_argument("--provider", choices=("cpu", "cuda", "tensorrt"),
                   help="ONNX Runtime provider on the device (default: CUDA for a GPU profile when the device has it, else CPU)")
    p.add_argument("--parity-samples", type=_positive, default=200,
                   help="validation images for the bundle's parity check when it is exported (default 200)")
    p.add_argument("--accept-host-key", action="store_true", help="trust the board's host key the first time")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_measure)

