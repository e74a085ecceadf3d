"""What every compression technique is: a config dataclass that knows how to apply itself.

A technique is one module in ``core/techniques/``. It defines a frozen
``@dataclass`` whose fields are declared with :func:`param` (label, range,
choices, help text — the GUI builds its form from these and the recipe loader
validates against them) and an ``apply(model, ctx) -> StepOutcome`` method, and
registers itself with :func:`technique`. Adding a technique is one new module.

Two sides exist. A ``torch`` technique takes a PyTorch model and returns one
(pruning, fine-tuning): more steps can follow. An ``onnx`` technique ends the
PyTorch part of a recipe and returns an ONNX model (the quantizations): nothing
PyTorch-side can follow it.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

from core.data.bundle import DatasetBundle
from core.errors import EdgeSlimError
from core.jobs import CancelToken, ProgressFn, check, null_progress
from core.models.loaded import LoadedModel

TORCH = "torch"
ONNX = "onnx"
FAMILIES = ("Pruning", "Quantization", "Distillation", "Low-rank", "Fine-tune")
_META_KEY = "edgeslim"


class TechniqueError(EdgeSlimError):
    """A technique cannot be applied to this model or with these settings."""


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class ParamSpec:
    """What the GUI and the recipe validator know about one config field."""

    label: str
    help: str
    min: Optional[float] = None
    max: Optional[float] = None
    step: Optional[float] = None  # GUI spin-box step
    choices: Optional[tuple[Any, ...]] = None
    unit: str = ""


def param(
    default: Any,
    *,
    label: str,
    help: str,
    min: Optional[float] = None,
    max: Optional[float] = None,
    step: Optional[float] = None,
    choices: Optional[tuple[Any, ...]] = None,
    unit: str = "",
) -> Any:
    """A dataclass field carrying its :class:`ParamSpec` (tuples are allowed as defaults)."""
    spec = ParamSpec(label=label, help=help, min=min, max=max, step=step, choices=choices, unit=unit)
    return field(default=default, metadata={_META_KEY: spec})


@dataclass(frozen=True)
class ParamInfo:
    """A config field as forms and validators see it."""

    name: str
    kind: str  # "float" | "int" | "bool" | "choice" | "text" | "list"
    default: Any
    spec: ParamSpec


def _kind(tp: Any, spec: ParamSpec) -> str:
    if spec.choices is not None:
        return "choice"
    origin = typing.get_origin(tp)
    if tp is bool:
        return "bool"
    if tp is int:
        return "int"
    if tp is float:
        return "float"
    if tp is str:
        return "text"
    if origin in (tuple, list):
        return "list"
    if origin is typing.Union:  # Optional[x]
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _kind(inner[0], spec) if len(inner) == 1 else "text"
    raise TypeError(f"unsupported parameter type {tp!r}")


def params_of(config_cls: type) -> list[ParamInfo]:
    """The declared parameters of a technique config, in field order."""
    hints = typing.get_type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        spec = f.metadata.get(_META_KEY)
        if spec is None:
            continue
        out.append(ParamInfo(f.name, _kind(hints[f.name], spec), f.default, spec))
    return out


def coerce_value(info: ParamInfo, value: Any) -> Any:
    """``value`` as the field's type, checked against its range and choices; raises ValueError with the rule."""
    spec, kind = info.spec, info.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if kind == "choice":
        if value not in spec.choices:  # type: ignore[operator]
            raise ValueError("expected one of " + ", ".join(repr(c) for c in spec.choices))  # type: ignore[union-attr]
        return value
    if kind == "list":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError('expected a list of names, e.g. ["layer1.0.conv1", "fc"]')
        return tuple(value)
    if kind == "text":
        if not isinstance(value, str):
            raise ValueError("expected a text value")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number{_range_text(spec)}")
    if isinstance(value, float) and not math.isfinite(value):  # TOML has nan and inf; every range check passes nan
        raise ValueError(f"expected a finite number{_range_text(spec)}")
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"expected a whole number{_range_text(spec)}")
        value = int(value)
    else:
        value = float(value)
    if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
        raise ValueError(f"{value} is out of range{_range_text(spec)}")
    return value


def _range_text(spec: ParamSpec) -> str:
    if spec.min is not None and spec.max is not None:
        return f" from {_num(spec.min)} to {_num(spec.max)}"
    if spec.min is not None:
        return f" of at least {_num(spec.min)}"
    if spec.max is not None:
        return f" of at most {_num(spec.max)}"
    return ""


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def allowed_text(info: ParamInfo) -> str:
    """The rule for one parameter in words, for error messages and tooltips."""
    kind, spec = info.kind, info.spec
    if kind == "choice":
        return "one of " + ", ".join(repr(c) for c in spec.choices)  # type: ignore[union-attr]
    if kind == "bool":
        return "true or false"
    if kind == "list":
        return "a list of names"
    if kind == "text":
        return "text"
    return ("a whole number" if kind == "int" else "a number") + _range_text(spec)


