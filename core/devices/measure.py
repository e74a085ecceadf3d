"""Measure a stored run on a device: its bundle's infer.py timed there, over SSH, and stored with the run.

Steps: export (or reuse) the run's bundle for the device's profile, and the
baseline's with ``baseline``; write a few validation images; connect and check
the device has what infer.py needs; copy everything to a scratch folder there;
check the device's outputs on the images match this machine's (the same
infer.py code, run here); time both models in interleaved rounds, so a board
that warms up or throttles slows both alike; remove the scratch folder; store
the measurements in one transaction. Cancel or a lost connection stores
nothing; a scratch folder a lost connection left behind is recorded and
removed at the next connection to that device.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import asyncssh

from core.devices import ssh
from core.devices.check import DeviceReport, probe
from core.devices.measurements import Measurement, store_measurements
from core.devices.registry import Device
from core.devices.scratch import forget_scratch, note_scratch, pending_scratch, remove_scratch_command
from core.errors import EdgeSlimError
from core.jobs import CancelToken, ProgressFn, check, null_progress, sub_progress

PARITY_TOLERANCE = {"fp32": 1e-3, "fp16": 1e-2, "int8": 5e-2}  # max |Δ probability| between two CPUs' runtimes


@dataclass
class MeasureOptions:
    runs: int = 50  # timed runs per model, over all rounds
    warmup: int = 5  # untimed runs before each round
    rounds: int = 3  # interleaved rounds (run, baseline, run, baseline, …)
    threads: Optional[int] = None  # None: the profile's cores, at most the device's
    provider: Optional[str] = None  # cpu | cuda | tensorrt; None: CUDA for a GPU profile when the device has it, else CPU
    baseline: bool = False
    parity_images: int = 8  # validation images compared between the device and this machine
    parity_samples: int = 200  # validation images for the export's own parity check
    accept_host_key: bool = False
    timeout_s: float = 600.0  # for one remote command


@dataclass
class Prepared:
    """One model's bundle, ready to copy: its folder and what its card says."""

    role: str
    folder: Path
    card: dict

    @property
    def estimated_ms(self) -> Optional[float]:
        return ((self.card.get("metrics") or {}).get("latency_ms") or {}).get("estimated", {}).get("ms")

    @property
    def files(self) -> list[str]:
        return ["model.json", "infer.py"] + [f["path"] for f in self.card.get("files", [])]


@dataclass
class MeasureResult:
    run: Measurement
    baseline: Optional[Measurement]
    device: DeviceReport
    notes: list[str] = field(default_factory=list)

    @property
    def speedup(self) -> Optional[float]:
        if self.baseline is None:
            return None
        return self.baseline.latency_median_ms / self.run.latency_median_ms

    def to_dict(self) -> dict:
        return {"run": self.run.to_dict(), "baseline": self.baseline.to_dict() if self.baseline else None,
                "speedup": self.speedup, "device": self.device.to_dict(), "notes": list(self.notes)}


# --------------------------------------------------------------------------- here: bundles and images


def profile_threads(profile, cores: Optional[int]) -> int:
    """Threads for the benchmark: the CPU cores the profile names ("4x Cortex-A76"), at most the device's."""
    match = re.search(r"\b(\d+)x\s", profile.processor) or re.search(r"\b(\d+)-core\s+x86", profile.processor)
    wanted = int(match.group(1)) if match else (cores or 1)
    return max(1, min(wanted, cores or wanted))


def _model_mtime(source) -> float:
    """When the source's model file last changed (a resumed run rewrites it: its old bundle is stale)."""
    path = Path(str(source.model.spec))
    return path.stat().st_mtime if path.is_file() else 0.0


def choose_provider(profile, available: list[str], wanted: Optional[str] = None) -> tuple[str, list[str]]:
    """The infer.py provider for the benchmark, and a note when it is not what the profile describes.

    A GPU profile (a Jetson) is timed with the CUDA provider: the TensorRT one
    builds an engine for every new session, which would be timed in each round.
    """
    names = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
    if wanted:
        if names[wanted] not in available:
            raise EdgeSlimError(f"the device's onnxruntime has no {names[wanted]} (it has: {', '.join(available) or 'none'})",
                                "measure with another --provider, or install an onnxruntime build with it on the device")
        return wanted, []
    if profile.kind == "gpu":
        if names["cuda"] in available:
            return "cuda", []
        return "cpu", [f"the device's onnxruntime has no CUDA provider, so {profile.label} was measured on its CPU "
                       "(on a Jetson, install the onnxruntime-gpu wheel for its JetPack)"]
    return "cpu", []


