"""Save any PyTorch module as a ``torch.export`` program (``.pt2``) that loads without its code.

A pruned network no longer fits its architecture's constructor (its layers have
new widths), so a state_dict cannot be loaded back into ``torchvision:NAME``;
the program carries graph and weights together and loads through
:func:`core.models.load_model` like any ``.pt2``. The batch dimension is
exported dynamic so evaluation can feed batches of any size.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from core.errors import EdgeSlimError
from core.models.exported import unwrap
from core.models.spec import first_line

# loggers that print guard/specialisation chatter while exporting
_LOGGERS = ("torch.export", "torch._export", "torch._dynamo", "torch.fx.experimental.symbolic_shapes", "torch._subclasses")


def save_pt2(module: nn.Module, input_shape: tuple[int, ...], path: Path | str) -> Path:
    """Export ``module`` (eval mode) for inputs (N, *input_shape) with N dynamic and write it to ``path`` atomically.

    The program is written to a temporary file beside ``path`` and renamed into
    place, so a reader (or a crash) never sees half a file.
    """
    path = Path(path)
    module = unwrap(module)
    was_training = getattr(module, "training", False)
    with contextlib.suppress(Exception):  # an exported program's module refuses .eval(); it is frozen anyway
        module.eval()
    example = torch.randn(2, *input_shape)
    try:
        with _quiet():
            program = torch.export.export(module, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    except Exception as exc:  # the exporter raises many types; all mean "cannot export"
        raise EdgeSlimError(
            f"could not export the model as a torch.export program ({type(exc).__name__}: {first_line(exc)})",
            f"check that the model runs on a batch of shape (N, {', '.join(map(str, input_shape))}) "
            "and has no data-dependent control flow; an ONNX export is the alternative",
        ) from exc
    finally:
        with contextlib.suppress(Exception):
            module.train(was_training)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _quiet():
            torch.export.save(program, str(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        raise EdgeSlimError(f"could not write {path} ({exc.strerror or first_line(exc)})", "check that the folder exists, is writable and has free space") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return path


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Warnings, log records and prints of the exporter go nowhere: callers report progress themselves."""
    sink = io.StringIO()
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR + 10)
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
