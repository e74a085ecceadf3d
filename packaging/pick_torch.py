"""Choose the torch and torchvision wheels for the desktop bundle.

The bundle should carry the CPU build of PyTorch: the CUDA build drags in
gigabytes of NVIDIA libraries a desktop CPU app never uses. Which CPU build is
reachable depends on the machine's package sources (PyTorch's CPU index, a
local wheel folder, ...), so this asks pip what it can see, keeps the versions
pyproject.toml allows, and prints one requirement per line for ``pip install``:

    torch==2.13.0+cpu
    torchvision==0.28.*

(pip then takes the torchvision release that pins this torch, a +cpu one if reachable.)

``--mode cpu`` fails when no CPU build is reachable; ``auto`` falls back to the
default (CUDA) build, and the spec then drops the CUDA libraries loaded only on demand.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
TORCHVISION_MINOR_OFFSET = 15  # torch 2.N pairs with torchvision 0.(N+15): 2.6 -> 0.21, 2.13 -> 0.28


def available(dist: str, pip_args: Sequence[str]) -> list[Version]:
    """Every version of ``dist`` pip can install here (indexes and find-links, local labels included)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", dist, *pip_args], capture_output=True, text=True
    )
    match = re.search(r"Available versions:\s*(.+)", proc.stdout)
    if proc.returncode != 0 or not match:
        raise SystemExit(f"pick_torch: pip cannot list {dist}: {proc.stderr.strip() or proc.stdout.strip()}")
    out = []
    for text in match.group(1).split(","):
        try:
            out.append(Version(text.strip()))
        except InvalidVersion:
            pass
    return out


def project_requirement(dist: str) -> Requirement:
    """The requirement on ``dist`` in pyproject.toml (what the app is tested with)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for line in deps:
        req = Requirement(line)
        if req.name == dist:
            return req
    raise SystemExit(f"pick_torch: pyproject.toml does not require {dist}")


def pick(mode: str, torch_versions: list[Version]) -> Version:
    """The torch version for ``mode`` (auto | cpu | cuda) within the project's requirement."""
    allowed = project_requirement("torch").specifier
    torch_ok = [v for v in torch_versions if not v.is_prerelease and allowed.contains(v, prereleases=False)]
    cpu = [v for v in torch_ok if v.local == "cpu"]
    default = [v for v in torch_ok if v.local is None]
    if mode in ("auto", "cpu") and cpu:
        return max(cpu)
    if mode == "cpu":
        raise SystemExit("pick_torch: no CPU build of torch is reachable (try --torch-index https://download.pytorch.org/whl/cpu)")
    if default:
        return max(default)
    raise SystemExit(f"pick_torch: no torch version satisfies {allowed}")


def torchvision_series(torch: Version) -> str:
    """The torchvision release series that goes with ``torch``; pip picks the patch release that pins it."""
    return f"0.{torch.release[1] + TORCHVISION_MINOR_OFFSET}.*"


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="pick_torch", description="print the torch and torchvision requirements for the bundle")
    p.add_argument("--mode", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("pip_args", nargs="*", help="extra pip options, e.g. --extra-index-url URL")
    args = p.parse_args(argv)
    torch = pick(args.mode, available("torch", args.pip_args))
    vision = torchvision_series(torch)
    kind = "CPU" if torch.local == "cpu" else "default (CUDA on Linux)"
    print(f"pick_torch: {kind} build torch {torch}, torchvision {vision}", file=sys.stderr)
    print(f"torch=={torch}\ntorchvision=={vision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
