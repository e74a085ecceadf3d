"""Export a PyTorch module to a single-file ONNX model with a dynamic batch."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import torch
from torch import nn

from core.errors import EdgeSlimError

OPSET = 18


def export_onnx(module: nn.Module, input_shape: tuple[int, int, int], path: Path) -> Path:
    """Write ``module`` to ``path`` with the dynamo exporter (one file, batch dim dynamic).

    A ``.pt2`` program with a static batch is exported at that batch and its
    batch made dynamic afterwards when a checked rewrite allows it; otherwise
    the file keeps the program's batch and runs in chunks of it.

    The exporter's own chatter goes to a buffer: our callers report progress
    themselves and the CLI's ``--json`` output must stay parseable.
    """
    from core.models.exported import ProgramModule

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    # a program exported with a static batch only traces at that batch: export it there, then free the batch
    fixed = module.batch if isinstance(module, ProgramModule) and module.batch else None
    target: nn.Module = module.program if fixed else module  # type: ignore[assignment]
    example = torch.randn(fixed or 2, *input_shape)
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                target,
                (example,),
                str(path),
                dynamo=True,
                external_data=False,
                opset_version=OPSET,
                input_names=["input"],
                output_names=["logits"],
                dynamic_shapes=None if fixed else ({0: torch.export.Dim("batch")},),
            )
        _strip_file(path)
        if fixed:
            _free_batch(path, fixed)
    except Exception as exc:  # the exporter raises many types; all mean "cannot export"
        raise EdgeSlimError(
            f"could not export the model to ONNX ({type(exc).__name__}: {_first_line(exc)})",
            "check that the model runs on a batch of shape (N, "
            + ", ".join(map(str, input_shape))
            + ") and uses only exportable operations",
        ) from exc
    return path


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _first_line(exc: BaseException) -> str:
    """The exporter's message without its terminal colour codes, one line."""
    text = _ANSI.sub("", str(exc)).strip()
    return (text.splitlines()[0] if text else "")[:200]


def strip_debug_info(proto) -> int:
    """Remove what inference never reads and what should not ship; returns the bytes saved.

    The dynamo exporter stores a stack trace and FX text on every node and the
    ExportedProgram signature on the graph — local source paths included, about
    50 KB on the demo model. A deployable file carries none of it, and sizes
    compared across fp32 and compressed models must not count it.
    """
    before = proto.ByteSize()
    graph = proto.graph
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del graph.metadata_props[:]
    for value in [*graph.input, *graph.output]:
        del value.metadata_props[:]
        value.doc_string = ""
    graph.doc_string = ""
    return before - proto.ByteSize()


def _free_batch(path: Path, batch: int) -> None:
    """Make the file's fixed batch dynamic when the checked rewrite allows it; else it stays (and runs in chunks)."""
    import onnx

    from core.models.onnx_batch import checked_rewrite
    from core.models.onnx_model import OnnxModel

    data, _ = checked_rewrite(onnx.load(str(path)), batch, OnnxModel(path).session())
    if data is not None:
        path.write_bytes(data)


def _strip_file(path: Path) -> None:
    import onnx

    proto = onnx.load(str(path))
    if strip_debug_info(proto):
        onnx.save(proto, str(path))
