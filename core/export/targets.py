"""Device profiles: what a target runs, how much memory it has, how fast it computes.

A profile is a TOML file. The shipped ones live in ``resources/targets/``; a
user's own go in ``~/.config/EdgeSlim/targets/`` (``$EDGESLIM_TARGETS`` or
``$XDG_CONFIG_HOME`` move it) or are named by path. A user file with the name
of a shipped one replaces it, so a figure can be corrected for one's own board
without editing the app. Every field is checked when the file is read, and a
mistake names the file and the field: a profile silently missing its RAM would
make every fit check pass.
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import core.paths as paths
from core import toml_input
from core.errors import EdgeSlimError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# bundle format -> the precision its model file computes in
FORMATS: dict[str, str] = {"onnx": "fp32", "onnx-fp16": "fp16", "onnx-int8": "int8", "pt2": "fp32"}
PRECISIONS = ("fp32", "fp16", "int8")
KINDS = ("cpu", "sbc", "gpu", "mcu")
TOOLCHAINS = ("onnxruntime", "tensorrt", "stedgeai", "esp-dl")
INT8_TYPES = ("U8S8", "S8S8", "U8U8")
SHIPPED_DIR = paths.RESOURCES_DIR / "targets"

_FIELDS = {
    "name", "label", "kind", "processor", "runtime", "toolchain", "formats", "precisions", "converts_to",
    "weights_in_ram", "static_batch", "source", "notes", "memory", "compute", "ops", "quantization",
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B)?\s*$", re.IGNORECASE)
_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}


# sane ranges for a profile's figures (from a microcontroller to a datacentre GPU, with room either side)
BANDWIDTH_GBS_LIMITS = (1e-3, 1e5)  # 1 MB/s .. 100 TB/s
GOPS_LIMITS = (1e-3, 1e8)  # 1 MOPS .. 100 POPS
MAX_SIZE_BYTES = 2**50  # 1 PiB
_UNIT = {"bandwidth_gbs": " (GB/s)", **{p: " (GOPS)" for p in PRECISIONS}}


class TargetError(EdgeSlimError):
    """A profile file is missing, unreadable or has a wrong field."""


@dataclass(frozen=True)
class Memory:
    storage_bytes: int  # flash or disk space the model file may take
    ram_bytes: int  # RAM for activations (plus weights where they are loaded into RAM)
    bandwidth_gbs: float  # peak memory bandwidth, GB/s (10^9 bytes)


@dataclass(frozen=True)
class OpSupport:
    supported: tuple[str, ...] = ()  # ops known to work; empty means "every standard ONNX op"
    unsupported: tuple[str, ...] = ()  # ops known not to work: a model using one does not fit
    notes: str = ""


@dataclass(frozen=True)
class Quantization:
    """How export quantizes for this target, and what an int8 file must look like to run on it."""

    types: str = "U8S8"  # activations then weights, as quantize.static names them
    symmetric: bool = False  # activation zero points must be 0 (TensorRT)
    required: bool = False  # an int8 file that differs does not fit (else: a warning)


@dataclass(frozen=True)
class TargetProfile:
    """One device as the fit check and the estimate see it."""

    name: str
    label: str
    kind: str
    processor: str
    runtime: str
    toolchain: str
    formats: tuple[str, ...]  # bundle formats it takes, most useful first
    precisions: tuple[str, ...]  # precisions its runtime computes in
    memory: Memory
    compute_gops: dict[str, float]  # precision -> peak GOPS (1 MAC = 2 operations)
    source: str  # where the figures come from
    ops: OpSupport = OpSupport()
    quantization: Quantization = Quantization()
    converts_to: Optional[str] = None  # the vendor tool quantizes float models to this itself
    weights_in_ram: bool = True  # False: weights stay in flash (executed in place), RAM holds activations only
    static_batch: bool = False  # the tool chain needs fixed shapes: the bundle's model has batch 1
    notes: tuple[str, ...] = ()
    path: Optional[Path] = field(default=None, compare=False)

    @property
    def shipped(self) -> bool:
        return self.path is not None and self.path.parent.resolve() == SHIPPED_DIR.resolve()

    def device_precision(self, file_precision: str) -> Optional[str]:
        """The precision the device computes a file of ``file_precision`` in; None when it cannot."""
        if file_precision in self.precisions:
            return file_precision
        if self.converts_to and file_precision in ("fp32", "fp16"):
            return self.converts_to
        return None

    def peak_gops(self, precision: str) -> tuple[float, Optional[str]]:
        """Peak GOPS at ``precision``, falling back to fp32 (with a note) when the profile has no figure."""
        if precision in self.compute_gops:
            return self.compute_gops[precision], None
        fallback = self.compute_gops.get("fp32") or min(self.compute_gops.values())
        return fallback, f"the profile gives no {precision} compute figure, so its fp32 figure was used"

    def to_dict(self) -> dict:
        return {
            "name": self.name, "label": self.label, "kind": self.kind, "processor": self.processor,
            "runtime": self.runtime, "toolchain": self.toolchain, "formats": list(self.formats),
            "precisions": list(self.precisions), "converts_to": self.converts_to,
            "memory": {"storage_bytes": self.memory.storage_bytes, "ram_bytes": self.memory.ram_bytes,
                       "bandwidth_gbs": self.memory.bandwidth_gbs},
            "compute_gops": dict(self.compute_gops), "weights_in_ram": self.weights_in_ram,
            "static_batch": self.static_batch,
            "ops": {"supported": list(self.ops.supported), "unsupported": list(self.ops.unsupported), "notes": self.ops.notes},
            "quantization": {"types": self.quantization.types, "symmetric": self.quantization.symmetric,
                             "required": self.quantization.required},
            "source": self.source.strip(), "notes": list(self.notes),
            "path": str(self.path) if self.path else None, "shipped": self.shipped,
        }


# --------------------------------------------------------------------------- where profiles live


def user_dir() -> Path:
    """``$EDGESLIM_TARGETS``, else ``<config>/EdgeSlim/targets`` (XDG on Linux)."""
    env = os.environ.get("EDGESLIM_TARGETS")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "EdgeSlim" / "targets"


def _files() -> dict[str, Path]:
    """Profile name -> file; a user file shadows a shipped one of the same name."""
    found: dict[str, Path] = {}
    for folder in (SHIPPED_DIR, user_dir()):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found[path.stem] = path
    return found


def target_names() -> list[str]:
    return sorted(_files())


def list_targets() -> list[TargetProfile]:
    """Every profile, shipped and the user's, each checked (a broken file raises, naming it)."""
    return [load_profile(path) for _, path in sorted(_files().items())]


