"""The device list: add, list, remove in the config folder; mistakes caught when the device is added."""

from __future__ import annotations

import json

import pytest

from core.devices.registry import add_device, config_dir, devices_file, get_device, load_devices, remove_device
from core.errors import EdgeSlimError
from tests.core.cli.helpers import assert_clear_error
from tests.core.devices.cli_helper import devices_cli


def test_config_dir_follows_the_environment(config, monkeypatch, tmp_path):
    assert config_dir() == config and devices_file() == config / "devices.toml"
    monkeypatch.delenv("EDGESLIM_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "EdgeSlim"


def test_add_list_remove(config, tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_text("not read until a connection")
    add_device("pi5", "pi@raspberrypi.local", "rpi5", identity=str(key))
    add_device("nano", "ubuntu@10.0.0.7", "jetson-orin-nano", port=2222, python="/usr/bin/python3.10")
    devices = load_devices()
    assert sorted(devices) == ["nano", "pi5"]
    assert devices["pi5"].address == "pi@raspberrypi.local" and devices["pi5"].identity == str(key)
    assert devices["nano"].address == "ubuntu@10.0.0.7:2222" and devices["nano"].identity is None
    text = devices_file().read_text()
    assert "password" not in text.replace("no passwords", "")  # keys or the agent, never a password
    remove_device("pi5")
    assert list(load_devices()) == ["nano"]
    with pytest.raises(EdgeSlimError, match="no device called 'pi5'"):
        get_device("pi5")


@pytest.mark.parametrize("args, needle", [
    (("pi", "raspberrypi.local", "rpi5"), "not USER@HOST"),
    (("pi", "pi@host", "rpi55"), "unknown target 'rpi55'"),
    (("bad name", "pi@host", "rpi5"), "not a usable device name"),
])
def test_mistakes_are_caught_on_add(config, args, needle):
    with pytest.raises(EdgeSlimError, match=needle):
        add_device(*args)
    assert load_devices() == {}


def test_missing_key_file_and_duplicates(config, tmp_path):
    with pytest.raises(EdgeSlimError, match="does not exist"):
        add_device("pi", "pi@host", "rpi5", identity=str(tmp_path / "nope"))
    add_device("pi", "pi@host", "rpi5")
    with pytest.raises(EdgeSlimError, match="exists already"):
        add_device("pi", "pi@other", "rpi5")


def test_cli_add_list_remove(config, capsys):
    code, out, err = devices_cli(capsys, "devices", "add", "pi5", "--ssh", "pi@raspberrypi.local", "--target", "rpi5")
    assert code == 0, err
    assert "pi@raspberrypi.local" in out and "--accept-host-key" in out
    code, out, _ = devices_cli(capsys, "devices", "list", "--json")
    listed = json.loads(out)
    assert [d["name"] for d in listed["devices"]] == ["pi5"] and listed["devices"][0]["python"] == "python3"
    code, out, _ = devices_cli(capsys, "devices", "list")
    assert "pi5" in out and "rpi5" in out and "ssh-agent" in out
    code, out, _ = devices_cli(capsys, "devices", "remove", "pi5")
    assert code == 0 and "removed" in out
    code, _, err = devices_cli(capsys, "devices", "remove", "pi5")
    assert_clear_error(code, err, "no device called 'pi5'")
    code, _, err = devices_cli(capsys, "devices", "add", "x", "--ssh", "nohost", "--target", "rpi5")
    assert_clear_error(code, err, "USER@HOST")
