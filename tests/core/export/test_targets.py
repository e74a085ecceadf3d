"""Device profiles: the shipped ones are complete and sourced; user files load, shadow, and fail by field."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import EdgeSlimError
from core.export.targets import (
    FORMATS, PRECISIONS, SHIPPED_DIR, TargetError, get_target, list_targets, load_profile, parse_size, target_names,
)

SHIPPED = ("rpi4", "rpi5", "jetson-orin-nano", "stm32h7", "esp32s3", "x86-64")

VALID = """
name = "tiny-mcu"
label = "Tiny MCU"
kind = "mcu"
processor = "Cortex-M0+ at 48 MHz"
runtime = "some runtime"
toolchain = "stedgeai"
formats = ["onnx-int8"]
precisions = ["int8"]
weights_in_ram = false
source = "made up for a test"

[memory]
storage = "64 KiB"
ram = "16 KiB"
bandwidth_gbs = 0.1

[compute]
int8 = 0.05
"""


@pytest.fixture
def user_targets(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "targets"
    folder.mkdir()
    monkeypatch.setenv("EDGESLIM_TARGETS", str(folder))
    return folder


def test_every_required_target_ships_and_loads(user_targets):
    names = target_names()
    for name in SHIPPED:
        assert name in names
    profiles = {t.name: t for t in list_targets()}
    for name in SHIPPED:
        t = profiles[name]
        assert t.shipped and t.path == SHIPPED_DIR / f"{name}.toml"
        assert t.label and t.runtime and t.processor
        assert set(t.formats) <= set(FORMATS) and set(t.precisions) <= set(PRECISIONS)
        assert all(p in t.compute_gops and t.compute_gops[p] > 0 for p in t.precisions)
        assert t.memory.storage_bytes > 0 and t.memory.ram_bytes > 0 and t.memory.bandwidth_gbs > 0
        assert len(t.source.strip()) > 80  # where the figures come from, in words
        assert "approximate" in t.source.lower()  # every profile has derived figures and says so


def test_shipped_profiles_carry_the_issue_figures():
    stm = get_target("stm32h7")
    assert stm.memory.storage_bytes == 2 * 2**20 and stm.memory.ram_bytes == 2**20
    assert stm.formats == ("onnx-int8",) and stm.precisions == ("int8",) and stm.kind == "mcu"
    assert not stm.weights_in_ram and stm.static_batch
    assert "Cortex-M7" in stm.processor and "QDQ" in stm.source
    jetson = get_target("jetson-orin-nano")
    assert {"fp16", "int8"} <= set(jetson.precisions) and jetson.toolchain == "tensorrt"
    assert jetson.quantization.symmetric and jetson.quantization.required
    assert "Cortex-A72" in get_target("rpi4").processor and "Cortex-A76" in get_target("rpi5").processor
    esp = get_target("esp32s3")
    assert esp.converts_to == "int8" and esp.device_precision("fp32") == "int8" and esp.memory.ram_bytes == 512 * 1024
    x86 = get_target("x86-64")
    assert x86.toolchain == "onnxruntime" and "pt2" in x86.formats


def test_user_profile_is_listed_and_shadows_a_shipped_one(user_targets):
    (user_targets / "tiny-mcu.toml").write_text(VALID)
    shadow = (SHIPPED_DIR / "rpi4.toml").read_text().replace('ram = "1 GiB"', 'ram = "8 GiB"')
    (user_targets / "rpi4.toml").write_text(shadow)
    assert "tiny-mcu" in target_names()
    tiny = get_target("tiny-mcu")
    assert tiny.memory.ram_bytes == 16 * 1024 and not tiny.shipped
    rpi4 = get_target("rpi4")
    assert rpi4.memory.ram_bytes == 8 * 2**30 and rpi4.path == user_targets / "rpi4.toml"


def test_profile_by_path(tmp_path):
    path = tmp_path / "tiny-mcu.toml"
    path.write_text(VALID)
    assert get_target(str(path)).name == "tiny-mcu"
    with pytest.raises(TargetError, match="no such target profile file"):
        get_target(str(tmp_path / "nothere.toml"))


def test_unknown_target_suggests_a_name(user_targets):
    with pytest.raises(EdgeSlimError) as info:
        get_target("rpi-4")
    text = str(info.value)
    assert "unknown target 'rpi-4'" in text and "did you mean rpi4?" in text.lower() and "stm32h7" in text


@pytest.mark.parametrize(
    "change, field, words",
    [
        (lambda s: s.replace('ram = "16 KiB"\n', ""), "memory.ram", "is missing"),
        (lambda s: s.replace('ram = "16 KiB"', 'ram = "16 kilos"'), "memory.ram", "2 MiB"),
        (lambda s: s.replace("bandwidth_gbs = 0.1", 'bandwidth_gbs = "fast"'), "memory.bandwidth_gbs", "expected a number"),
        (lambda s: s.replace("bandwidth_gbs = 0.1", "bandwidth_gbs = -1"), "memory.bandwidth_gbs", "positive"),
        (lambda s: s.replace('formats = ["onnx-int8"]', 'formats = ["tflite"]'), "formats", "onnx-int8"),
        (lambda s: s.replace('formats = ["onnx-int8"]', 'formats = ["onnx-int8", "onnx"]'), "formats", "precisions"),
        (lambda s: s.replace('kind = "mcu"', 'kind = "toaster"'), "kind", "mcu"),
        (lambda s: s.replace("int8 = 0.05", "fp32 = 0.05"), "compute.int8", "is missing"),
        (lambda s: s.replace("[memory]", 'colour = "blue"\n[memory]'), "colour", "not a profile field"),
        (lambda s: s.replace('name = "tiny-mcu"', 'name = "other"'), "name", "tiny-mcu.toml"),
        (lambda s: s.replace('label = "Tiny MCU"\n', ""), "label", "is missing"),
        (lambda s: s.replace("weights_in_ram = false", 'weights_in_ram = "no"'), "weights_in_ram", "bool"),
    ],
)
def test_malformed_profile_names_the_file_and_the_field(tmp_path, change, field, words):
    path = tmp_path / "tiny-mcu.toml"
    path.write_text(change(VALID))
    with pytest.raises(TargetError) as info:
        load_profile(path)
    text = str(info.value)
    assert str(path) in text and f"`{field}`" in text and words in text, text
    assert "\n" not in text  # one line for the CLI


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(TargetError, match="broken.toml is not valid TOML"):
        load_profile(path)


def test_a_broken_user_file_fails_the_listing_by_name(user_targets):
    (user_targets / "bad.toml").write_text(VALID.replace('name = "tiny-mcu"', 'name = "bad"').replace("[compute]\nint8 = 0.05\n", ""))
    with pytest.raises(TargetError, match=r"bad\.toml: field `compute` is missing"):
        list_targets()


@pytest.mark.parametrize("text, expected", [
    ("2 MiB", 2 * 2**20), ("512 KiB", 512 * 1024), ("8 GB", 8 * 10**9), ("1.5 KB", 1500), (4096, 4096), ("100", 100),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "2 parsecs", "-1 MB", 0, True, "MB"])
def test_parse_size_rejects(bad):
    with pytest.raises(ValueError):
        parse_size(bad)
