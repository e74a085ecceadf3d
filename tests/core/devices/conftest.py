"""Fixtures for the device tests: a private config folder and a real SSH server on 127.0.0.1."""

from __future__ import annotations

import sys

import pytest

from tests.core.devices.sshd import LocalSSHServer, start_server


@pytest.fixture
def config(tmp_path, monkeypatch):
    """EdgeSlim's config folder (devices.toml, known_hosts) in tmp_path."""
    folder = tmp_path / "config"
    monkeypatch.setenv("EDGESLIM_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture
def sshd(tmp_path) -> LocalSSHServer:
    server = start_server(tmp_path / "sshd")
    yield server
    server.stop()


@pytest.fixture
def board(config, sshd):
    """A registered device at the test server whose Python is this one (it has onnxruntime, numpy, Pillow)."""
    from core.devices.registry import add_device

    return add_device("pi", f"{_user()}@127.0.0.1", "rpi5", port=sshd.port, identity=str(sshd.client_key_path),
                      python=sys.executable)


def _user() -> str:
    import getpass

    return getpass.getuser()