def _bundle(ws, source, profile, folder: Path, options: MeasureOptions, progress: ProgressFn, cancel) -> dict:
    """The bundle in ``folder`` for this source and profile: reused when it is one, else exported."""
    from core.export.bundle import export_bundle, is_bundle

    card_path = folder / "model.json"
    if is_bundle(folder) and card_path.stat().st_mtime >= _model_mtime(source):
        card = json.loads(card_path.read_text(encoding="utf-8"))
        if card.get("target", {}).get("name") == profile.name and card.get("source") == dict(source.origin):
            progress(1.0, f"reusing the bundle in {folder}")
            return card
    result = export_bundle(source, profile, folder, force=folder.exists(), ignore_fit=True, parity_samples=options.parity_samples,
                           latency_repeats=0, progress=progress, cancel=cancel)
    return result.card


def prepare_bundles(ws, run_id: int, profile, options: MeasureOptions, progress: ProgressFn,
                    cancel: Optional[CancelToken]) -> tuple[list[Prepared], object]:
    """The run's bundle (and the baseline's), kept in the run's artifact folder for the next measurement."""
    from core.export.prepare import source_from_model, source_from_run

    source = source_from_run(ws, run_id)
    base = ws.run_dir(run_id) / f"device-bundle-{profile.name}"
    prepared = [Prepared("run", base, _bundle(ws, source, profile, base, options, sub_progress(progress, 0, 0.5), cancel))]
    if options.baseline:
        from core.app.sources import ModelSource

        row = ws.get_run(run_id)
        lo = row.load_options or {}
        model = ModelSource(row.model_spec, arch=lo.get("arch"), num_classes=lo.get("num_classes"), weights=lo.get("weights"),
                            input_shape=tuple(lo["input_shape"]) if lo.get("input_shape") else None).load()
        base_source = source_from_model(model, source.data)
        base_source.origin.update({"kind": "baseline", "run_id": run_id})
        folder = ws.run_dir(run_id) / f"device-bundle-{profile.name}-baseline"
        prepared.append(Prepared("baseline", folder, _bundle(ws, base_source, profile, folder, options,
                                                             sub_progress(progress, 0.5, 1.0), cancel)))
    return prepared, source.data


def write_images(data, folder: Path, n: int) -> list[Path]:
    """``n`` validation images as 8-bit PNG files, the way a camera would hand them to infer.py."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (pixels, _label) in enumerate(data.preview("val", n=n)):
        path = folder / f"val-{i:03d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def local_outputs(bundle: Path, images: list[Path]) -> list[dict[int, float]]:
    """Class probabilities of each image from the bundle's own infer.py code, run on this machine."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"edgeslim_bundle_infer_{uuid.uuid4().hex}", bundle / "infer.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    card = module.load_card()
    sess = module.session(card, "cpu")
    k = len(card.get("class_names") or []) or 1000
    return [{t["index"]: t["probability"] for t in module.classify(sess, card, str(p), k)} for p in images]


def compare_outputs(mine: list[dict[int, float]], theirs: list[dict[int, float]], precision: str) -> dict:
    """Top-1 agreement and the largest probability difference between this machine and the device."""
    agree, worst = 0, 0.0
    for a, b in zip(mine, theirs):
        agree += max(a, key=a.get) == max(b, key=b.get)
        worst = max([worst] + [abs(a[i] - b.get(i, 0.0)) for i in a])
    tol = PARITY_TOLERANCE.get(precision, 1e-3)
    return {"images": len(mine), "top1_agree": agree, "max_abs_diff": worst, "tolerance": tol,
            "ok": len(mine) == len(theirs) and agree == len(mine) and worst <= tol}


# --------------------------------------------------------------------------- there: copy, check, time


async def _remove(conn, device: Device, path: str) -> None:
    """Remove a scratch folder; when the connection is gone it stays listed for the next connection."""
    try:
        done = await ssh.run(conn, device, remove_scratch_command(device, path), timeout=60)
    except EdgeSlimError:
        return
    if done.exit_status == 0:
        forget_scratch(device.name, path)


async def _clean_stale(conn, device: Device) -> None:
    for path in pending_scratch(device.name):
        await _remove(conn, device, path)


async def _copy(conn, device: Device, scratch: str, bundles: list[Prepared], images: list[Path], cancel) -> None:
    try:
        async with conn.start_sftp_client() as sftp:
            for b in bundles:
                check(cancel)
                await sftp.mkdir(f"{scratch}/{b.role}")
                await sftp.put([str(b.folder / name) for name in b.files], f"{scratch}/{b.role}")
            await sftp.mkdir(f"{scratch}/images")
            check(cancel)
            await sftp.put([str(p) for p in images], f"{scratch}/images")
    except (OSError, asyncssh.Error) as exc:
        raise ssh.lost(device, exc) from None


