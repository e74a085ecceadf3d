"""Parameter counts and on-disk size, raw and zipped.

Unstructured pruning zeroes weights without making tensors smaller, so the raw
file size does not move; the DEFLATE size (what a zipped download weighs) is
where it shows. Both are reported so the user sees what sparsity buys.

A model's size is the size of its deployable ONNX file (:func:`onnx_file_size`)
for PyTorch and ONNX models alike, so the Model page and a run's card show one
number; a state_dict's size stands in only when no ONNX file can be made.
"""

from __future__ import annotations

import io
import zipfile
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from core.models.loaded import LoadedModel


@dataclass(frozen=True)
class ParamCounts:
    total: int
    nonzero: int

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero / self.total if self.total else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "sparsity": self.sparsity}


@dataclass(frozen=True)
class SizeInfo:
    bytes: int  # serialized size: the ONNX file (with its external data), else torch.save(state_dict)
    zip_bytes: int  # the same bytes after DEFLATE level 9
    kind: str = "onnx"  # onnx | state_dict: what was weighed

    def to_dict(self) -> dict:
        return asdict(self)


def _effective_tensors(module: nn.Module, params_only: bool) -> dict[str, torch.Tensor]:
    """Name -> tensor as the model computes with it.

    ``torch.nn.utils.prune`` keeps ``weight_orig`` plus a ``weight_mask``
    buffer; the weight actually used is their product. Counting or saving the
    pair would double the size and hide the zeros, so it is folded here.
    """
    source = dict(module.named_parameters()) if params_only else dict(module.state_dict())
    buffers = dict(module.named_buffers())
    out: dict[str, torch.Tensor] = {}
    for name, tensor in source.items():
        if name.endswith("_mask") and name[: -len("_mask")] + "_orig" in source:
            continue  # folded into its weight below
        if name.endswith("_orig"):
            base = name[: -len("_orig")]
            mask = buffers.get(base + "_mask")
            if mask is not None:
                out[base] = tensor.detach() * mask
                continue
        out[name] = tensor.detach()
    return out


def param_counts(module: nn.Module) -> ParamCounts:
    """Total and non-zero parameters (shared parameters counted once; prune masks applied)."""
    tensors = _effective_tensors(module, params_only=True).values()
    return ParamCounts(
        total=sum(t.numel() for t in tensors),
        nonzero=sum(int(torch.count_nonzero(t)) for t in tensors),
    )


# ONNX initializers of these types are shapes and axes, not weights.
_NON_WEIGHT_ONNX_TYPES = {7, 9}  # INT64, BOOL


def onnx_param_counts(path: Path) -> ParamCounts:
    """Total and non-zero weights of an ONNX file, from its initializers.

    These are the deployed graph's weights: an exporter folds BatchNorm into the
    preceding convolution, so the count can differ slightly from the PyTorch one.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    total = nonzero = 0
    for init in proto.graph.initializer:
        if init.data_type in _NON_WEIGHT_ONNX_TYPES:
            continue
        array = numpy_helper.to_array(init, base_dir=str(Path(path).parent))
        total += int(array.size)
        nonzero += int(np.count_nonzero(array))
    return ParamCounts(total=total, nonzero=nonzero)


def deflated_size(name: str, data: bytes | None = None, path: Path | None = None) -> int:
    """Bytes of a one-member zip archive at DEFLATE level 9 (headers included)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        if path is not None:
            zf.write(path, arcname=name)
        else:
            zf.writestr(name, data or b"")
    return buf.getbuffer().nbytes


def state_dict_bytes(module: nn.Module) -> bytes:
    """What ``torch.save(state_dict)`` writes, with prune masks folded into weights."""
    state = module.state_dict()
    if any(k.endswith("_mask") and k[: -len("_mask")] + "_orig" in state for k in state):
        folded = OrderedDict(_effective_tensors(module, params_only=False))
        folded._metadata = getattr(state, "_metadata", None)  # type: ignore[attr-defined]
        state = folded
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def onnx_file_size(path: Path) -> SizeInfo:
    """Size of an ONNX file as shipped: the .onnx plus the external-data files beside it, raw and zipped."""
    path = Path(path)
    files = [path, *_external_data_files(path)]
    return SizeInfo(bytes=sum(f.stat().st_size for f in files), zip_bytes=sum(deflated_size(f.name, path=f) for f in files))


def state_dict_size(module: nn.Module) -> SizeInfo:
    """Size of ``torch.save(state_dict)`` (prune masks folded): the stand-in when no ONNX file can be made."""
    data = state_dict_bytes(module)
    return SizeInfo(bytes=len(data), zip_bytes=deflated_size("model.pt", data=data), kind="state_dict")


def serialized_size(model: LoadedModel, onnx_path: Optional[Path] = None) -> SizeInfo:
    """Size of the model as deployed: its ONNX file (``onnx_path`` when already exported, else exported here)."""
    if model.is_onnx:
        return onnx_file_size(Path(model.runnable.path))  # type: ignore[union-attr]
    if onnx_path is not None and not _is_masked(model.module):  # an export of masked weights carries both tensors
        return onnx_file_size(onnx_path)
    if model.input_shape is not None:
        import tempfile

        from core.errors import EdgeSlimError
        from core.models.onnx_export import export_onnx

        with tempfile.TemporaryDirectory(prefix="edgeslim-size-") as tmp:
            try:
                module = _masks_folded(model.module)
                return onnx_file_size(export_onnx(module, tuple(model.input_shape), Path(tmp) / "model.onnx"))
            except EdgeSlimError:
                pass  # no ONNX file for this model: its state_dict is what would ship
    return state_dict_size(model.module)


def _is_masked(module: nn.Module) -> bool:
    from torch.nn.utils import prune

    return prune.is_pruned(module)


def _masks_folded(module: nn.Module) -> nn.Module:
    """``module``, or a copy with ``torch.nn.utils.prune`` masks made permanent (else the export keeps both tensors)."""
    from torch.nn.utils import prune

    if not prune.is_pruned(module):
        return module
    import copy

    def pruned(m: nn.Module) -> list[tuple[nn.Module, object]]:
        return [(sub, h) for sub in m.modules() for h in sub._forward_pre_hooks.values() if isinstance(h, prune.BasePruningMethod)]

    held = [(sub, h._tensor_name, getattr(sub, h._tensor_name)) for sub, h in pruned(module)]  # type: ignore[attr-defined]
    for sub, name, _ in held:
        delattr(sub, name)  # a computed (masked) weight cannot be deep-copied; the copy recomputes it
    try:
        folded = copy.deepcopy(module)
    finally:
        for sub, name, tensor in held:
            setattr(sub, name, tensor)
    for sub, hook in pruned(folded):
        setattr(sub, hook._tensor_name, hook.apply_mask(sub))  # type: ignore[attr-defined]
        prune.remove(sub, hook._tensor_name)  # type: ignore[attr-defined]
    return folded


def _external_data_files(path: Path) -> list[Path]:
    """The external-data files an ONNX model refers to (none for single-file models)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    names: set[str] = set()
    for init in proto.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            for entry in init.external_data:
                if entry.key == "location":
                    names.add(entry.value)
    return [path.parent / n for n in sorted(names) if (path.parent / n).is_file()]
