"""Quantization-aware training's last mile: the converted model as a QDQ ONNX file, and the checks on it.

Split from ``quantize_qat`` (the training and graph surgery) because this part
only needs the converted graph: export it, read what ONNX Runtime will run,
and compare ONNX Runtime's predictions with the converted PyTorch model.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
from torch import fx

from core.models.onnx_export import OPSET
from core.models.onnx_model import OnnxModel
from core.models.spec import first_line
from core.techniques import onnx_quant_common as oq
from core.techniques.base import StepContext, TechniqueError

AGREEMENT_FLOOR = 0.98  # top-1 agreement of ONNX Runtime with the converted torch model below this is a bug
CHECK_SAMPLES = 2048  # validation images used to compare ONNX Runtime with the converted model
_QUIET_LOGGERS = ("torch.export", "torch._dynamo", "torch.fx", "torch.onnx", "torch.utils._pytree", "torchao", "onnxscript")


def export_qdq_onnx(converted: fx.GraphModule, shape: tuple[int, ...], path: Path) -> Path:
    """The converted graph as a one-file QDQ ONNX model with a dynamic batch, slimmed like the other quantizations."""
    import onnx

    example = torch.randn(2, *shape)
    try:
        program = torch.export.export(converted, (example,), dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
        torch.onnx.export(
            program, (example,), str(path), dynamo=True, external_data=False, opset_version=OPSET,
            input_names=["input"], output_names=["logits"],
        )
    except Exception as exc:  # the exporter raises many types; all mean "cannot export"
        raise TechniqueError(
            f"the int8 model could not be exported to ONNX ({type(exc).__name__}: {first_line(exc)})",
            "use quantize.static (post-training int8) for this model",
        ) from exc
    oq.save_slim(onnx.load(str(path)), path, compact_qdq=True)
    return path


def onnx_facts(path: Path) -> dict:
    """What the file holds: Q/DQ counts, int8 weights, and weights still stored as float."""
    import onnx

    proto = onnx.load(str(path))
    counts = oq.op_counts(proto)
    inits = oq.initializers(proto)
    dq_inputs = {n.input[0] for n in proto.graph.node if n.op_type == "DequantizeLinear"}
    q_inputs = {n.input[0] for n in proto.graph.node if n.op_type == "QuantizeLinear"}
    int8 = [i for name, i in inits.items() if name in dq_inputs and i.data_type == onnx.TensorProto.INT8 and len(i.dims) >= 2]
    float_weights = [name for name, i in inits.items() if name in q_inputs and i.data_type == onnx.TensorProto.FLOAT]
    return {
        "file_bytes": path.stat().st_size,
        "quantize_linear": counts.get("QuantizeLinear", 0),
        "dequantize_linear": counts.get("DequantizeLinear", 0),
        "int8_weights": len(int8),
        "int8_weight_bytes": int(sum(np.prod(i.dims) for i in int8)),
        "float_weights_quantized_at_runtime": len(float_weights),
        "op_counts": counts,
    }


def check_onnx(converted: fx.GraphModule, path: Path, ctx: StepContext) -> dict:
    """Run the file in ONNX Runtime at batch 1 and 7 and compare its top-1 with the converted torch model."""
    from torch.utils.data import DataLoader, Subset

    session = OnnxModel(path, threads=ctx.threads)
    n = min(len(ctx.data.val), CHECK_SAMPLES)  # type: ignore[arg-type]
    if n == 0:
        raise TechniqueError("the validation split is empty", "use a dataset with validation images")
    loader = DataLoader(Subset(ctx.data.val, range(n)), batch_size=64)
    image = np.asarray(ctx.data.val[0][0], dtype=np.float32)[None]
    for batch in (1, 7):
        rows = session.run_numpy(np.repeat(image, batch, axis=0)).shape[0]
        if rows != batch:
            raise TechniqueError(
                f"the exported int8 model returned {rows} rows for a batch of {batch}",
                "report this model: the ONNX export lost its dynamic batch",
            )
    onnx_top, torch_top, labels = [], [], []
    with torch.no_grad(), _threads(ctx.threads):
        for x, y in loader:
            ctx.check()
            onnx_top.append(session.run_numpy(x.numpy()).argmax(1))
            torch_top.append(converted(x).argmax(1).numpy())
            labels.append(np.asarray(y).reshape(-1))
    o, t, y = np.concatenate(onnx_top), np.concatenate(torch_top), np.concatenate(labels)
    return {
        "onnx_accuracy": float((o == y).mean()),
        "torch_int8_accuracy": float((t == y).mean()),
        "onnx_torch_agreement": float((o == t).mean()),
        "checked_samples": int(len(y)),
    }


def _check_notes(check: dict, facts: dict) -> list[str]:
    notes = []
    if check["onnx_torch_agreement"] < AGREEMENT_FLOOR:
        notes.append(
            f"WARNING: ONNX Runtime agrees with the converted int8 model on only {check['onnx_torch_agreement']:.1%} of "
            f"{check['checked_samples']} validation images (expected ≥ {AGREEMENT_FLOOR:.0%}); the exported file does not "
            "compute what was trained — check its accuracy before deploying it"
        )
    if facts["float_weights_quantized_at_runtime"]:
        notes.append(
            f"{facts['float_weights_quantized_at_runtime']} weight(s) are stored as float and quantized when the model runs"
        )
    notes.append(
        "activations are uint8 (asymmetric) and weights int8 (symmetric): the layout of ONNX Runtime's fast "
        "U8S8 kernels; ranges were learned during training, no calibration step is needed"
    )
    return notes


# --------------------------------------------------------------------------- reporting and helpers


def _val_sample(ctx: StepContext, n: int) -> torch.Tensor:
    """A few validation images, to check that two graphs compute the same function."""
    count = min(len(ctx.data.val), n)  # type: ignore[arg-type]
    if count == 0:
        raise TechniqueError("the validation split is empty", "use a dataset with validation images")
    return torch.stack([torch.as_tensor(ctx.data.val[i][0]) for i in range(count)]).float()


@contextlib.contextmanager
def _threads(n: Optional[int]) -> Iterator[None]:
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep torch.export / torchao / exporter chatter off the console (the CLI's --json must stay parseable)."""
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR + 10)
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
