"""Check that a model and a dataset fit each other before any long work starts.

A mismatch found here costs the user a second and comes with the fix; the same
mismatch found inside an evaluation loop is a tensor-shape traceback. Each
mismatch carries its fix twice, in the words of the command line (flags) and of
the app (its controls), so each interface tells the user what *they* can change.

Only a model with a fixed input size (an ONNX file or a ``.pt2`` program with
static H×W) needs the data's exact size; an eager PyTorch network (torchvision,
the demo, a state_dict) usually pools adaptively and takes other sizes, so it is
tried on the data instead of being refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError, ShapeMismatchError
from core.models.loaded import LoadedModel

NEW_HEAD_FORMATS = ("torchvision", "state_dict", "demo")  # --num-classes gives these a new head


@dataclass(frozen=True)
class Mismatch:
    """One way model and data disagree, with the fix for the CLI and for the app."""

    kind: str  # "input" | "classes" | "output"
    problem: str
    fix_cli: str
    fix_app: str
    cause: Optional[BaseException] = None

    def app_text(self) -> str:
        return f"{self.problem[0].upper()}{self.problem[1:]}: {self.fix_app}."


def _shape(s) -> str:
    return "×".join(str(d) for d in s)


def fixed_input_size(model: LoadedModel) -> bool:
    """True when the model's file fixes its input size (ONNX, static ``.pt2``): other sizes cannot run."""
    return model.input_shape is not None and (model.is_onnx or model.source_format == "pt2")


def _data_kind(data: DatasetBundle) -> str:
    from core.data.spec import parse_spec

    try:
        return parse_spec(data.spec).kind
    except EdgeSlimError:
        return "imagefolder"


def _is_runtime_failure(exc: BaseException) -> bool:
    """Errors a forward pass raises on input of the wrong shape (PyTorch or ONNX Runtime)."""
    if isinstance(exc, (RuntimeError, ValueError, IndexError)):
        return True
    # ONNX Runtime's errors (InvalidArgument, Fail, ...) derive from Exception only
    return type(exc).__module__.startswith("onnxruntime")


def _input_mismatch(model: LoadedModel, data: DatasetBundle, detail: str = "", cause=None) -> Mismatch:
    ms, ds = model.input_shape, tuple(int(d) for d in data.input_shape)
    kind = _data_kind(data)
    tail = f": {detail}" if detail else ""
    if ms is None:
        return Mismatch(
            "input", f"the model fails on the data's {_shape(ds)} input{tail}",
            "pass --image-size N for the input size the model was built for (e.g. --image-size 224), "
            "or give the model's input shape with --input-shape C,H,W",
            "set Image size on the Data page to the input size the model was built for (e.g. 224)", cause,
        )
    problem = f"the model takes {_shape(ms)} input but the data gives {_shape(ds)}{tail}"
    cli, app = [], []
    if ms[0] != ds[0]:
        if kind in ("mnist", "fashionmnist") and ms[0] == 3:
            cli.append("pass --preset rgb32 for 3-channel 32×32 images")
        else:
            cli.append(f"use {ms[0]}-channel data or a model built for {ds[0]}-channel input")
        app.append(f"open {ms[0]}-channel data or a model built for {ds[0]}-channel input")
    if tuple(ms[1:]) != ds[1:]:
        if ms[1] != ms[2]:
            cli.append(f"re-export the model for square input (--image-size gives N×N images), or use data of {ms[1]}×{ms[2]}")
            app.append(f"re-export the model for square input, or open data of {ms[1]}×{ms[2]}")
        elif kind == "imagefolder":
            cli.append(f"pass --image-size {ms[1]} to resize and crop the images to {ms[1]}×{ms[1]}")
            app.append(f"set Image size on the Data page to {ms[1]}")
        else:
            cli.append(f"{kind} images are {ds[1]}×{ds[2]}: use an image folder with --image-size {ms[1]}, "
                       f"or a model built for {_shape(ds)}")
            app.append(f"open an image folder and set Image size on the Data page to {ms[1]}, or a model built for {_shape(ds)}")
    return Mismatch("input", problem, ", and ".join(cli) or "use data of the model's input shape",
                    ", and ".join(app) or "open data of the model's input shape", cause)


