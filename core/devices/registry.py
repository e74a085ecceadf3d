"""The user's devices: a name, how to reach it over SSH, and the target profile it is.

Kept in ``devices.toml`` in the user's config folder (``$EDGESLIM_CONFIG_DIR``,
else ``$XDG_CONFIG_HOME/EdgeSlim``, else ``~/.config/EdgeSlim``). No password
is ever stored: the connection uses the named key file or the user's ssh-agent.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from core import toml_input
from core.errors import EdgeSlimError
from core.fileio import atomic_write_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FILE_NAME = "devices.toml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SSH = re.compile(r"^(?P<user>[^@\s]+)@(?P<host>[^@\s:]+|\[[0-9A-Fa-f:]+\])$")


@dataclass(frozen=True)
class Device:
    """One board as EdgeSlim reaches it."""

    name: str
    user: str
    host: str
    target: str  # a target profile name (or .toml path) that describes the board
    port: int = 22
    identity: Optional[str] = None  # private key file; None: the ssh-agent and the default keys
    python: str = "python3"  # the interpreter on the device that runs infer.py

    @property
    def address(self) -> str:
        port = f":{self.port}" if self.port != 22 else ""
        return f"{self.user}@{self.host}{port}"

    def to_dict(self) -> dict:
        return asdict(self)


def config_dir() -> Path:
    """EdgeSlim's config folder: ``$EDGESLIM_CONFIG_DIR``, else ``<XDG config>/EdgeSlim``."""
    env = os.environ.get("EDGESLIM_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "EdgeSlim"


def devices_file() -> Path:
    return config_dir() / FILE_NAME


def parse_ssh(text: str) -> tuple[str, str]:
    """``USER@HOST`` -> (user, host); raises EdgeSlimError for anything else."""
    match = _SSH.match(text.strip())
    if not match:
        raise EdgeSlimError(f"--ssh {text!r} is not USER@HOST", "write it as e.g. --ssh pi@raspberrypi.local (the port goes in --port)")
    return match.group("user"), match.group("host").strip("[]")


def load_devices() -> dict[str, Device]:
    """Every registered device by name (none when the file does not exist yet)."""
    path = devices_file()
    if not path.is_file():
        return {}
    try:
        data = toml_input.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, toml_input.TomlTooDeep) as exc:
        raise EdgeSlimError(f"cannot read the device list {path} ({exc})", "fix or delete the file, then add the devices again") from None
    devices = {}
    for name, entry in (data.get("devices") or {}).items():
        try:
            devices[name] = Device(name=name, user=str(entry["user"]), host=str(entry["host"]), target=str(entry["target"]),
                                   port=int(entry.get("port", 22)), identity=entry.get("identity") or None,
                                   python=str(entry.get("python") or "python3"))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise EdgeSlimError(f"the device list {path} has a broken entry for {name!r}",
                                f"remove it with `edgeslim-cli devices remove {name}` and add it again") from None
    return devices


def _save(devices: dict[str, Device]) -> None:
    import tomli_w

    table = {}
    for name, dev in sorted(devices.items()):
        entry = {k: v for k, v in dev.to_dict().items() if k != "name" and v is not None}
        table[name] = entry
    path = devices_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "# EdgeSlim's devices (edgeslim-cli devices add/remove); no passwords are kept here\n"
                          + tomli_w.dumps({"devices": table}))
    except OSError as exc:
        raise EdgeSlimError(f"cannot write the device list {path} ({exc.strerror or exc})",
                            "make the folder writable, or set EDGESLIM_CONFIG_DIR to another folder") from None


def get_device(name: str) -> Device:
    devices = load_devices()
    if name not in devices:
        known = ", ".join(sorted(devices)) or "none yet"
        raise EdgeSlimError(f"no device called {name!r} (registered: {known})",
                            "add it with `edgeslim-cli devices add NAME --ssh USER@HOST --target PROFILE`")
    return devices[name]


def add_device(name: str, ssh: str, target: str, port: int = 22, identity: Optional[str] = None,
               python: Optional[str] = None, replace: bool = False) -> Device:
    """Register a device; the target profile and the key file are checked now, not at the first measurement."""
    from core.export.targets import get_target

    if not _NAME.match(name):
        raise EdgeSlimError(f"{name!r} is not a usable device name", "use letters, digits, '.', '_' or '-' (up to 64)")
    user, host = parse_ssh(ssh)
    if not 0 < port < 65536:
        raise EdgeSlimError(f"--port {port} is not a TCP port", "give a port from 1 to 65535 (SSH's is 22)")
    profile = get_target(target)  # raises naming the known targets
    if identity:
        key = Path(identity).expanduser()
        if not key.is_file():
            raise EdgeSlimError(f"the key file {key} does not exist", "pass the private key file with --identity, or leave it out to use ssh-agent")
        identity = str(key.absolute())
    devices = load_devices()
    if name in devices and not replace:
        raise EdgeSlimError(f"a device called {name!r} exists already ({devices[name].address})",
                            f"choose another name, or remove it first with `edgeslim-cli devices remove {name}`")
    target_ref = str(profile.path) if profile.path and not target.strip() == profile.name else profile.name
    device = Device(name=name, user=user, host=host, target=target_ref, port=port, identity=identity, python=python or "python3")
    devices[name] = device
    _save(devices)
    return device


def remove_device(name: str) -> Device:
    devices = load_devices()
    device = get_device(name)
    del devices[name]
    _save(devices)
    return device
