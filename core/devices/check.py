"""What a device has: Python, the three packages infer.py needs, and its CPU, cores and memory.

A small probe script is fed to the device's Python on stdin, so nothing is left
on the device. When a package is missing, the report carries the one
``pip install`` line to run there.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Optional

from core.devices import ssh
from core.devices.registry import Device
from core.errors import EdgeSlimError
from core.jobs import CancelToken

# import name -> pip name, in the order infer.py imports them
NEEDED = {"numpy": "numpy", "PIL": "pillow", "onnxruntime": "onnxruntime"}

PROBE = r'''
import json, os, platform, sys
info = {"python": platform.python_version(), "executable": sys.executable, "machine": platform.machine(),
        "system": platform.system(), "release": platform.release(), "cores": os.cpu_count(), "packages": {}}
for name in ("numpy", "PIL", "onnxruntime"):
    try:
        mod = __import__(name)
        info["packages"][name] = getattr(mod, "__version__", "present")
    except Exception as exc:
        info["packages"][name] = None
try:
    import onnxruntime
    info["providers"] = list(onnxruntime.get_available_providers())
except Exception:
    info["providers"] = []
cpu = platform.processor() or ""
try:
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                cpu = value.strip()
                if key.strip() == "Model":
                    break
except OSError:
    pass
info["cpu"] = cpu or platform.machine()
mem = None
try:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
except OSError:
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
info["memory_bytes"] = mem
try:
    with open("/etc/nv_tegra_release") as fh:
        info["jetson"] = fh.readline().strip()
except OSError:
    pass
print(json.dumps(info))
'''


@dataclass
class DeviceReport:
    """The device's self-description, as ``devices check`` prints it and a measurement stores it."""

    name: str
    address: str
    python: str
    machine: str
    system: str
    cpu: str
    cores: Optional[int]
    memory_bytes: Optional[int]
    packages: dict[str, Optional[str]]  # import name -> version, None when missing
    providers: list[str] = field(default_factory=list)
    jetson: Optional[str] = None

    @property
    def missing(self) -> list[str]:
        return [NEEDED[name] for name, version in self.packages.items() if version is None]

    @property
    def ready(self) -> bool:
        return not self.missing

    def install_line(self, python: str = "python3") -> Optional[str]:
        """The one command to run on the device for what is missing (None when nothing is)."""
        if not self.missing:
            return None
        return f"{python} -m pip install {' '.join(self.missing)}"

    def describe(self) -> str:
        mem = f", {self.memory_bytes / 2**30:.1f} GiB RAM" if self.memory_bytes else ""
        ort = self.packages.get("onnxruntime")
        return (f"{self.cpu}, {self.cores} cores{mem}; {self.system} {self.machine}; Python {self.python}"
                + (f"; ONNX Runtime {ort}" if ort else ""))

    def to_dict(self) -> dict:
        return {**asdict(self), "missing": self.missing, "description": self.describe()}


async def probe(conn, device: Device, cancel: Optional[CancelToken] = None) -> DeviceReport:
    """Run the probe on an open connection; a missing Python is an EdgeSlimError with the fix."""
    result = await ssh.run(conn, device, ssh.python_command(device, "-"), input=PROBE, timeout=60, cancel=cancel)
    if result.exit_status == 127 or "not found" in result.stderr and result.exit_status:
        raise EdgeSlimError(f"there is no Python at {device.python!r} on {device.name}",
                            "install Python 3 there (`sudo apt install python3 python3-pip`), or give its path with "
                            f"`edgeslim-cli devices add {device.name} ... --python PATH`")
    try:
        info = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise EdgeSlimError(f"{device.python} on {device.name} did not run the probe (exit {result.exit_status}: "
                            f"{result.stderr.strip()[-200:] or 'no message'})",
                            "check that --python names Python 3.8 or newer on the device") from None
    return DeviceReport(
        name=device.name, address=device.address, python=info["python"], machine=info["machine"], system=info["system"],
        cpu=info.get("cpu") or info["machine"], cores=info.get("cores"), memory_bytes=info.get("memory_bytes"),
        packages=dict(info.get("packages") or {}), providers=list(info.get("providers") or []), jetson=info.get("jetson"),
    )


async def _check(device: Device, accept_host_key: bool) -> DeviceReport:
    async with ssh.connect(device, accept_host_key) as conn:
        return await probe(conn, device)


def check_device(device: Device, accept_host_key: bool = False) -> DeviceReport:
    """Connect (checking the host key), run the probe, and report; raises EdgeSlimError with the fix."""
    ssh.identity_exists(device)
    return ssh.run_sync(_check(device, accept_host_key))