async def _infer(conn, device: Device, scratch: str, role: str, args: list[str], options: MeasureOptions, cancel) -> dict:
    command = ssh.python_command(device, f"{scratch}/{role}/infer.py", *args, "--json")
    done = await ssh.run(conn, device, command, timeout=options.timeout_s, cancel=cancel)
    if done.exit_status != 0:
        raise EdgeSlimError(f"infer.py failed on {device.name} (exit {done.exit_status}): {done.stderr.strip()[-300:] or 'no message'}",
                            f"run `edgeslim-cli devices check {device.name}` and install what it says is missing")
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise EdgeSlimError(f"infer.py on {device.name} printed no JSON ({done.stdout.strip()[:200]!r})",
                            "check the device's Python and onnxruntime with `edgeslim-cli devices check`") from None


async def _ready(device: Device, accept_host_key: bool, cancel) -> DeviceReport:
    async with ssh.connect(device, accept_host_key) as conn:
        report = await probe(conn, device, cancel)
    _require_ready(device, report)
    return report


def _require_ready(device: Device, report: DeviceReport) -> None:
    if not report.ready:
        raise EdgeSlimError(f"{device.name} lacks {', '.join(report.missing)}, which infer.py needs",
                            f"run on the device: {report.install_line(device.python)}")


