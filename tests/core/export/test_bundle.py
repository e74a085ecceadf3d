"""Bundles of the demo model for every shipped target: files, infer.py as shipped, parity, fit, atomic placement.

The demo is exported to ONNX once and quantized once per int8 scheme for the
whole module; each target's bundle reuses those files (``prepared``), so the
tests spend their time on what differs per target.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from PIL import Image

from core.errors import EdgeSlimError
from core.export.bundle import ExportMisfit, export_bundle, is_bundle, sha256
from core.export.parity import ParityError, check_parity, require_parity
from core.export.prepare import ExportSource, prepare, preparation_key, source_from_model
from core.export.targets import FORMATS, Memory, get_target, list_targets
from core.jobs import CancelToken, Cancelled

FAST = dict(parity_samples=48, latency_repeats=3)


@pytest.fixture(scope="module")
def demo_source() -> ExportSource:
    from core.data import load_dataset
    from core.models import load_model

    return source_from_model(load_model("demo"), load_dataset("demo"))


@pytest.fixture(scope="module")
def made(demo_source, tmp_path_factory):
    """prepare(), cached by what shapes the file: the demo is exported to ONNX once, then reused."""
    cache: dict = {}
    work = tmp_path_factory.mktemp("prepared")
    first = prepare(demo_source, "onnx", get_target("x86-64"), work / "fp32")
    source = replace(demo_source, onnx_path=first.onnx_file)  # later formats start from this file
    cache[first.key] = first

    def get(target, fmt: str):
        key = preparation_key(target, fmt)
        if key not in cache:
            cache[key] = prepare(source, fmt, target, work / f"p{len(cache)}")
        return cache[key]

    return get


@pytest.fixture(scope="module")
def digit_image(demo_source, tmp_path_factory) -> tuple[Path, str]:
    """A validation digit the model gets right with confidence, saved as an 8-bit greyscale PNG."""
    import torch

    data, model = demo_source.data, demo_source.model
    pp = data.preprocessing
    for i in range(0, len(data.val), 7):
        x, y = data.val[i]
        probs = torch.softmax(model.predict(x[None]), 1)[0]
        if int(probs.argmax()) == int(y) and float(probs.max()) > 0.95:
            break
    pixels = (x[0].numpy() * pp.std[0] + pp.mean[0]).clip(0, 1) * 255.0
    path = tmp_path_factory.mktemp("img") / "digit.png"
    Image.fromarray(np.round(pixels).astype(np.uint8), mode="L").save(path)
    return path, data.class_names[int(y)]


def run_infer(bundle: Path, image: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "infer.py", str(image), *extra], cwd=bundle, capture_output=True, text=True, timeout=120)


CASES = [(t.name, fmt) for t in list_targets() if t.shipped for fmt in ("onnx", "onnx-int8") if fmt in t.formats]


def test_cases_cover_every_shipped_target():
    assert {name for name, _ in CASES} == {"rpi4", "rpi5", "jetson-orin-nano", "stm32h7", "esp32s3", "x86-64"}
    assert ("stm32h7", "onnx-int8") in CASES and ("esp32s3", "onnx") in CASES


@pytest.mark.parametrize("name, fmt", CASES)
def test_bundle_for_every_target(name, fmt, demo_source, made, digit_image, tmp_path):
    target = get_target(name)
    out = tmp_path / f"{name}-{fmt}"
    result = export_bundle(demo_source, target, out, fmt=fmt, prepared=made(target, fmt), **FAST)
    model_file = out / ("model.onnx" if fmt == "onnx" else "model-int8.onnx")
    assert sorted(p.name for p in out.iterdir()) == sorted(["README.md", "infer.py", "model.json", "report.html", model_file.name])
    assert not list(tmp_path.glob(".*"))  # no staging folder left beside it

    card = json.loads((out / "model.json").read_text())
    assert is_bundle(out) and card["model"]["file"] == model_file.name and card["model"]["format"] == fmt
    assert card["model"]["sha256"] == sha256(model_file) and card["files"][0]["bytes"] == model_file.stat().st_size
    assert card["input"]["chw"] == [3, 32, 32] and card["input"]["layout"] == "NCHW"
    assert card["input"]["shape"][0] == (1 if target.static_batch else "batch")
    assert card["class_names"] == [str(i) for i in range(10)]
    assert card["preprocessing"]["resize"] == 32 and card["preprocessing"]["scale"] == pytest.approx(1 / 255)
    assert {"torch", "onnx", "onnxruntime"} <= set(card["versions"])
    lat = card["metrics"]["latency_ms"]
    assert lat["measured"]["median_ms"] > 0 and lat["estimated"]["ms"] > 0 and lat["estimated"]["target"] == name
    assert card["metrics"]["macs"] == pytest.approx(26_657_408, rel=0.01)

    # parity: the written file against the PyTorch model, with the numbers recorded
    (parity,) = result.parity
    assert parity.passed and parity.samples == 48
    if fmt == "onnx":
        assert parity.change == "none" and parity.agreement == 1.0 and parity.max_abs_diff < 1e-3
    else:
        assert parity.change == "int8" and parity.agreement >= 0.95 and 0 < parity.max_abs_diff < 0.5 * max(1, parity.max_abs_logit)
    assert card["parity"][0]["agreement"] == parity.agreement

    # the demo fits every shipped target in the formats it takes
    assert result.fit.fits and card["fit"]["fits"], result.fit.summary()

    # infer.py runs as shipped, in the bundle folder, and names the digit
    image, label = digit_image
    proc = run_infer(out, image, "--top-k", "3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(f"{image}: {label} (")
    proc = run_infer(out, image, "--json")
    top = json.loads(proc.stdout)["results"][0]["top"]
    assert top[0]["label"] == label and len(top) == 5 and top[0]["probability"] > 0.9

    readme = (out / "README.md").read_text()
    assert target.label in readme and "Fits" in readme and "Assumptions of the estimate" in readme
    html = (out / "report.html").read_text()
    assert "<svg" in html and "exported (" in html and "src=" not in html and "<link" not in html


def test_target_specific_instructions(demo_source, made, tmp_path):
    jetson = get_target("jetson-orin-nano")
    export_bundle(demo_source, jetson, tmp_path / "j", fmt="onnx-int8", prepared=made(jetson, "onnx-int8"), **FAST)
    readme = (tmp_path / "j" / "README.md").read_text()
    assert "trtexec --onnx=model-int8.onnx --saveEngine=model.engine --int8 --fp16" in readme
    assert "--minShapes=input:1x3x32x32" in readme and "--maxShapes=input:8x3x32x32" in readme
    stm = get_target("stm32h7")
    export_bundle(demo_source, stm, tmp_path / "s", prepared=made(stm, "onnx-int8"), **FAST)
    readme = (tmp_path / "s" / "README.md").read_text()
    assert "stedgeai analyze  --model model-int8.onnx --target stm32h7" in readme and "X-CUBE-AI" in readme
    assert "Memory report" in readme and "weights (flash)" in readme and "activations, peak (RAM)" in readme
    esp = get_target("esp32s3")
    export_bundle(demo_source, esp, tmp_path / "e", prepared=made(esp, "onnx"), **FAST)
    readme = (tmp_path / "e" / "README.md").read_text()
    assert "espdl_quantize_onnx" in readme and "target='esp32s3'" in readme and "input_shape=[1, 3, 32, 32]" in readme


def test_fp16_and_pt2_bundles(demo_source, made, digit_image, tmp_path):
    rpi5 = get_target("rpi5")
    fp16 = export_bundle(demo_source, rpi5, tmp_path / "h", fmt="onnx-fp16", prepared=made(rpi5, "onnx-fp16"), **FAST)
    assert fp16.parity[0].change == "fp16" and fp16.parity[0].passed and fp16.parity[0].agreement >= 0.98
    x86 = get_target("x86-64")
    pt2 = export_bundle(demo_source, x86, tmp_path / "p", fmt="pt2", prepared=made(x86, "pt2"), **FAST)
    files = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert "model.pt2" in files and "model.onnx" in files
    assert [p.file for p in pt2.parity] == ["model.pt2", "model.onnx"] and all(p.passed for p in pt2.parity)
    assert pt2.parity[0].max_abs_diff < 1e-3
    assert pt2.card["model"]["file"] == "model.pt2" and pt2.card["model"]["onnx_file"] == "model.onnx"
    image, label = digit_image
    proc = run_infer(tmp_path / "p", image)
    assert proc.returncode == 0 and f": {label} (" in proc.stdout.splitlines()[0], proc.stderr


def test_where_the_demo_does_not_fit(demo_source, made, tmp_path):
    # a shipped target that takes int8 only: the fp32 file is refused before any work, with the way out
    with pytest.raises(ExportMisfit) as info:
        export_bundle(demo_source, get_target("stm32h7"), tmp_path / "a", fmt="onnx", **FAST)
    assert "runs int8 only" in str(info.value) and "--format onnx-int8" in str(info.value)
    assert not (tmp_path / "a").exists()
    # a smaller MCU: the int8 demo needs more flash and RAM than it has
    stm = get_target("stm32h7")
    small = replace(stm, name="tiny-mcu", label="Tiny MCU", memory=Memory(64 * 1024, 32 * 1024, 1.0))
    with pytest.raises(ExportMisfit) as info:
        export_bundle(demo_source, small, tmp_path / "b", prepared=made(stm, "onnx-int8"), **FAST)
    kinds = {p.kind: p.message for p in info.value.report.problems}
    assert set(kinds) == {"storage", "ram"}
    assert kinds["storage"].startswith("flash: needs 192") and "target has 64.00 KiB" in kinds["storage"]
    assert kinds["ram"].startswith("RAM: needs 48.00 KiB of activations, target has 32.00 KiB — try a smaller input size")
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".*"))
    # written anyway on request, with the verdict recorded
    forced = export_bundle(demo_source, small, tmp_path / "c", prepared=made(stm, "onnx-int8"), ignore_fit=True, **FAST)
    card = json.loads((tmp_path / "c" / "model.json").read_text())
    assert not forced.fit.fits and not card["fit"]["fits"] and "Does not fit" in (tmp_path / "c" / "README.md").read_text()


def test_tensorrt_refuses_an_asymmetric_int8_model(demo_source, made, tmp_path):
    from core.models import load_model

    u8s8 = made(get_target("x86-64"), "onnx-int8").onnx_file
    source = source_from_model(load_model(str(u8s8)), demo_source.data)
    with pytest.raises(ExportMisfit, match="needs symmetric signed int8"):
        export_bundle(source, get_target("jetson-orin-nano"), tmp_path / "j", **FAST)
    # the same file suits an ONNX Runtime target, copied as it is: parity is exact
    result = export_bundle(source, get_target("rpi4"), tmp_path / "r", **FAST)
    assert result.format == "onnx-int8" and result.parity[0].max_abs_diff == 0.0
    with pytest.raises(EdgeSlimError, match="already int8"):
        export_bundle(source, get_target("rpi4"), tmp_path / "f", fmt="onnx", **FAST)


def test_existing_folders_are_never_clobbered(demo_source, made, tmp_path):
    x86 = get_target("x86-64")
    prepared = made(x86, "onnx")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    for force in (False, True):  # not a bundle: refused even with force
        with pytest.raises(EdgeSlimError, match="not empty"):
            export_bundle(demo_source, x86, mine, prepared=prepared, force=force, **FAST)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]

    out = tmp_path / "bundle"
    first = export_bundle(demo_source, x86, out, prepared=prepared, **FAST)
    created = first.card["created"]
    with pytest.raises(EdgeSlimError, match="pass --force"):
        export_bundle(demo_source, x86, out, prepared=prepared, **FAST)
    # a failure half-way (here a cancel during the parity check) leaves the earlier bundle as it was
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        export_bundle(demo_source, x86, out, prepared=prepared, force=True, cancel=token, **FAST)
    assert json.loads((out / "model.json").read_text())["created"] == created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "mine"]  # no staging or old folders
    # with --force the files of the earlier bundle are replaced; a file the user added stays (issue 15, item 3)
    (out / "stale.txt").write_text("from before")
    export_bundle(demo_source, x86, out, prepared=prepared, force=True, **FAST)
    assert (out / "stale.txt").read_text() == "from before" and is_bundle(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "mine"]
    # an empty folder is fine
    (tmp_path / "empty").mkdir()
    export_bundle(demo_source, x86, tmp_path / "empty", prepared=prepared, **FAST)
    assert is_bundle(tmp_path / "empty")


def test_parity_catches_a_wrong_file(demo_source, made, tmp_path):
    good = made(get_target("x86-64"), "onnx").onnx_file
    proto = onnx.load(str(good))
    fc = next(i for i in proto.graph.initializer if i.name == "fc.weight")
    w = numpy_helper.to_array(fc)
    fc.CopyFrom(numpy_helper.from_array((w + np.random.default_rng(0).normal(0, 0.5, w.shape)).astype(np.float32), fc.name))
    bad = tmp_path / "bad.onnx"
    onnx.save(proto, str(bad))
    result = check_parity(bad, demo_source.model, demo_source.data, samples=48)
    assert not result.passed and result.max_abs_diff > 0.1
    with pytest.raises(ParityError) as info:
        require_parity(result)
    text = str(info.value)
    assert "failed its parity check" in text and "top-1 agreement" in text and "max |Δlogit|" in text and "48 validation images" in text


def test_prepared_files_must_suit_the_target(demo_source, made, tmp_path):
    with pytest.raises(ValueError, match="made for"):
        export_bundle(demo_source, get_target("stm32h7"), tmp_path / "x", fmt="onnx-int8",
                      prepared=made(get_target("x86-64"), "onnx-int8"), **FAST)
    assert set(FORMATS) == {"onnx", "onnx-fp16", "onnx-int8", "pt2"}