def _classes_mismatch(model: LoadedModel, outputs: int, data: DatasetBundle) -> Mismatch:
    from core.data.imagenet import IMAGENET_CLASSES, WNIDS_FIX
    from core.data.labels import wnid_folders_without_list

    k = data.num_classes
    cli, app = [], []
    if outputs > k:
        labels = f"pass --labels FILE mapping each class folder to one of the model's {outputs} outputs (a `folder,index` line each)"
        app_labels = f"choose a labels file on the Data page (Labels file…) mapping each class folder to one of the model's {outputs} outputs"
        if outputs == IMAGENET_CLASSES and wnid_folders_without_list(data.class_names):
            labels += f" ({WNIDS_FIX})"
            app_labels += f" ({WNIDS_FIX})"
        elif outputs == IMAGENET_CLASSES:
            labels += " or name the folders by ImageNet index (207) or WordNet id (n02099601)"
            app_labels += ", or name the folders by ImageNet index (207) or WordNet id (n02099601)"
        cli.append(labels)
        app.append(app_labels)
    if model.source_format in NEW_HEAD_FORMATS:
        cli.append(f"pass --num-classes {k} to give the model a new {k}-class head (then fine-tune it)")
    cli.append(f"use data with {outputs} classes")
    app.append(f"open data with {outputs} classes")
    return Mismatch("classes", f"the model has {outputs} outputs but the data has {k} classes", ", or ".join(cli), ", or ".join(app))


def _probe(model: LoadedModel, data: DatasetBundle) -> tuple[Optional[int], Optional[Mismatch]]:
    """Run two samples through the model: (its number of outputs, or None without data; a mismatch or None)."""
    import torch

    split = next((s for s in (data.val, data.calib, data.train) if len(s) > 0), None)
    if split is None:
        return None, None
    batch = torch.stack([split[i][0] for i in range(min(2, len(split)))])
    try:
        out = model.predict(batch)
    except EdgeSlimError:
        raise
    except Exception as exc:
        if not _is_runtime_failure(exc):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        return None, _input_mismatch(model, data, first, exc)
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        shape = _shape(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return None, Mismatch(
            "output", f"the model returns {shape}, not one row of class scores per image",
            "use a classifier whose output is a (batch, classes) tensor of logits",
            "open a classifier whose output is a (batch, classes) tensor of logits",
        )
    return int(out.shape[1]), None


def find_mismatches(model: LoadedModel, data: DatasetBundle, probe: bool = True) -> list[Mismatch]:
    """Every way ``model`` and ``data`` disagree (empty when they fit).

    Known shapes and class counts are compared directly. With ``probe``, a model
    that does not say its classes or input, or an eager model given another
    input size than its usual one, is run on two images to find out; without it
    (the app's instant check on its own thread) only what is known is compared.
    """
    data_shape = tuple(int(d) for d in data.input_shape)
    found: list[Mismatch] = []
    size_differs = model.input_shape is not None and tuple(model.input_shape) != data_shape
    if size_differs and fixed_input_size(model):
        found.append(_input_mismatch(model, data))
    if model.num_classes is not None and model.num_classes != data.num_classes:
        found.append(_classes_mismatch(model, model.num_classes, data))
    unknown = model.input_shape is None or model.num_classes is None
    if probe and not found and (unknown or size_differs):
        outputs, problem = _probe(model, data)
        if problem is not None:
            found.append(problem)
        elif outputs is not None and outputs != data.num_classes:
            found.append(_classes_mismatch(model, outputs, data))
    return found


def mismatch_error(found: Sequence[Mismatch]) -> ShapeMismatchError:
    """One error naming every mismatch and its command-line fix."""
    error = ShapeMismatchError("; ".join(m.problem for m in found), "; ".join(m.fix_cli for m in found))
    error.__cause__ = next((m.cause for m in found if m.cause is not None), None)
    return error


def check_compatible(model: LoadedModel, data: DatasetBundle) -> tuple[int, int, int]:
    """The (C, H, W) input shape to use for ``model`` on ``data``, or a ShapeMismatchError with the CLI fix."""
    found = find_mismatches(model, data)
    if found:
        raise mismatch_error(found)
    return tuple(int(d) for d in data.input_shape)  # type: ignore[return-value]


def model_outputs(model: LoadedModel, data: DatasetBundle) -> Optional[int]:
    """The model's number of outputs: as loaded, or from two images when the file does not say."""
    if model.num_classes is not None:
        return model.num_classes
    outputs, _ = _probe(model, data)
    return outputs


def _may_map(data: DatasetBundle) -> bool:
    """Folder names that could be read as ImageNet indices or WordNet ids (worth a probe to find the output count)."""
    from core.data.imagenet import is_wnid

    return data.spec != "demo" and all(c.isdigit() or is_wnid(c) for c in data.class_names)


def match_model_labels(model: LoadedModel, data: DatasetBundle, labels=None) -> DatasetBundle:
    """``data`` in the model's label space (a labels file, or folders named by ImageNet index / WordNet id).

    No check here: callers check with :func:`check_compatible` on the result.
    """
    from core.data.labels import match_labels

    if data.label_map is not None or (not labels and not _may_map(data)):
        return data
    return match_labels(data, model_outputs(model, data), labels)


def fit_data(model: LoadedModel, data: DatasetBundle, labels=None) -> DatasetBundle:
    """``data`` matched to the model's outputs and checked against it: what every command does once both are loaded."""
    data = match_model_labels(model, data, labels)
    check_compatible(model, data)
    return data