async def _on_device(device: Device, profile, bundles: list[Prepared], images: list[Path], mine: list[dict],
                     options: MeasureOptions, progress: ProgressFn, cancel) -> tuple[DeviceReport, dict, dict]:
    """Copy, check parity, and time on the device; the scratch folder is removed whatever happens."""
    async with ssh.connect(device, options.accept_host_key) as conn:
        await _clean_stale(conn, device)
        report = await probe(conn, device, cancel)
        _require_ready(device, report)
        threads = options.threads or profile_threads(profile, report.cores)
        provider, notes = choose_provider(profile, report.providers, options.provider)
        made = await ssh.run(conn, device, ssh.python_command(
            device, "-c", "import tempfile; print(tempfile.mkdtemp(prefix='edgeslim-measure-'))"), timeout=60, cancel=cancel)
        scratch = made.stdout.strip()
        if made.exit_status != 0 or not scratch:
            raise EdgeSlimError(f"cannot make a scratch folder on {device.name} ({made.stderr.strip()[-200:]})",
                                "check the device's temporary folder has free space")
        note_scratch(device.name, scratch)
        try:
            progress(0.05, f"copying the bundle to {device.name}:{scratch}")
            await _copy(conn, device, scratch, bundles, images, cancel)
            remote_images = [f"{scratch}/images/{p.name}" for p in images]
            parity = {}
            k = str(max(len(bundles[0].card.get("class_names") or []), 1))
            for b, theirs_mine in zip(bundles, mine):
                progress(0.15, f"checking {b.role} outputs on {device.name} against this machine's")
                out = await _infer(conn, device, scratch, b.role, ["--provider", provider, "--top-k", k, *remote_images],
                                   options, cancel)
                theirs = [{t["index"]: t["probability"] for t in r["top"]} for r in out["results"]]
                parity[b.role] = compare_outputs(theirs_mine, theirs, b.card["model"].get("precision", "fp32"))
            timings: dict = {b.role: [] for b in bundles}
            rounds = min(options.rounds, options.runs)  # at least one timed run per round
            per_round = [options.runs // rounds + (i < options.runs % rounds) for i in range(rounds)]
            steps = rounds * len(bundles)
            for r in range(rounds):
                order = bundles if r % 2 == 0 else bundles[::-1]  # alternate who goes first, too
                for j, b in enumerate(order):
                    progress(0.25 + 0.75 * (r * len(bundles) + j) / steps, f"timing the {b.role} model on {device.name}, round {r + 1}")
                    args = ["--provider", provider, "--benchmark", str(per_round[r]), "--warmup", str(options.warmup),
                            "--threads", str(threads)]
                    out = await _infer(conn, device, scratch, b.role, args, options, cancel)
                    timings[b.role].append(out["benchmark"])
        finally:
            await _remove(conn, device, scratch)
    return report, parity, {"threads": threads, "timings": timings, "notes": notes}


def _summarise(rounds: list[dict]) -> dict:
    import numpy as np

    times = np.asarray([t for r in rounds for t in r["times_ms"]], dtype=np.float64)
    rss = [r["peak_rss_mb"] for r in rounds if r.get("peak_rss_mb") is not None]
    return {"median_ms": float(np.percentile(times, 50)), "p90_ms": float(np.percentile(times, 90)),
            "min_ms": float(times.min()), "runs": int(times.size), "peak_rss_mb": max(rss) if rss else None,
            "onnxruntime": rounds[0]["onnxruntime"], "provider": rounds[0]["provider"],
            "round_medians_ms": [r["median_ms"] for r in rounds]}


# --------------------------------------------------------------------------- the whole measurement


def measure_run(ws, run_id: int, device: Device, options: Optional[MeasureOptions] = None,
                progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> MeasureResult:
    """Measure run ``run_id`` of the open workspace ``ws`` on ``device`` and store the result; see the module docstring."""
    import tempfile

    from core.export.targets import get_target

    options = options or MeasureOptions()
    if options.runs < 1 or options.rounds < 1 or options.parity_images < 1:
        raise EdgeSlimError("runs, rounds and parity images must be at least 1", "give positive numbers")
    progress = progress or null_progress
    row = ws.get_run(run_id)  # an unknown or unfinished run fails before any connection
    if row.status != "done":
        raise EdgeSlimError(f"run {run_id} is {row.status}, not done, so it has no model to measure",
                            f"resume it with `edgeslim-cli runs resume {run_id}`, or measure a finished run")
    ssh.identity_exists(device)
    profile = get_target(device.target)
    progress(0.0, f"checking {device.name} ({device.address})")
    ssh.run_sync(_ready(device, options.accept_host_key, cancel))  # a board that cannot run it fails before the export
    bundles, data = prepare_bundles(ws, run_id, profile, options, sub_progress(progress, 0.0, 0.3), cancel)
    check(cancel)
    with tempfile.TemporaryDirectory(prefix="edgeslim-measure-") as work:
        images = write_images(data, Path(work) / "images", options.parity_images)
        mine = [local_outputs(b.folder, images) for b in bundles]
        check(cancel)
        progress(0.32, f"connecting to {device.name} ({device.address})")
        report, parity, timed = ssh.run_sync(_on_device(device, profile, bundles, images, mine, replace(options, accept_host_key=False),
                                                        sub_progress(progress, 0.32, 0.98), cancel))
    check(cancel)
    bad = [role for role, p in parity.items() if not p["ok"]]
    if bad:
        p = parity[bad[0]]
        raise EdgeSlimError(
            f"the {bad[0]} model's outputs on {device.name} differ from this machine's (top-1 agrees on {p['top1_agree']} "
            f"of {p['images']} images, largest probability difference {p['max_abs_diff']:.2g} > {p['tolerance']:g}); "
            "nothing was stored",
            f"compare ONNX Runtime there ({report.packages.get('onnxruntime')}) with this machine's, and update it "
            f"(`{device.python} -m pip install -U onnxruntime`)")
    session = uuid.uuid4().hex
    off_profile = bool(timed["notes"])  # a GPU profile timed on the CPU: not a figure to calibrate its estimate with
    rows = []
    for b in bundles:
        s = _summarise(timed["timings"][b.role])
        info = {"device_description": report.describe(), "notes": list(timed["notes"]), "device_info": report.to_dict(),
                "runtime": {"onnxruntime": s["onnxruntime"], "provider": s["provider"], "python": report.python},
                "threads": timed["threads"], "batch": 1, "runs": s["runs"], "rounds": len(timed["timings"][b.role]), "warmup": options.warmup,
                "min_ms": s["min_ms"], "round_medians_ms": s["round_medians_ms"], "parity": parity[b.role],
                "bundle": {"format": b.card["model"]["format"], "precision": b.card["model"].get("precision"),
                           "file": b.card["model"]["file"], "sha256": b.card["model"].get("sha256"), "folder": str(b.folder)}}
        rows.append(Measurement(run_id=run_id, role=b.role, device=device.name, target=profile.name,
                                latency_median_ms=s["median_ms"], latency_p90_ms=s["p90_ms"], peak_rss_mb=s["peak_rss_mb"],
                                estimated_ms=None if off_profile else b.estimated_ms, info=info, session=session))
    check(cancel)  # the last moment a cancel is honoured: after this the rows are written whole
    stored = store_measurements(ws, rows)
    progress(1.0, f"measured on {device.name}")
    return MeasureResult(stored[0], stored[1] if len(stored) > 1 else None, report, list(timed["notes"]))

