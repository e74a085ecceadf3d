"""Which device training runs on: ``auto`` (CUDA when PyTorch sees a GPU, else the CPU), ``cpu`` or ``cuda[:N]``.

Only training moves to the GPU; accuracy and latency of the deployable model
are measured as before (ONNX Runtime on the CPU), so numbers stay comparable
whatever trained the model.
"""

from __future__ import annotations

import re

from core.controls import ask
from core.errors import EdgeSlimError

_FORM = re.compile(r"^(auto|cpu|cuda(?::\d+)?)$")


def check_device(spec: str) -> str:
    """``spec`` if it is a device form EdgeSlim takes; an EdgeSlimError otherwise (before anything is loaded)."""
    text = (spec or "auto").strip().lower()
    if not _FORM.match(text):
        raise EdgeSlimError(f"unknown device {spec!r}", "use auto, cpu, cuda or cuda:N (N = the GPU's index)")
    return text


def resolve_device(spec: str) -> str:
    """The torch device string a run trains on; CUDA asked for on a machine without it is the user's to fix."""
    import torch

    text = check_device(spec)
    if text == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return "cpu"
    if not torch.cuda.is_available():
        raise EdgeSlimError(f"device {text} was asked for, but PyTorch sees no CUDA GPU on this machine",
                            f"set {ask('device', action=False)} to auto or cpu, or install a CUDA build of PyTorch "
                            "on a machine with an NVIDIA GPU")
    index = int(text.split(":")[1]) if ":" in text else 0
    if index >= torch.cuda.device_count():
        raise EdgeSlimError(f"device {text} was asked for, but PyTorch sees {torch.cuda.device_count()} GPU(s)",
                            f"set {ask('device', action=False)} to cuda:0 … cuda:{torch.cuda.device_count() - 1}")
    return f"cuda:{index}"


def describe_device(device: str) -> str:
    """``"cpu"`` or ``"cuda:0 (NVIDIA H200)"``, as recorded in result.json and the store."""
    if not device.startswith("cuda"):
        return "cpu"
    import torch

    return f"{device} ({torch.cuda.get_device_name(int(device.split(':')[1]) if ':' in device else 0)})"
