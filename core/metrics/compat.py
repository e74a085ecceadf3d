"""Check that a model and a dataset fit each other before any long work starts.

A mismatch found here costs the user a second and comes with the fix; the same
mismatch found inside an evaluation loop is a tensor-shape traceback.
"""

from __future__ import annotations

from typing import Optional

from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError, ShapeMismatchError
from core.models.loaded import LoadedModel


def _shape(s) -> str:
    return "×".join(str(d) for d in s)


def _is_runtime_failure(exc: BaseException) -> bool:
    """Errors a forward pass raises on input of the wrong shape (PyTorch or ONNX Runtime)."""
    if isinstance(exc, (RuntimeError, ValueError, IndexError)):
        return True
    # ONNX Runtime's errors (InvalidArgument, Fail, ...) derive from Exception only
    return type(exc).__module__.startswith("onnxruntime")


def _probe_outputs(model: LoadedModel, data: DatasetBundle) -> Optional[int]:
    """Run two samples through the model; return its number of outputs (None if no data)."""
    import torch

    split = next((s for s in (data.val, data.calib, data.train) if len(s) > 0), None)
    if split is None:
        return None
    batch = torch.stack([split[i][0] for i in range(min(2, len(split)))])
    try:
        out = model.predict(batch)
    except EdgeSlimError:
        raise
    except Exception as exc:
        if not _is_runtime_failure(exc):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ShapeMismatchError(
            f"the model fails on the data's {_shape(data.input_shape)} input: {first}",
            "pick a preset/--image-size that gives the input the model was built for, "
            "or give the model's input shape with --input-shape",
        ) from exc
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        shape = _shape(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ShapeMismatchError(
            f"the model returns {shape}, not one row of class scores per image",
            "use a classifier whose output is a (batch, classes) tensor of logits",
        )
    return int(out.shape[1])


def _classes_error(model_classes: int, data_classes: int) -> ShapeMismatchError:
    return ShapeMismatchError(
        f"the model has {model_classes} outputs but the data has {data_classes} classes",
        f"pass --num-classes {data_classes} to give the model a new {data_classes}-class head "
        f"(then fine-tune it), or use data with {model_classes} classes",
    )


def check_compatible(model: LoadedModel, data: DatasetBundle) -> tuple[int, int, int]:
    """The (C, H, W) input shape to use for ``model`` on ``data``, or a ShapeMismatchError.

    Known shapes and class counts are compared directly; when the model does not
    say, one batch of two images is run through it to find out.
    """
    data_shape = tuple(int(d) for d in data.input_shape)
    if model.input_shape is not None and tuple(model.input_shape) != data_shape:
        raise ShapeMismatchError(
            f"the model expects {_shape(model.input_shape)} input but the data gives {_shape(data_shape)}",
            "pick a preset/--image-size that matches, or a model built for this input"
            + (
                f" (a {model.source_format} model of a size-agnostic architecture can be told "
                f"--input-shape {','.join(map(str, data_shape))})"
                if model.source_format in ("torchvision", "state_dict", "demo")
                else ""
            ),
        )
    if model.num_classes is not None and model.num_classes != data.num_classes:
        raise _classes_error(model.num_classes, data.num_classes)
    if model.input_shape is None or model.num_classes is None:
        outputs = _probe_outputs(model, data)
        if outputs is not None and outputs != data.num_classes:
            raise _classes_error(outputs, data.num_classes)
    return data_shape  # type: ignore[return-value]