def get_target(name_or_path: str) -> TargetProfile:
    """The profile called ``name_or_path``, or the profile file at that path."""
    text = str(name_or_path).strip()
    path = Path(text).expanduser()
    if text.lower().endswith(".toml") or path.is_file():
        if not path.is_file():
            raise TargetError(f"no such target profile file: {path}", "check the path, or give a target name: " + ", ".join(target_names()))
        return load_profile(path)
    files = _files()
    if text not in files:
        import difflib

        close = difflib.get_close_matches(text, list(files), n=1)
        hint = f"did you mean {close[0]}? The targets are" if close else "use one of"
        raise TargetError(
            f"unknown target {text!r}",
            f"{hint}: {', '.join(sorted(files))} (`edgeslim-cli targets` describes them), "
            f"or add a profile file to {user_dir()}",
        )
    return load_profile(files[text])


# --------------------------------------------------------------------------- reading a file


def parse_size(value: Any) -> int:
    """Bytes from an int or a text such as "2 MiB", "512 KiB", "8 GB"; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("expected a size")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("a size must be positive")
        return _sane_size(value)
    match = _SIZE.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise ValueError('expected a size such as "2 MiB", "512 KiB" or "8 GB"')
    number, unit = float(match.group(1)), (match.group(2) or "B").lower()
    if number <= 0:
        raise ValueError("a size must be positive")
    return _sane_size(int(number * _UNITS[unit]))


def _sane_size(n: int) -> int:
    if not 1 <= n <= MAX_SIZE_BYTES:
        raise ValueError(f"{n:,} bytes is outside 1 B to 1 PiB")
    return n


class _Fields:
    """Reads checked fields from one table of a profile; errors name the file and the field."""

    def __init__(self, path: Path, table: dict, prefix: str = "") -> None:
        self.path, self.table, self.prefix = path, table, prefix

    def fail(self, key: str, problem: str, fix: str) -> TargetError:
        return TargetError(f"target profile {self.path}: field `{self.prefix}{key}` {problem}", fix)

    def get(self, key: str, kind: type | tuple, required: bool, default: Any = None) -> Any:
        if key not in self.table:
            if required:
                raise self.fail(key, "is missing", f"add `{key} = ...` (see the shipped profiles in {SHIPPED_DIR})")
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            value = None  # true/false is not a number here
        if not isinstance(value, kinds):
            names = " or ".join("text" if k is str else "a number" if k in (int, float) else k.__name__ for k in kinds)
            raise self.fail(key, f"is {type(self.table[key]).__name__} {self.table[key]!r}, expected {names}", f"write `{key}` as {names}")
        return value

    def text(self, key: str, required: bool = True, default: str = "") -> str:
        value = self.get(key, str, required, default)
        if required and not value.strip():
            raise self.fail(key, "is empty", f"give `{key}` a value")
        return value

    def flag(self, key: str, default: bool) -> bool:
        return bool(self.get(key, bool, False, default))

    def choice(self, key: str, choices: tuple[str, ...], required: bool = True, default: Optional[str] = None) -> Optional[str]:
        value = self.get(key, str, required, default)
        if value is not None and value not in choices:
            raise self.fail(key, f"is {value!r}", f"use one of: {', '.join(choices)}")
        return value

    def names(self, key: str, choices: Optional[tuple[str, ...]] = None, required: bool = True) -> tuple[str, ...]:
        value = self.get(key, list, required, [])
        if required and not value:
            raise self.fail(key, "is empty", "list at least one value")
        for item in value:
            if not isinstance(item, str) or (choices is not None and item not in choices):
                allowed = f"one of: {', '.join(choices)}" if choices else "names in quotes"
                raise self.fail(key, f"has the entry {item!r}", f"list {allowed}")
        return tuple(value)

    def number(self, key: str, limits: tuple[float, float], required: bool = True) -> Optional[float]:
        """A finite number within ``limits``: a typo such as 1e-300 or inf would turn every estimate into nonsense."""
        value = self.get(key, (int, float), required)
        low, high = limits
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            raise self.fail(key, f"is {value}", f"give a positive number from {low:g} to {high:g}{_UNIT.get(key, '')}")
        return None if value is None else float(value)

    def size(self, key: str) -> int:
        value = self.get(key, (int, str), True)
        try:
            return parse_size(value)
        except ValueError as exc:
            raise self.fail(key, f"is {value!r}: {exc}", 'write a size such as "2 MiB", "512 KiB" or "8 GB"') from None

    def sub(self, key: str, required: bool = True) -> "_Fields":
        table = self.get(key, dict, required, {})
        return _Fields(self.path, table, f"{self.prefix}{key}.")

    def no_unknown(self, known: set[str]) -> None:
        extra = sorted(set(self.table) - known)
        if extra:
            raise self.fail(extra[0], "is not a profile field", f"remove it or fix its spelling; known fields here: {', '.join(sorted(known))}")


def load_profile(path: Path | str) -> TargetProfile:
    """Read and check one profile file."""
    path = Path(path).expanduser()
    try:
        data = toml_input.loads(path.read_text(encoding="utf-8"))  # a leading UTF-8 BOM is dropped
    except toml_input.TomlTooDeep as exc:
        raise TargetError(f"target profile {path}: {exc}", "a profile needs no nesting beyond its tables and lists of names") from None
    except OSError as exc:
        raise TargetError(f"cannot read the target profile {path} ({exc.strerror or exc})", "check the file exists and is readable") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TargetError(f"target profile {path} is not valid TOML ({exc})", "fix the line it names") from None
    f = _Fields(path, data)
    f.no_unknown(_FIELDS)
    name = f.text("name", required=False) or path.stem
    if name != path.stem:
        raise f.fail("name", f"is {name!r} but the file is {path.name}", f"name the file {name}.toml or set name = {path.stem!r}")
    label, kind, processor = f.text("label"), f.choice("kind", KINDS) or "cpu", f.text("processor")
    runtime, toolchain = f.text("runtime"), f.choice("toolchain", TOOLCHAINS) or "onnxruntime"
    formats = f.names("formats", tuple(FORMATS))
    precisions = f.names("precisions", PRECISIONS)
    converts_to = f.choice("converts_to", PRECISIONS, required=False)
    for fmt in formats:
        if FORMATS[fmt] not in precisions and not (converts_to and FORMATS[fmt] != "int8"):
            raise f.fail("formats", f"lists {fmt} ({FORMATS[fmt]}) but `precisions` does not include {FORMATS[fmt]}", "make the two lists agree")

    mem = f.sub("memory")
    mem.no_unknown({"storage", "ram", "bandwidth_gbs"})
    memory = Memory(mem.size("storage"), mem.size("ram"), mem.number("bandwidth_gbs", BANDWIDTH_GBS_LIMITS))  # type: ignore[arg-type]

    comp = f.sub("compute")
    comp.no_unknown(set(PRECISIONS))
    compute = {p: comp.number(p, GOPS_LIMITS, required=False) for p in PRECISIONS}
    compute_gops = {p: v for p, v in compute.items() if v is not None}
    missing = [p for p in precisions if p not in compute_gops]
    if missing:
        raise comp.fail(missing[0], "is missing", f"give the peak GOPS for every precision in `precisions` ({', '.join(precisions)})")

    ops_f = f.sub("ops", required=False)
    ops_f.no_unknown({"supported", "unsupported", "notes"})
    ops = OpSupport(ops_f.names("supported", required=False), ops_f.names("unsupported", required=False), ops_f.text("notes", required=False))

    q = f.sub("quantization", required=False)
    q.no_unknown({"types", "symmetric", "required"})
    quant = Quantization(q.choice("types", INT8_TYPES, required=False, default="U8S8") or "U8S8", q.flag("symmetric", False), q.flag("required", False))
    if quant.symmetric and quant.types[0] != "S":
        raise q.fail("types", f"is {quant.types} but symmetric activations need signed int8", "use types = \"S8S8\"")

    notes = f.names("notes", required=False)
    source = f.text("source")
    return TargetProfile(
        name=name, label=label, kind=kind, processor=processor, runtime=runtime, toolchain=toolchain, formats=formats,
        precisions=precisions, memory=memory, compute_gops=compute_gops, source=source, ops=ops,
        quantization=quant, converts_to=converts_to, weights_in_ram=f.flag("weights_in_ram", True),
        static_batch=f.flag("static_batch", False), notes=notes, path=path,
    )
