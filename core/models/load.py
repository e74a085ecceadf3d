"""``load_model``: one entry point from a spec the user typed to a :class:`LoadedModel`.

Specs: ``demo``, ``torchvision:NAME``, ``timm:NAME`` (timm is optional and
imported only then), or a file (state_dict + ``arch``,
``.pt2`` program, TorchScript, full pickle behind ``trust``, ONNX). Every input
problem becomes a :class:`ModelLoadError` with the fix, never a traceback.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Optional, Union

import torch
from torch import nn

from core.controls import ask
import core.paths as paths
from core.errors import ModelLoadError, ShapeMismatchError, UntrustedPickleError
from core.models import timm_zoo
from core.models import torchvision_zoo as zoo
from core.models.loaded import LoadedModel
from core.models.spec import ModelSpec, corrupt, file_family, first_line, parse_spec, sniff_torch_archive
from core.models.state_dict import (
    FullPickle,
    demo_config_from_state_dict,
    extract_state_dict,
    head_note,
    load_into,
    load_with_new_head,
    safe_load,
)

DEMO_ARCH = "demo:DemoResNet"
DEMO_MISSING_FIX = "run `edgeslim-cli train-demo` to (re)create them (about a minute)"
TORCHSCRIPT_NOTE = "TorchScript is deprecated in PyTorch; prefer a torch.export program (.pt2) or ONNX"


def load_model(
    spec: str,
    *,
    arch: Optional[str] = None,
    num_classes: Optional[int] = None,
    weights: Union[str, Path, None] = None,
    trust: bool = False,
    input_shape: Optional[tuple[int, int, int]] = None,
) -> LoadedModel:
    """Turn ``spec`` into a runnable model plus what is known about it.

    ``arch`` names the architecture of a state_dict file (``torchvision:NAME``,
    ``timm:NAME`` or ``demo``); ``weights`` is a state_dict for a built-in spec (for a zoo
    architecture, a head trained for another class count than ``num_classes`` is replaced); ``trust`` allows
    unpickling a full-module file (which runs code from it); ``input_shape``
    (C, H, W) is used when the file does not say, and checked when it does.
    """
    if input_shape is not None:
        input_shape = check_shape(input_shape)
    parsed = parse_spec(spec)
    if parsed.kind == "file" and weights is not None:
        raise ModelLoadError("--weights goes with `demo`, `torchvision:NAME` or `timm:NAME`", f"to load {parsed.path} alone, drop --weights")
    if parsed.kind == "demo":
        model = _load_demo(spec, weights)
    elif parsed.kind in ("torchvision", "timm"):
        model = _load_zoo(_zoo_for(parsed.kind), spec, parsed.name, num_classes, weights)
    else:
        model = _load_file(spec, parsed, arch, num_classes, trust)
    return _settle(model, num_classes, input_shape)


def check_shape(shape) -> tuple[int, int, int]:
    """``shape`` as a (C, H, W) tuple of positive ints."""
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        dims = ()
    if len(dims) != 3 or min(dims) < 1:
        raise ShapeMismatchError(f"input shape must be three positive numbers C,H,W, got {shape!r}", f"{ask('input_shape')} e.g. 3,224,224")
    return dims  # type: ignore[return-value]


# --------------------------------------------------------------------------- built-ins


def _load_demo(spec: str, weights: Union[str, Path, None]) -> LoadedModel:
    """The shipped demo model, or the demo architecture with the user's ``weights``.

    User weights carry their own width/depth/classes (students of the demo
    family), so they need no card; the shipped weights need the card's config.
    """
    from core.models.demo_net import DemoResNet

    if weights is not None:
        wpath = Path(weights).expanduser()
        if not wpath.is_file():
            raise ModelLoadError(f"no such file: {wpath}", "check the --weights path")
        file_family(wpath)
        state = read_state_dict(wpath)
        config = demo_config_from_state_dict(state)
        if config is None:
            raise ModelLoadError(f"the weights in {wpath.name} are not from a DemoResNet", "give weights saved from a DemoResNet, or use torchvision:NAME")
        card: dict = {}
    else:
        wpath = Path(paths.DEMO_WEIGHTS)
        card, config = _demo_card()
        if not wpath.is_file():
            raise ModelLoadError(f"the demo model's files are missing ({wpath})", DEMO_MISSING_FIX)
        state = read_state_dict(wpath)
    module = DemoResNet(config)
    fix = DEMO_MISSING_FIX if weights is None else "give weights saved from a DemoResNet"
    load_into(module, state, str(wpath), fix)
    class_names = card.get("class_names")
    return LoadedModel(
        spec=spec,
        source_format="demo",
        runnable=module.eval(),
        name="DemoResNet",
        input_shape=check_shape(card.get("input_shape") or (config.in_channels, 32, 32)),
        num_classes=config.num_classes,
        class_names=list(class_names) if class_names and len(class_names) == config.num_classes else None,
        file_path=wpath,
        arch=DEMO_ARCH,
    )


def _demo_card():
    """(card dict, DemoNetConfig) of the shipped demo model."""
    from core.models.demo_net import DemoNetConfig

    card_path = Path(paths.DEMO_CARD)
    if not card_path.is_file():
        raise ModelLoadError(f"the demo model's files are missing ({card_path})", DEMO_MISSING_FIX)
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        return card, DemoNetConfig.from_dict(card["config"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"the demo model card {card_path} is unreadable ({type(exc).__name__}: {first_line(exc)})", DEMO_MISSING_FIX) from exc


def _zoo_for(kind: str) -> ModuleType:
    """The module that builds ``kind`` architectures (both expose the same functions)."""
    return timm_zoo if kind == "timm" else zoo


def _load_zoo(
    zoo: ModuleType, spec: str, name: str, num_classes: Optional[int], weights: Union[str, Path, None]
) -> LoadedModel:
    """A ``torchvision:NAME`` / ``timm:NAME`` architecture, random or with the user's ``weights``.

    Weights whose head has another class count than ``num_classes`` (an
    ImageNet checkpoint for a 10-class task) give the backbone; the head is
    newly initialised for ``num_classes`` and the model's notes say so.
    """
    prefix = "timm" if zoo is timm_zoo else "torchvision"
    name = zoo.check_name(name)
    notes: list[str] = []
    state = None
    if weights is not None:
        wpath = Path(weights).expanduser()
        if not wpath.is_file():
            raise ModelLoadError(f"no such file: {wpath}", "check the --weights path")
        file_family(wpath)
        state = read_state_dict(wpath)
        if num_classes is None:
            num_classes = zoo.num_classes_from_state_dict(name, state)
    else:
        notes.append("randomly initialised (no weights given): accuracy is chance level; pass --weights FILE for trained weights")
    module = zoo.build(name, num_classes or 1000)
    if state is not None:
        classes = load_with_new_head(module, state, zoo.head_keys(name), str(weights),
                                     f"check that the weights are for {prefix}:{name} (--arch)")
        if classes is not None:
            notes.append(head_note(Path(weights).name, classes))
    return LoadedModel(
        spec=spec,
        source_format=prefix,
        runnable=module,
        name=name,
        input_shape=zoo.input_shape_for(name),
        num_classes=num_classes or 1000,
        file_path=Path(weights) if weights is not None else None,
        arch=f"{prefix}:{name}",
        notes=notes,
    )


def with_new_head(model: LoadedModel, num_classes: int) -> LoadedModel:
    """``model`` (a ``torchvision:`` / ``timm:`` architecture) with a fresh ``num_classes``-way head, backbone kept.

    For callers that learn the class count from the data after loading (the
    model was loaded with the file's own 1000-class head).
    """
    arch = model.arch or ""
    if model.num_classes == num_classes:
        return model
    if not arch.startswith(("torchvision:", "timm:")):
        raise ModelLoadError(f"{model.name}'s head cannot be replaced (architecture {arch or 'unknown'})",
                             "load a torchvision:NAME or timm:NAME model to give it a new head")
    prefix, name = arch.split(":", 1)
    zoo = _zoo_for(prefix)
    module = zoo.build(name, num_classes)
    classes = load_with_new_head(module, model.module.state_dict(), zoo.head_keys(name), model.name, "reload the model")
    source = model.file_path.name if model.file_path else model.name
    notes = [n for n in model.notes if not n.startswith(("backbone from", "weights from"))] + [head_note(source, classes)]
    return LoadedModel(spec=model.spec, source_format=model.source_format, runnable=module.eval(), name=model.name,
                       input_shape=model.input_shape, num_classes=num_classes, file_path=model.file_path, arch=arch, notes=notes)


# --------------------------------------------------------------------------- files


def _load_file(spec: str, parsed: ModelSpec, arch: Optional[str], num_classes: Optional[int], trust: bool) -> LoadedModel:
    path = parsed.path
    assert path is not None
    family = file_family(path)
    if family == "onnx":
        from core.models.onnx_file import load_onnx

        runnable, shape, classes, notes = load_onnx(path)
        return LoadedModel(spec, "onnx", runnable, path.stem, shape, classes, file_path=path, notes=notes)
    if family == "pt2":
        if not zipfile.is_zipfile(path):
            raise corrupt(path, "torch.export program (.pt2)", None)
        kind = "pt2"
    else:
        kind = sniff_torch_archive(path)  # .pt may be a state_dict, a pickle, TorchScript or even a program
    if kind == "pt2":
        from core.models.exported import load_pt2

        module, shape, classes, notes = load_pt2(path)
        return LoadedModel(spec, "pt2", module, path.stem, shape, classes, file_path=path, notes=notes)
    if kind == "torchscript":
        return LoadedModel(spec, "torchscript", _load_torchscript(path), path.stem, file_path=path, notes=[TORCHSCRIPT_NOTE])
    # a torch.save archive: weights only (safe) or a full pickle (needs trust)
    try:
        obj = safe_load(path)
    except FullPickle:
        return _load_pickle(spec, path, trust)
    state = extract_state_dict(obj)
    if state is None:
        raise ModelLoadError(
            f"{path} holds a {type(obj).__name__}, not model weights (no tensors found)",
            "give a state_dict saved with torch.save(model.state_dict(), path), or a .pt2/ONNX export",
        )
    return _load_state_dict(spec, path, state, arch, num_classes)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file; a full pickle is refused (weights never need code)."""
    path = Path(path)
    try:
        obj = safe_load(path)
    except FullPickle as exc:
        raise ModelLoadError(
            f"{path} is a full pickle, not a state_dict",
            "save the weights with torch.save(model.state_dict(), path), or load the file itself as the model with --trust",
        ) from exc
    state = extract_state_dict(obj)
    if state is None:
        raise ModelLoadError(f"{path} holds no weights (no tensors found)", "give a state_dict saved with torch.save(model.state_dict(), path)")
    return state


def _load_state_dict(spec: str, path: Path, state: dict, arch: Optional[str], num_classes: Optional[int]) -> LoadedModel:
    if not arch:
        looks_demo = "conv1.weight" in state and "layer3.0.conv1.weight" in state and "fc.weight" in state and "layer4.0.conv1.weight" not in state
        hint = " (its keys look like the demo family: --arch demo)" if looks_demo else ""
        raise ModelLoadError(
            f"{path.name} holds only weights (a state_dict), not an architecture{hint}",
            "pass --arch torchvision:NAME (e.g. --arch torchvision:resnet18), --arch timm:NAME or --arch demo, plus --num-classes if it is not inferred",
        )
    arch_spec = parse_arch(arch)
    if arch_spec == "demo":
        from core.models.demo_net import DemoResNet

        config = demo_config_from_state_dict(state)
        if config is None:
            raise ModelLoadError(f"the weights in {path.name} are not from a DemoResNet", "pass the right --arch torchvision:NAME")
        if num_classes is not None and num_classes != config.num_classes:
            raise ModelLoadError(
                f"the weights in {path.name} have a {config.num_classes}-class head but --num-classes is {num_classes}",
                f"drop --num-classes or pass --num-classes {config.num_classes}",
            )
        module = DemoResNet(config)
        load_into(module, state, path.name, "check that the file holds DemoResNet weights")
        return LoadedModel(spec, "state_dict", module.eval(), path.stem, (config.in_channels, 32, 32), config.num_classes, file_path=path, arch=DEMO_ARCH)
    prefix, arch_name = arch_spec.split(":", 1) if arch_spec.startswith("timm:") else ("torchvision", arch_spec)
    zoo = _zoo_for(prefix)
    name = zoo.check_name(arch_name)
    reference = zoo.build(name, 1000, device="meta").state_dict()
    from core.models.state_dict import strip_prefixes

    state = strip_prefixes(state, reference)
    found = zoo.num_classes_from_state_dict(name, state)
    classes = num_classes or found or 1000
    module = zoo.build(name, classes)
    fix = (
        f"the file has a {found}-class head: pass --num-classes {found}"
        if found is not None and found != classes
        else f"check that the weights are for {prefix}:{name}; pass the --arch they were trained with"
    )
    load_into(module, state, path.name, fix)
    return LoadedModel(spec, "state_dict", module, path.stem, zoo.input_shape_for(name), classes, file_path=path, arch=f"{prefix}:{name}")


def parse_arch(arch: str) -> str:
    """``demo``, ``timm:NAME`` or a torchvision model name from an ``--arch`` value."""
    text = arch.strip()
    if text.lower() in ("demo", DEMO_ARCH.lower()):
        return "demo"
    if text.lower().startswith("torchvision:"):
        return text.split(":", 1)[1].strip()
    if text.lower().startswith("timm:"):
        name = text.split(":", 1)[1].strip()
        if not name:
            raise ModelLoadError("`--arch timm:` needs an architecture name", "use e.g. --arch timm:efficientnet_lite0")
        return f"timm:{name}"
    if ":" in text:
        raise ModelLoadError(f"unknown architecture `{arch}`", "use --arch torchvision:NAME, --arch timm:NAME or --arch demo")
    return text  # a bare torchvision name


def _load_torchscript(path: Path) -> nn.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated; noted on the model
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # TorchScript raises RuntimeError subclasses with C++ text
        raise corrupt(path, "TorchScript", exc) from exc
    return module.eval()


def _load_pickle(spec: str, path: Path, trust: bool) -> LoadedModel:
    if not trust:
        raise UntrustedPickleError(
            f"{path.name} is a full pickle: loading it runs code from the file",
            "if you trust its source, pass --trust (GUI: confirm 'trust this file'); "
            "better, ask for a state_dict, .pt2 or ONNX export, which load without running code",
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except (ModuleNotFoundError, AttributeError, ImportError) as exc:
        raise ModelLoadError(
            f"{path.name} needs Python code that is not installed here ({type(exc).__name__}: {first_line(exc)})",
            "install the package that defines the model's class, or export the model to .pt2 or ONNX",
        ) from exc
    except Exception as exc:
        raise corrupt(path, "PyTorch", exc) from exc
    if isinstance(obj, dict):  # some checkpoints wrap the module: {"model": module, "epoch": ...}
        obj = next((v for v in obj.values() if isinstance(v, nn.Module)), obj)
    if not isinstance(obj, nn.Module):
        raise ModelLoadError(f"{path.name} holds a {type(obj).__name__}, not a torch.nn.Module", "save the model itself, or its state_dict with --arch")
    return LoadedModel(spec, "pickle", obj.eval(), path.stem, file_path=path, notes=[
        "loaded from a full pickle; a state_dict, .pt2 or ONNX file loads without running code"
    ])


# --------------------------------------------------------------------------- shape and classes


def _settle(model: LoadedModel, num_classes: Optional[int], input_shape) -> LoadedModel:
    """Apply the caller's input shape / class count, checking them against what the model says."""
    if input_shape is not None:
        fixed = model.is_onnx or model.source_format == "pt2"
        if fixed and model.input_shape is not None and tuple(model.input_shape) != tuple(input_shape):
            raise ShapeMismatchError(
                f"{model.name} takes inputs of shape {model.input_shape}, not {tuple(input_shape)}",
                f"clear {ask('input_shape', action=False)}, or re-export the model for that shape",
            )
        model.input_shape = tuple(input_shape)  # type: ignore[assignment]
    if model.num_classes is None and model.input_shape is not None and not model.is_onnx:
        model.num_classes = _probe_classes(model)
    if num_classes is not None and model.num_classes is not None and model.num_classes != num_classes:
        raise ShapeMismatchError(
            f"{model.name} has {model.num_classes} outputs but --num-classes is {num_classes}",
            f"drop --num-classes or pass --num-classes {model.num_classes}",
        )
    if model.num_classes is None and num_classes is not None:
        model.num_classes = num_classes
    return model


@torch.no_grad()
def _probe_classes(model: LoadedModel) -> Optional[int]:
    """Class count from one forward pass; a failure is a wrong input shape."""
    try:
        out = model.predict(torch.zeros(1, *model.input_shape))
    except Exception as exc:
        raise ShapeMismatchError(
            f"{model.name} does not run on input shape {tuple(model.input_shape)} ({type(exc).__name__}: {first_line(exc)})",
            f"{ask('input_shape')} C,H,W: the input shape the model was built for",
        ) from exc
    return int(out.shape[-1]) if isinstance(out, torch.Tensor) and out.dim() == 2 else None