# --------------------------------------------------------------------------- running a step


@dataclass
class StepContext:
    """What a step may use besides the model: data, the original model, a folder, progress, cancel."""

    data: DatasetBundle
    workdir: Path  # this step's own folder for files it writes
    baseline: Optional[LoadedModel] = None  # the recipe's input model, untouched (a KD teacher)
    progress: ProgressFn = null_progress
    cancel: Optional[CancelToken] = None
    seed: int = 0
    threads: int = 2
    device: str = "cpu"  # the resolved training device (torch.device string) for steps that train
    on_epoch: Optional[Callable[[Any], None]] = None  # each training epoch's record (core.training.EpochRecord), live

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.data.input_shape)  # type: ignore[return-value]

    def check(self) -> None:
        check(self.cancel)


@dataclass
class StepOutcome:
    """The model a step produced and what it did, in words and per layer."""

    model: LoadedModel
    summary: str  # one line: what changed ("pruned 50 % of channels: 26.7 M → 11.9 M MACs")
    layers: list[dict] = field(default_factory=list)  # per-layer rows; keys depend on the technique
    notes: list[str] = field(default_factory=list)  # caveats the user should read
    extra: dict = field(default_factory=dict)  # technique-specific numbers (JSON-safe)

    def to_dict(self) -> dict:
        return {"summary": self.summary, "layers": list(self.layers), "notes": list(self.notes), "extra": dict(self.extra)}


@dataclass(frozen=True)
class TechniqueInfo:
    """A registered technique: its name, family, side and config class."""

    name: str
    family: str
    label: str
    summary: str
    side: str  # TORCH: model -> PyTorch model; ONNX: model -> ONNX model (ends the PyTorch part)
    config_cls: type
    accepts_onnx: bool = False  # can start from an ONNX model (ONNX-side quantizations)

    @property
    def params(self) -> list[ParamInfo]:
        return params_of(self.config_cls)

    def config(self, **values: Any) -> Any:
        return self.config_cls(**values)


REGISTRY: dict[str, TechniqueInfo] = {}


def technique(
    name: str, *, family: str, label: str, summary: str, side: str = TORCH, accepts_onnx: bool = False
) -> Callable[[type], type]:
    """Register a config class under ``name``; it must define ``apply(self, model, ctx)``."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}")
    if side not in (TORCH, ONNX):
        raise ValueError(f"unknown side {side!r}")

    def register(cls: type) -> type:
        if not dataclasses.is_dataclass(cls) or not callable(getattr(cls, "apply", None)):
            raise TypeError(f"{cls.__name__} must be a dataclass with an apply(model, ctx) method")
        cls.technique_name = name  # type: ignore[attr-defined]
        REGISTRY[name] = TechniqueInfo(name, family, label, summary, side, cls, accepts_onnx)
        return cls

    return register


class TechniqueConfig:
    """Optional base for configs: the technique's name and a plain-dict view for recipes."""

    technique_name: ClassVar[str]

    def to_params(self, only_changed: bool = False) -> dict:
        """Parameter values as plain TOML/JSON values (all of them, or those that differ from the defaults).

        Saved recipes carry every value so that a later change of a default
        does not change what an old recipe does.
        """
        out = {}
        for info in params_of(type(self)):
            value = getattr(self, info.name)
            if not only_changed or value != info.default:
                out[info.name] = list(value) if isinstance(value, tuple) else value
        return out


# --------------------------------------------------------------------------- helpers for techniques


def derived(model: LoadedModel, runnable: Any, *, suffix: str, file_path: Optional[Path] = None, notes: Optional[list[str]] = None) -> LoadedModel:
    """A new LoadedModel for what a step made from ``model``: same input and classes, new runnable."""
    from core.models.onnx_model import OnnxModel

    is_onnx = isinstance(runnable, OnnxModel)
    return LoadedModel(
        spec=model.spec,
        source_format="onnx" if is_onnx else model.source_format,
        runnable=runnable,
        name=f"{model.name}+{suffix}",
        input_shape=model.input_shape,
        num_classes=model.num_classes,
        class_names=model.class_names,
        file_path=file_path if file_path is not None else (Path(runnable.path) if is_onnx else None),
        arch=model.arch,
        notes=list(notes or []),
    )


def onnx_source(model: LoadedModel, ctx: StepContext, name: str = "fp32.onnx") -> Path:
    """The fp32 ONNX file an ONNX-side step starts from: the model's own file, or a fresh export."""
    if model.is_onnx:
        return Path(model.runnable.path)  # type: ignore[union-attr]
    from core.models.onnx_export import export_onnx

    ctx.progress(0.0, "exporting to ONNX")
    return export_onnx(model.module, ctx.input_shape, Path(ctx.workdir) / name)
