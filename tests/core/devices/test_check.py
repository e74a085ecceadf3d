"""Connecting and checking a device against a real SSH server on 127.0.0.1: host keys, keys, refusals, packages."""

from __future__ import annotations

import json
import socket
import sys
from dataclasses import replace

import pytest

from core.devices.check import check_device
from core.devices.registry import add_device
from core.devices.ssh import HostKeyError, known_hosts_file
from core.errors import EdgeSlimError
from tests.core.cli.helpers import assert_clear_error
from tests.core.devices.cli_helper import devices_cli
from tests.core.devices.sshd import make_key, start_server


def test_first_connection_needs_the_host_key_accepted(board, sshd):
    with pytest.raises(HostKeyError) as info:
        check_device(board)
    assert not info.value.changed and info.value.fingerprint.startswith("SHA256:")
    assert "not a known host" in str(info.value) and "--accept-host-key" in str(info.value)
    assert "Trust this board" in info.value.for_app() and "--accept-host-key" not in info.value.for_app()
    assert not known_hosts_file().exists()  # nothing recorded without the user's yes
    report = check_device(board, accept_host_key=True)
    assert f"[127.0.0.1]:{sshd.port} ssh-ed25519 " in known_hosts_file().read_text()
    assert report.ready and report.missing == [] and report.install_line() is None
    assert report.cores and report.cores >= 1 and report.memory_bytes and report.python == ".".join(map(str, sys.version_info[:3]))
    import onnxruntime

    assert report.packages["onnxruntime"] == onnxruntime.__version__
    again = check_device(board)  # now known: no acceptance needed
    assert again.packages == report.packages


def test_a_changed_host_key_is_refused_even_when_accepting(board, sshd, tmp_path):
    check_device(board, accept_host_key=True)
    sshd.stop()
    other = tmp_path / "other_host_key"
    make_key(other)
    impostor = start_server(tmp_path / "sshd", host_key=other, port=sshd.port)  # same address, same client key, new host key
    try:
        with pytest.raises(HostKeyError) as info:
            check_device(board, accept_host_key=True)
        assert info.value.changed and "CHANGED" in str(info.value) and "ssh-keygen -R" in str(info.value)
        assert known_hosts_file().read_text().count("ssh-ed25519") == 1  # the impostor's key was not recorded
    finally:
        impostor.stop()


def test_a_key_the_device_does_not_accept(board, sshd, tmp_path):
    check_device(board, accept_host_key=True)
    wrong = tmp_path / "wrong_key"
    make_key(wrong)
    with pytest.raises(EdgeSlimError, match="refused the key") as info:
        check_device(replace(board, identity=str(wrong)))
    assert "ssh-copy-id" in str(info.value)


def test_a_refused_connection(config):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    device = add_device("gone", "pi@127.0.0.1", "rpi5", port=port)
    with pytest.raises(EdgeSlimError, match="refused the connection") as info:
        check_device(device)
    assert "systemctl enable --now ssh" in str(info.value)


def test_a_device_that_does_not_answer(config):
    import core.devices.ssh as ssh

    with socket.socket() as s:  # listens, never speaks SSH
        s.bind(("127.0.0.1", 0))
        s.listen()
        device = add_device("mute", "pi@127.0.0.1", "rpi5", port=s.getsockname()[1])
        with pytest.raises(EdgeSlimError, match="did not answer in 0.5 s") as info:
            ssh.run_sync(_connect(ssh, device, 0.5))
        assert "ping 127.0.0.1" in str(info.value)


async def _connect(ssh, device, timeout):
    async with ssh.connect(device, timeout=timeout):
        pass


def _without_onnxruntime(tmp_path) -> str:
    """A device Python that lacks onnxruntime: this interpreter with the import blocked by sitecustomize."""
    site = tmp_path / "no_ort"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.modules['onnxruntime'] = None\n")
    wrapper = tmp_path / "python-no-ort"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{site}" exec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def test_a_device_without_onnxruntime(config, sshd, tmp_path, capsys):
    add_device("bare", f"me@127.0.0.1", "rpi5", port=sshd.port, identity=str(sshd.client_key_path),
               python=_without_onnxruntime(tmp_path))
    code, out, err = devices_cli(capsys, "devices", "check", "bare", "--accept-host-key")
    assert code == 3, err
    assert "onnxruntime  MISSING" in out and "numpy" in out
    assert "run this on the device: " in out and "-m pip install onnxruntime" in out
    code, out, _ = devices_cli(capsys, "devices", "check", "bare", "--json")
    report = json.loads(out)
    assert report["missing"] == ["onnxruntime"] and report["install"].endswith("-m pip install onnxruntime")


def test_no_python_at_the_given_path(config, sshd, capsys):
    add_device("nopy", "me@127.0.0.1", "rpi5", port=sshd.port, identity=str(sshd.client_key_path),
               python="/nonexistent/python3")
    code, _, err = devices_cli(capsys, "devices", "check", "nopy", "--accept-host-key")
    assert_clear_error(code, err, "no Python at '/nonexistent/python3'", "--python")


def test_cli_check_unknown_host_is_one_line(board, capsys):
    code, _, err = devices_cli(capsys, "devices", "check", "pi")
    assert_clear_error(code, err, "not a known host", "fingerprint", "--accept-host-key")
    code, out, err = devices_cli(capsys, "devices", "check", "pi", "--accept-host-key")
    assert code == 0, err
    assert "reachable" in out and "ready to measure" in out
