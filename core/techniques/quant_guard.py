"""The collapse guard: an ONNX-side quantization whose predictions stop agreeing with its input model is refused.

A quantized file can be valid ONNX, load, run and still be garbage: a layer
kept in fp32 fed the wrong tensor, calibration ranges that are nonsense, an
fp16 overflow. Storing it would let a recipe, a sweep or the Explore page carry
a broken model as if it were a compression. So every ``quantize.*`` ONNX step
measures top-1 agreement with the model it started from on up to
:data:`GUARD_IMAGES` validation images (calibration images when there is no
validation split) and fails with the numbers and the likely layers when:

* the agreement is near chance: no better than ``chance + CHANCE_MARGIN × (1 −
  chance)``, where chance is the agreement of two unrelated predictors with the
  same class frequencies (a constant output scores exactly that), and below
  :data:`NEVER_COLLAPSED` (a model that predicts one class almost everywhere
  makes chance itself high); or
* layers were kept in fp32 and the agreement is below ``max(PLAIN_SHARE × plain,
  plain − PLAIN_POINTS)``, ``plain`` being the agreement of the same step
  without exclusions. That reference costs a second quantization, so it is
  computed only when layers are excluded (excluding layers should win
  agreement back, never lose most of it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from core.jobs import check
from core.techniques.base import StepContext, TechniqueError

GUARD_IMAGES = 256  # tells a collapse (tens of points) from sampling noise (±3 points); 150 MB of images at 224 px
GUARD_BATCH = 64
CHANCE_MARGIN = 0.10  # of the way from chance to full agreement
NEVER_COLLAPSED = 0.9  # agreement this high is no collapse, however skewed the classes (chance is then high too)
PLAIN_SHARE = 0.5
PLAIN_POINTS = 0.20
TRACE_IMAGES = 8  # images the per-layer comparison runs on when naming the likely layers
TRACE_FLOOR_DB = 10.0  # a layer output this noisy (int8 against fp32) is where the signal was lost
SHOWN = 3


@dataclass(frozen=True)
class Agreement:
    """Top-1 agreement of a quantized model with its input model, and what an unrelated model would score."""

    value: float
    chance: float
    images: int
    split: str

    @property
    def floor(self) -> float:
        """Agreement at or below this is a collapse whatever the reference."""
        return self.chance + CHANCE_MARGIN * (1.0 - self.chance)

    @property
    def collapsed(self) -> bool:
        return self.value <= self.floor and self.value < NEVER_COLLAPSED

    def text(self) -> str:
        return f"{self.value:.1%} of {self.images} {self.split} images"


def guard_images(ctx: StepContext) -> tuple[np.ndarray, str]:
    """The first :data:`GUARD_IMAGES` validation images (calibration images if there is no validation split)."""
    for split in ("val", "calib"):
        dataset = getattr(ctx.data, split)
        n = min(len(dataset), GUARD_IMAGES)  # type: ignore[arg-type]
        if n:
            images = np.stack([np.asarray(dataset[i][0], dtype=np.float32) for i in range(n)])
            return images, {"val": "validation", "calib": "calibration"}[split]
    return np.zeros((0,)), "no"


def predictions(path: Path, images: np.ndarray, ctx: StepContext) -> np.ndarray:
    """Top-1 classes of the ONNX file at ``path`` (a fixed-batch file runs in chunks of its batch)."""
    from core.models.onnx_model import OnnxModel

    model = OnnxModel(Path(path), threads=ctx.threads)
    run = model.run_numpy
    if model.session().get_inputs()[0].type == "tensor(float16)":  # quantize.fp16 without keep_io_types
        from core.models.onnx_batch import run_in_chunks

        session, name, fixed = model.session(), model.input_name, model.fixed_batch

        def run(x: np.ndarray) -> np.ndarray:
            half = x.astype(np.float16)
            if fixed is None:
                return session.run(None, {name: half})[0]
            return run_in_chunks(lambda chunk: session.run(None, {name: chunk})[:1], half, fixed)[0]

    out = []
    for start in range(0, len(images), GUARD_BATCH):
        ctx.check()
        logits = np.asarray(run(images[start: start + GUARD_BATCH]), dtype=np.float32)
        out.append(logits.reshape(len(logits), -1).argmax(1))
    return np.concatenate(out)


def agreement_of(reference: np.ndarray, predicted: np.ndarray, split: str) -> Agreement:
    classes = int(max(reference.max(), predicted.max())) + 1
    p_ref = np.bincount(reference, minlength=classes) / len(reference)
    p_out = np.bincount(predicted, minlength=classes) / len(predicted)
    return Agreement(float(np.mean(reference == predicted)), float(np.dot(p_ref, p_out)), len(reference), split)


def check_collapse(
    ctx: StepContext,
    source: Path,
    output: Path,
    *,
    what: str,
    excluded: Sequence[str] = (),
    plain: Optional[Callable[[], Path]] = None,
    traced: Optional[Path] = None,
) -> Optional[Agreement]:
    """Measure ``output`` against ``source`` and raise if it collapsed; returns the agreement (None without images).

    ``excluded`` names the layers kept in fp32 (shown as the likely cause);
    ``plain`` builds the same step without exclusions, called only when
    ``excluded`` is not empty. ``traced`` is the fp32 graph ``output`` was made
    from (after pre-processing), whose layer outputs match ``output``'s.
    """
    images, split = guard_images(ctx)
    if not len(images):
        return None
    reference = predictions(source, images, ctx)
    measured = agreement_of(reference, predictions(output, images, ctx), split)
    base: Optional[Agreement] = None
    if excluded and plain is not None:
        check(ctx.cancel)
        base = agreement_of(reference, predictions(plain(), images, ctx), split)
        if measured.value < max(PLAIN_SHARE * base.value, base.value - PLAIN_POINTS):
            raise TechniqueError(
                f"the {what} model with {len(excluded)} layer(s) kept in fp32 agrees with the input model on only "
                f"{measured.text()}, against {base.value:.1%} for the same step without exclusions, so it was not stored"
                + _layers_text(list(excluded), True),
                _fix(what, True),
            )
    if measured.collapsed:
        # not the exclusions' fault (the plain step is as bad, or there are none): name where int8 loses the signal
        without = f"; {base.value:.1%} without exclusions" if base is not None else ""
        raise TechniqueError(
            f"the {what} model agrees with the input model on only {measured.text()}{without} — no better than chance "
            f"({measured.chance:.1%} for unrelated predictions) — so it was not stored"
            + _layers_text(first_lost_layers(traced or source, output, images), False),
            _fix(what, False),
        )
    return measured


def _layers_text(layers: Sequence[str], excluded: bool) -> str:
    if not layers:
        return ""
    shown = ", ".join(layers[:SHOWN]) + (f" and {len(layers) - SHOWN} more" if len(layers) > SHOWN else "")
    return f"; likely cause: {'the layers kept in fp32' if excluded else 'the signal is lost first at'} {shown}"


def _fix(what: str, excluded: bool) -> str:
    if excluded:
        return "run the step without exclude_nodes / exclude_op_types, or keep other layers in fp32, and report this model"
    if what == "fp16":
        return "keep the overflowing layers in float32 with exclude_nodes, or use quantize.static"
    if what.startswith("dynamic"):
        return "keep the named layers in fp32 with exclude_nodes, or use quantize.static, which calibrates on real images"
    return "try calibration_method MinMax or more calibration images, keep the named layers in fp32 with exclude_nodes, " \
           "or check that the calibration images are preprocessed like the validation images"


# --------------------------------------------------------------------------- naming the layers


def first_lost_layers(source: Path, output: Path, images: np.ndarray) -> list[str]:
    """Weight layers, in graph order, whose output has lost the signal (SQNR under :data:`TRACE_FLOOR_DB`).

    Both files keep the layers' node names, so each layer's output is made a
    graph output in both and compared on a few images. Best effort: a graph
    this cannot follow gives an empty list and the error names no layer.
    """
    from core.techniques.onnx_quant_common import load_proto, weight_ops

    try:
        ours = _layer_outputs(output, images[:TRACE_IMAGES])
        theirs = _layer_outputs(source, images[:TRACE_IMAGES], only=list(ours))
        layer = {op.node: op.layer for op in weight_ops(load_proto(source))}  # the names the layers table shows
    except Exception:  # naming the layers must never hide the collapse itself
        return []
    lost = []
    for node, value in ours.items():
        name = layer.get(node, node)
        ref = theirs.get(node)
        if ref is None or ref.shape != value.shape:
            continue
        signal = float(np.sum(ref.astype(np.float64) ** 2))
        noise = float(np.sum((ref.astype(np.float64) - value) ** 2))
        db = 10.0 * math.log10(max(signal, 1e-30) / max(noise, 1e-30)) if math.isfinite(noise) else -math.inf
        if db < TRACE_FLOOR_DB:
            lost.append(f"{name} ({db:.1f} dB)" if math.isfinite(db) else f"{name} (non-finite)")
    return lost


def _layer_outputs(path: Path, images: np.ndarray, only: Optional[list[str]] = None) -> dict[str, np.ndarray]:
    """The first output of every Conv/Gemm/MatMul node (or of the nodes named ``only``), by node name."""
    import onnx
    import onnxruntime as ort

    from core.techniques.onnx_quant_common import WEIGHT_OPS, first_input

    proto = onnx.load(str(path))
    wanted = set(only) if only is not None else None
    names: dict[str, str] = {}
    for node in proto.graph.node:
        if node.name and (node.name in wanted if wanted is not None else node.op_type in WEIGHT_OPS):
            names[node.output[0]] = node.name
    have = {o.name for o in proto.graph.output}
    proto.graph.output.extend(onnx.ValueInfoProto(name=t) for t in names if t not in have)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the graph as written, nothing fused away
    session = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed_name = first_input(proto).name
    batch = session.get_inputs()[0].shape[0]
    x = images if not isinstance(batch, int) or batch <= 0 else images[:batch]
    if len(x) < (batch if isinstance(batch, int) and batch > 0 else 1):
        return {}
    outputs = [o.name for o in session.get_outputs()]
    values = session.run([t for t in names if t in outputs], {feed_name: x})
    return {names[t]: np.asarray(v, dtype=np.float64) for t, v in zip([t for t in names if t in outputs], values)}
