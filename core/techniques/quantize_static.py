"""``quantize.static``: post-training int8 through ONNX Runtime, calibrated on real images.

The fp32 ONNX model goes through ONNX Runtime's pre-processing, then
``quantize_static`` in QDQ format (QuantizeLinear/DequantizeLinear pairs that
ONNX Runtime fuses into int8 kernels, and that other runtimes and NPUs read as
well). Weights are int8 per output channel; activations get one scale each from
the calibration images. The default U8S8 (uint8 activations, int8 weights) is
the fast path of ONNX Runtime's x86 and ARM kernels; S8S8 QDQ, the library's own
default, is barely faster than fp32 on x86. Layers kept in fp32 read the fp32
activation (:mod:`core.techniques.qdq_exclusions`), and a result whose predictions
collapsed is refused rather than stored (:mod:`core.techniques.quant_guard`).

Before ONNX Runtime quantizes, the fp32 graph can be improved for int8: bias
correction (on by default), cross-layer equalization, and weight tuning
(``tune_epochs``, :mod:`core.quant.tune`). ``max_drop`` then keeps the layers
int8 hurts most in fp32 until an accuracy target is met; tuning runs after it,
training only the layers that stay int8.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from core.jobs import ProgressFn, null_progress, sub_progress
from core.models.onnx_model import OnnxModel
from core.quant import fallback, ort_backend, ranking
from core.quant.originals import Originals, record, restore
from core.quant.tune import TuneOptions, Tuning
from core.techniques import onnx_quant_common as oq
from core.techniques.quant_guard import check_collapse
from core.techniques.base import (
    ONNX, StepContext, StepOutcome, TechniqueConfig, TechniqueError, derived, onnx_source, param, technique,
)

TYPES = ("U8S8", "S8S8", "U8U8")  # activations, weights
METHODS = ("MinMax", "Entropy", "Percentile")

_TYPE_NOTES = {
    "S8S8": "S8S8 (int8 activations) runs little faster than fp32 in ONNX Runtime on x86 CPUs; U8S8 is the fast path "
            "there. Keep S8S8 for NPUs or runtimes that require signed, symmetric int8",
    "U8U8": "U8U8 stores weights as uint8 with a zero-point; x86 int8 kernels are fastest with U8S8. Keep U8U8 for "
            "targets that require it",
}


@technique(
    "quantize.static",
    family="Quantization",
    label="Static int8 (ONNX Runtime)",
    summary="Int8 weights and activations, calibrated on sample images; about 4x smaller and faster on CPU",
    side=ONNX,
    accepts_onnx=True,
)
@dataclass(frozen=True)
class QuantizeStatic(TechniqueConfig):
    calibration_samples: int = param(
        128, label="Calibration images", min=1, max=100_000, step=32,
        help="Images from the calibration split used to measure activation ranges (all of them if the split is smaller)",
    )
    calibration_method: str = param(
        "MinMax", label="Calibration method", choices=METHODS,
        help="MinMax: full observed range (robust, fast). Entropy / Percentile clip rare outliers, which can help "
             "models with long-tailed activations; they keep every activation in memory and are slower",
    )
    types: str = param(
        "U8S8", label="Int8 types", choices=TYPES,
        help="Activations then weights: U for uint8, S for int8. U8S8 is ONNX Runtime's fast CPU path; S8S8 for NPUs "
             "that need symmetric int8; U8U8 only if your target requires it",
    )
    per_channel: bool = param(
        True, label="Per-channel weights",
        help="One scale per output channel instead of per layer: much better accuracy after BatchNorm folding, same speed",
    )
    reduce_range: bool = param(
        False, label="Reduce range (7-bit weights)",
        help="For x86 CPUs without VNNI (before AVX512-VNNI / AVX-VNNI), where U8S8 int8 products can saturate; "
             "costs a little accuracy",
    )
    exclude_nodes: tuple[str, ...] = param(
        (), label="Keep in fp32 (layers)",
        help="Layer names (e.g. fc, layer1.0.conv1) or ONNX node names left unquantized, e.g. a sensitive first or last layer",
    )
    exclude_op_types: tuple[str, ...] = param(
        (), label="Keep in fp32 (op types)", help="ONNX op types left unquantized, e.g. Gemm or ConvTranspose",
    )
    batch_size: int = param(32, label="Calibration batch", min=1, max=1024, step=8, help="Images per calibration run")
    check_agreement: bool = param(
        True, label="Refuse a collapsed model",
        help="Compare top-1 predictions with the input model on up to 256 validation images and fail, naming the likely "
             "layers, instead of storing an int8 model whose agreement fell to chance (or far below the same step without "
             "exclusions). Costs one evaluation, plus one quantization when layers are kept in fp32",
    )

    max_drop: float = param(
        0.0, label="Target: at most N points lost", min=0.0, max=100.0, step=0.5, unit="points",
        help="Top-1 agreement with the input model on the validation split that int8 may lose (0 = off). When int8 "
             "loses more, the layers int8 hurts most (per-layer SQNR, the sensitivity analysis's ranking) stay fp32, "
             "as few as meet the target; the result lists them with their cost in size and speed. A target that "
             "cannot be met within the fp32 budget ends on the most accurate model within it, and says so",
    )
    max_slowdown: float = param(
        fallback.MAX_SLOWDOWN, label="Latency budget (× int8)", min=0.0, max=10.0, step=0.1, unit="×",
        help="With a target, how much slower than all-int8 the layers kept in fp32 may make the model (ONNX Runtime, "
             "batch 8, each candidate timed against all-int8 on this machine). An fp32 layer between int8 ones also "
             "pays for the conversions around it, so scattered fp32 layers can make int8 slower than fp32. 0 = no time budget "
             "(nothing timed)",
    )

    equalize: bool = param(
        False, label="Cross-layer equalization",
        help="Before calibration, rescale the channels of consecutive convolutions so both layers have the same weight "
             "range; same speed. Only pairs with a ReLU or nothing between them, where it is exact: ReLU6 clips at a "
             "fixed value, and rescaling through it changed EfficientNet-Lite2's own answers on 1.6-11 % of photos",
    )
    bias_correction: bool = param(
        True, label="Bias correction",
        help="Before calibration, subtract from each layer's bias the mean shift int8 rounding of its weights causes "
             "(input means measured on the calibration images). Helps small depthwise kernels; same speed. On by "
             "default, as in NNCF: +5.7 points of agreement on EfficientNet-Lite2, none lost on the demo",
    )

    tune_epochs: int = param(
        0, label="Weight tuning (epochs)", min=0, max=100, step=1, unit="epochs",
        help="Passes over the calibration images that learn int8-friendly weights from the input model's own outputs "
             "(gradient-based post-training quantization, no labels needed), before ONNX Runtime quantizes them; "
             "0 = off. The epoch with the lowest error on the validation split is kept, the untuned weights included. "
             "Same file size and speed; about a minute per epoch per 200 images at 224 px on 2 cores",
    )

    def scheme(self) -> ort_backend.QdqScheme:
        """This step's int8 numbers as the backend takes them."""
        return ort_backend.QdqScheme(self.types, self.per_channel, self.reduce_range, self.calibration_method)

    def apply(self, model, ctx: StepContext, tuning: Optional[Tuning] = None, file_name: str = "model_int8.onnx",
              suffix: str = "int8") -> StepOutcome:
        """Quantize; ``tuning`` (``quantize.qat``'s) replaces ``tune_epochs`` on the calibration images."""
        ctx.check()
        if tuning is None and self.tune_epochs:
            tuning = Tuning(ctx.data.calib, TuneOptions(epochs=self.tune_epochs, images=self.calibration_samples,
                                                        seed=ctx.seed, threads=ctx.threads, device=ctx.device),
                            select=ctx.data.val)
        src = onnx_source(model, ctx)
        oq.check_quantizable(oq.load_proto(src), "quantized")
        workdir = Path(ctx.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        out_path = workdir / file_name
        notes: list[str] = []
        logs: list[str] = []
        with tempfile.TemporaryDirectory(dir=workdir, prefix="quant-") as tmp:
            pre = Path(tmp) / "preprocessed.onnx"
            ctx.progress(0.05, "preparing the graph for quantization")
            pre_proto, pre_notes = ort_backend.prepare_graph(src, pre, logs)
            notes += pre_notes
            teacher = oq.copy_proto(pre_proto) if tuning else None  # the input model's graph, before any rewrite
            excluded = oq.resolve_names(pre_proto, self.exclude_nodes, self.exclude_op_types)
            # progress: calibration, then the fallback's search, then tuning, each where it runs
            tune_from = 0.6 if self.max_drop else 0.3
            # the reader checks the images against the model's input before any rewrite reads them
            reader = self._reader(pre_proto, ctx, sub_progress(ctx.progress, 0.1, 0.3 if self.max_drop or tuning else 0.85))
            originals: Originals = {}  # what bias correction changed, for layers the fallback keeps fp32
            if self.equalize or self.bias_correction:
                ctx.progress(0.07, "equalizing and correcting the fp32 graph")
                for node, (name, value) in self._rewrite(pre_proto, pre, ctx, excluded, notes).items():
                    record(originals, node, name, value)
            ops = oq.weight_ops(pre_proto)
            if reader.samples < self.calibration_samples:
                notes.append(
                    f"the calibration split has {reader.samples} usable images, fewer than the {self.calibration_samples} "
                    "asked for; all of them were used"
                )
            ctx.check()
            # the fallback's quantizations reuse the ranges, unless bias correction makes each graph a little different
            # tuning quantizes the tuned graph with the very activation ranges it was trained against (calibrating the
            # tuned graph again would move them); without max_drop they are this first quantization's
            ranges = Path(tmp) / "tuning_ranges.json"
            cache = ranges if tuning and not self.max_drop else (
                Path(tmp) / "ranges.json" if self.max_drop > 0 and not originals else None)
            q_proto = self._quantize(pre, pre_proto, excluded, reader, Path(tmp) / "quantized.onnx", logs, cache)
            kept = None
            if self.max_drop > 0:
                kept = self._meet_target(ctx, src, pre, pre_proto, excluded, ops, q_proto, Path(tmp), logs, cache, originals,
                                         tune_from if tuning else 0.88)
                if kept.kept:
                    q_proto, excluded = kept.proto, [*excluded, *kept.kept, *kept.companions]
            history: list[dict] = []
            if tuning:  # after the fallback: the int8 layers learn around the layers it kept fp32 (with their own values)
                if kept and kept.kept:
                    pre_proto = restore(pre_proto, originals, kept.kept)
                    onnx_save(pre_proto, pre)
                trained = [op for op in ops if op.node not in set(excluded)]
                if kept is not None:  # the graph the fallback settled on, its ranges saved for the tuned graph
                    q_proto = self._quantize(pre, pre_proto, excluded, self._reader(pre_proto, ctx, null_progress),
                                             Path(tmp) / "quantized.onnx", logs, ranges)
                untuned_pre, untuned_q = oq.copy_proto(pre_proto), oq.copy_proto(q_proto)
                history = self._tune(pre_proto, pre, q_proto, trained, ctx, tuning, notes, tune_from, teacher)
                if kept:
                    notes.append(f"max_drop measured {100 * kept.plain_agreement:.1f} % → {100 * kept.agreement:.1f} % before "
                                 "weight tuning, which then trained only the int8 layers")
                if any(record_["kept"] for record_ in history):
                    q_proto = self._quantize(pre, pre_proto, excluded, self._reader(pre_proto, ctx, null_progress),
                                             Path(tmp) / "quantized.onnx", logs, ranges)
                else:  # no epoch was kept: the weights are the untuned ones, and so is the int8 file
                    q_proto = untuned_q
                if tuning.select is not None and len(tuning.select):
                    ctx.progress(0.87, "comparing the tuned and untuned int8 models in ONNX Runtime")
                    if not _tuned_is_better(src, untuned_q, q_proto, tuning.select, Path(tmp), notes):
                        pre_proto, q_proto = untuned_pre, untuned_q
                        onnx_save(pre_proto, pre)
            ctx.progress(0.88, "writing the int8 model")
            layers = _layer_rows(ops, q_proto, set(excluded), kept)
            counts = oq.op_counts(q_proto)
            saved = oq.save_slim(q_proto, out_path, compact_qdq=True)
            guard = None
            if self.check_agreement:
                ctx.progress(0.9, "checking the int8 model against the input model")

                def plain() -> Path:  # the same step without exclusions: the reference an exclusion must not fall far below
                    plain_reader = self._reader(pre_proto, ctx, null_progress)
                    plain_path = Path(tmp) / "plain_int8.onnx"
                    oq.save_slim(self._quantize(pre, pre_proto, [], plain_reader, Path(tmp) / "plain_raw.onnx", []), plain_path)
                    return plain_path

                names = [r["layer"] for r in layers if r["excluded"]] or list(self.exclude_nodes) + list(self.exclude_op_types)
                try:
                    guard = check_collapse(ctx, src, out_path, what="int8", excluded=names if excluded else (),
                                           plain=None if kept else plain, traced=pre)
                except TechniqueError as err:
                    out_path.unlink(missing_ok=True)  # a broken model is not left where a later step could pick it up
                    if kept and not kept.met:  # the best the budgets allowed collapsed: say both
                        raise TechniqueError(f"{err.problem}. {kept.unmet}", err.fix) from err
                    raise
        fp32_bytes, int8_bytes = src.stat().st_size, out_path.stat().st_size
        said = kept.notes(self.max_drop) if kept else []
        if kept and not kept.met:  # a missed target is the first thing the card and the log say
            notes.insert(0, said.pop(0))
        notes += said
        notes += oq.left_in_fp32_note(layers)
        notes += [n for n in (_TYPE_NOTES.get(self.types),) if n]
        notes += [f"ONNX Runtime: {line}" for line in logs]
        done = sum(row["quantized"] for row in layers)
        ctx.progress(1.0, "quantized")
        return StepOutcome(
            model=derived(model, OnnxModel(out_path), suffix=suffix),
            summary=(
                f"static int8 ({self.types}, {'per-channel' if self.per_channel else 'per-tensor'}, {self.calibration_method} "
                f"on {reader.samples} images): {done} of {len(layers)} weight layers quantized, "
                f"{oq.kib(fp32_bytes)} → {oq.kib(int8_bytes)} ({fp32_bytes / max(int8_bytes, 1):.1f}× smaller)"
            ),
            layers=layers,
            notes=notes,
            extra={
                "quantize_linear": counts.get("QuantizeLinear", 0),
                "dequantize_linear": counts.get("DequantizeLinear", 0),
                "excluded_nodes": len(excluded),
                "quantized_layers": done,
                "weight_layers": len(layers),
                "calibration_samples": reader.samples,
                "fp32_bytes": fp32_bytes,
                "int8_bytes": int8_bytes,
                "slimmed_bytes": saved,
                "op_counts": counts,
                **({"input_agreement": round(guard.value, 4), "input_agreement_images": guard.images} if guard else {}),
                **(_fallback_extra(kept, layers) if kept else {}),
                **({"history": history} if history else {}),
            },
        )

    def _rewrite(self, proto, pre: Path, ctx: StepContext, excluded: list[str], notes: list[str]) -> dict:
        """``equalize`` then ``bias_correction`` on the pre-processed fp32 graph (in place, saved to ``pre``).

        Returns what bias correction changed, so layers the fallback keeps in
        fp32 get their own biases back.
        """
        import onnx

        from core.quant.activation_stats import STATS_IMAGES
        from core.quant.bias_correction import correct_biases
        from core.quant.equalize import equalize

        corrected: dict = {}
        images = min(STATS_IMAGES, len(ctx.data.calib))  # type: ignore[arg-type]
        if self.equalize:
            pairs = equalize(proto)
            notes.append(f"equalize: {pairs} pair(s) of consecutive layers rescaled to equal weight ranges"
                         if pairs else "equalize: no pair of consecutive layers can be rescaled exactly (only those with "
                         "a ReLU or nothing between them can; ReLU6 clips at a fixed value), the graph is unchanged")
        if self.bias_correction:
            corrected = correct_biases(proto, ctx.data.calib, signed=self.types[2] == "S", per_channel=self.per_channel,
                                       reduce_range=self.reduce_range, skip=set(excluded), check=ctx.check)
            notes.append(f"bias_correction: {len(corrected)} layer bias(es) corrected for the mean shift of int8 weight rounding "
                         f"(input means on {images} calibration images)")
        onnx.save(proto, str(pre))
        return corrected

    def _tune(self, pre_proto, pre: Path, q_proto, ops: list, ctx: StepContext, tuning: Tuning,
              notes: list[str], start: float, teacher) -> list[dict]:
        """The fp32 graph's weights tuned against its int8 simulation, saved back to ``pre``; the epochs' records."""
        import onnx

        from core.quant import tune
        from core.training import EpochRecord

        history: list[dict] = []

        def on_epoch(epoch: int, loss: float, seconds: float) -> None:
            history.append({"epoch": epoch, "train_loss": round(loss, 6)})
            if ctx.on_epoch is not None:
                ctx.on_epoch(EpochRecord(epoch, loss, float("nan"), float("nan"), seconds))

        result = tune.tune_weights(pre_proto, q_proto, [op.weight for op in ops], tuning.dataset, tuning.options,
                                   sub_progress(ctx.progress, start, 0.88), ctx.check, on_epoch, tuning.select, teacher)
        tune.write_back(pre_proto, result.weights)
        onnx.save(pre_proto, str(pre))
        selected = tuning.select is not None and len(tuning.select) >= tune.MIN_HELD_OUT
        notes.append(_tuning_note(result, tuning.what, "validation images" if selected else "held-out images"))
        for record_ in history:  # the error that chose the kept epoch, beside the training loss
            record_.update(held_out_loss=round(result.scores[record_["epoch"]], 6), kept=record_["epoch"] == result.kept_epoch)
        return history

    def _quantize(self, pre: Path, pre_proto, excluded: list[str], reader: oq.CalibrationReader, raw: Path,
                  logs: list[str], cache: Optional[Path] = None):
        """ONNX Runtime's ``quantize_static`` with this step's settings; the QDQ graph with exclusions made real."""
        return ort_backend.quantize_qdq(pre, raw, reader, self.scheme(), exclude=excluded, source=pre_proto, logs=logs,
                                        cache=cache)

    def _meet_target(self, ctx: StepContext, src: Path, pre: Path, pre_proto, excluded: list[str], ops: list,
                     q_proto, tmp: Path, logs: list[str], cache: Optional[Path], originals: Originals,
                     end: float) -> fallback.FallbackResult:
        """``max_drop``: rank the int8 layers by SQNR lost, then keep the fewest worst ones fp32 that meet the target."""
        plain_path = tmp / "target_plain.onnx"
        oq.save_slim(q_proto, plain_path)

        def build(nodes: list[str], path: Path):
            source, source_path = pre_proto, pre
            if any(n in originals for n in nodes):  # a layer kept fp32 has no rounding to correct: its own values back
                import onnx

                source, source_path = restore(pre_proto, originals, nodes), tmp / "fallback_pre.onnx"
                onnx.save(source, str(source_path))
            proto = self._quantize(source_path, source, [*excluded, *nodes], self._reader(source, ctx, null_progress),
                                   tmp / "fallback_raw.onnx", logs, cache)
            oq.save_slim(proto, path)
            return oq.load_proto(path)

        ctx.progress(0.3, "ranking layers by int8 error")
        dataset = ctx.data.val if len(ctx.data.val) else ctx.data.calib  # type: ignore[arg-type]
        batches = ranking.image_batches(dataset, oq.first_input(pre_proto).name)
        candidates = [op for op in ops if op.node not in set(excluded)]
        rows = ranking.ranked(ranking.sqnr_rows(pre, tmp / "quantized.onnx", pre_proto, candidates, batches, tmp, ctx.check))
        costs = fallback.layer_costs(rows, pre_proto)
        return fallback.meet_target(ctx, src, pre_proto, costs, sum(op.params for op in ops), plain_path, build, self.max_drop,
                                    sub_progress(ctx.progress, 0.35, end), self.max_slowdown)

    def _reader(self, proto, ctx: StepContext, progress: ProgressFn) -> oq.CalibrationReader:
        """A reader over the calibration split, checked against the model's input first."""
        return ort_backend.calibration_reader(proto, ctx, self.calibration_samples, self.batch_size, progress)


COMPARE_IMAGES = 256  # validation images the tuned and untuned int8 models are compared on, in ONNX Runtime


def _tuned_is_better(reference, untuned_q, tuned_q, select, tmp: Path, notes: list[str]) -> bool:
    """Does the tuned int8 model match the fp32 model's logits better than the untuned one, in ONNX Runtime?

    The simulation that chose the epoch is close to ONNX Runtime's integer kernels, not equal to them; on the
    bench a tuned model the simulation preferred was worse in ONNX Runtime. The file users get decides.
    ``reference`` is the input model's file (or its graph); a ``tuned_q`` that is ``untuned_q`` is run once.
    """
    import numpy as np

    images = np.stack([np.asarray(select[i][0], dtype=np.float32) for i in range(min(len(select), COMPARE_IMAGES))])
    outputs: dict[int, np.ndarray] = {}
    for name, model in (("fp32", reference), ("untuned", untuned_q), ("tuned", tuned_q)):
        if id(model) not in outputs:
            path = model if isinstance(model, Path) else tmp / f"compare_{name}.onnx"
            if not isinstance(model, Path):
                onnx_save(model, path)
            outputs[id(model)] = OnnxModel(path).run_numpy(images).astype(np.float64)
    fp32, untuned, tuned = (outputs[id(m)] for m in (reference, untuned_q, tuned_q))
    before, after = float(np.mean((untuned - fp32) ** 2)), float(np.mean((tuned - fp32) ** 2))
    agree_before = float(np.mean(untuned.argmax(1) == fp32.argmax(1)))
    agree_after = float(np.mean(tuned.argmax(1) == fp32.argmax(1)))
    measured = (f"on {len(images)} validation images in ONNX Runtime, logit error {before:.4g} untuned vs {after:.4g} tuned, "
                f"top-1 agreement {100 * agree_before:.1f} % vs {100 * agree_after:.1f} %")
    if after < before:
        notes.append(f"weight tuning kept: {measured}")
        return True
    notes.append(f"weight tuning discarded, the untuned int8 model was closer to the input model: {measured}")
    return False


def onnx_save(proto, path: Path) -> None:
    import onnx

    onnx.save(proto, str(path))


def _tuning_note(result, what: str, held_what: str) -> str:
    """What weight tuning did, and which epoch it kept (by the error on images it did not train on)."""
    trained = f"weight tuning: {result.steps} steps over {result.images} {what} in {result.seconds:.0f} s"
    on = f"{result.held_out} {held_what}" if result.held_out else "the training images"
    scores = " → ".join(f"{v:.4g}" for v in result.scores)
    if result.kept_epoch == 0:
        return (f"{trained}; no epoch lowered the simulated int8 model's logit error on {on} ({scores} by epoch), "
                "so the weights were left as they were")
    return (f"{trained}; kept epoch {result.kept_epoch}: the simulated int8 model's mean squared logit error on {on} "
            f"went {result.loss_before:.4g} → {result.loss_after:.4g} ({scores} by epoch)")


def _layer_rows(ops: list[oq.WeightOp], q_proto, excluded: set[str], kept: Optional[fallback.FallbackResult]) -> list[dict]:
    """One row per weight layer: was its weight stored as int8 (fed through a DequantizeLinear)?

    With ``max_drop`` each row also says whether the fallback kept it fp32, the
    SQNR int8 costs it and what fp32 costs it (bytes, share of the MACs).
    """
    costs = {c["node"]: c for c in kept.costs} if kept else {}
    kept_nodes = set(kept.kept) if kept else set()
    producer = {out: node.op_type for node in q_proto.graph.node for out in node.output}
    nodes = {node.name: node for node in q_proto.graph.node if node.name}
    rows = []
    for op in ops:
        node = nodes.get(op.node)
        quantized = node is not None and len(node.input) > op.index and producer.get(node.input[op.index]) == "DequantizeLinear"
        rows.append({
            "layer": op.layer, "node": op.node, "op_type": op.op_type, "params": op.params,
            "quantized": bool(quantized), "excluded": op.node in excluded,
        })
        if kept:
            cost = costs.get(op.node, {})
            rows[-1].update(kept_fp32=op.node in kept_nodes, lost_db=cost.get("lost_db"),
                            fp32_extra_bytes=cost.get("fp32_extra_bytes"), macs_share=cost.get("macs_share"))
    return rows


def _fallback_extra(kept: fallback.FallbackResult, layers: list[dict]) -> dict:
    """The ``max_drop`` numbers a sweep or the result card reads."""
    rows = [r for r in layers if r.get("kept_fp32")]
    return {
        "kept_fp32": [r["layer"] for r in rows],
        "kept_fp32_joins": list(kept.companions),
        "target_agreement": round(kept.agreement, 4),
        "target_met": kept.met,
        **({"fp32_slowdown": round(kept.slowdown, 3)} if kept.slowdown else {}),
        "int8_agreement_before_fallback": round(kept.plain_agreement, 4),
        "target_images": kept.images,
        "fp32_extra_bytes": sum(r["fp32_extra_bytes"] or 0 for r in rows),
        "fp32_macs_share": round(sum(r["macs_share"] or 0 for r in rows), 4),
    }
