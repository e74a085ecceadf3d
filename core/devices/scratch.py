"""Scratch folders on devices: made per measurement, removed after it, and remembered until they are.

A folder whose removal failed (the connection dropped) is listed in
``pending-scratch.json`` in the config folder and removed at the next
connection to that device, so nothing is left behind for long.
"""

from __future__ import annotations

import json

from core.devices import ssh
from core.devices.registry import Device, config_dir
from core.fileio import atomic_write_json

PREFIX = "edgeslim-measure-"
_REMOVE = ("import os, shutil, sys; p = sys.argv[1]; "
           f"assert os.path.basename(p.rstrip('/')).startswith({PREFIX!r}), p; shutil.rmtree(p, ignore_errors=True)")


def _file():
    return config_dir() / "pending-scratch.json"


def _load() -> dict[str, list[str]]:
    try:
        data = json.loads(_file().read_text(encoding="utf-8"))
        return {str(k): [str(p) for p in v] for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def pending_scratch(device: str) -> list[str]:
    """Scratch folders on ``device`` that were made and not yet removed."""
    return list(_load().get(device, []))


def note_scratch(device: str, path: str) -> None:
    data = _load()
    data.setdefault(device, [])
    if path not in data[device]:
        data[device].append(path)
    config_dir().mkdir(parents=True, exist_ok=True)
    atomic_write_json(_file(), data)


def forget_scratch(device: str, path: str) -> None:
    data = _load()
    if path in data.get(device, []):
        data[device].remove(path)
        if not data[device]:
            del data[device]
        atomic_write_json(_file(), data)


def remove_scratch_command(device: Device, path: str) -> str:
    """The command that removes one scratch folder (it refuses any path that is not one)."""
    return ssh.python_command(device, "-c", _REMOVE, path)
