"""preview_export: the verdict and the estimate an export would reach, from the same file, with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import EdgeSlimError
from core.export.bundle import ExportMisfit, export_bundle
from core.export.prepare import ExportSource, source_from_model
from core.export.preview import ExportPreview, preview_export
from core.export.targets import get_target
from core.jobs import Cancelled, CancelToken

FAST = dict(parity_samples=32, latency_repeats=3)

# a board too small for the demo: fp32 only, 256 KiB of flash, 64 KiB of RAM
SMALL_BOARD = """
label = "Small board"
kind = "mcu"
processor = "Cortex-M4 at 80 MHz"
runtime = "a float runtime"
toolchain = "onnxruntime"
formats = ["onnx"]
precisions = ["fp32"]
weights_in_ram = false
source = "made up for a test"

[memory]
storage = "256 KiB"
ram = "64 KiB"
bandwidth_gbs = 0.2

[compute]
fp32 = 0.08
"""


@pytest.fixture(scope="module")
def demo_source() -> ExportSource:
    from core.data import load_dataset
    from core.models import load_model

    return source_from_model(load_model("demo"), load_dataset("demo"))


@pytest.fixture
def small_board(tmp_path, monkeypatch):
    folder = tmp_path / "targets"
    folder.mkdir()
    (folder / "small-board.toml").write_text(SMALL_BOARD)
    monkeypatch.setenv("EDGESLIM_TARGETS", str(folder))
    return get_target("small-board")


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_preview_is_the_exports_own_verdict_and_writes_nothing(demo_source, tmp_path):
    x86 = get_target("x86-64")
    before = listing(tmp_path)
    preview = preview_export(demo_source, x86)
    assert listing(tmp_path) == before and preview.prepared is None  # the scratch files are gone
    assert isinstance(preview, ExportPreview)
    assert (preview.format, preview.precision, preview.change) == ("onnx", "fp32", "none")
    assert preview.fit.fits and preview.fit.problems == [] and preview.estimate is not None
    assert preview.estimate.macs == pytest.approx(26_657_408, rel=0.01) and preview.estimate.latency_ms > 0
    assert preview.op_types["Conv"] >= 15 and "Gemm" in preview.op_types
    assert 600_000 < preview.file_bytes < 800_000
    data = json.loads(json.dumps(preview.to_dict()))  # plain data, for the worker process and --json
    assert data["fit"]["fits"] and data["estimate"]["storage_bytes"] == preview.file_bytes

    # the export reaches the same numbers on the file it writes
    result = export_bundle(demo_source, x86, tmp_path / "bundle", **FAST)
    assert result.fit.to_dict() == preview.fit.to_dict()
    assert result.estimate.to_dict() == preview.estimate.to_dict()


def test_where_the_demo_does_not_fit_the_reasons_match_the_export(demo_source, small_board, tmp_path):
    preview = preview_export(demo_source, small_board, workdir=tmp_path / "work")
    assert not preview.fit.fits
    kinds = {p.kind: p.message for p in preview.fit.problems}
    assert set(kinds) == {"storage", "ram"}
    assert kinds["storage"].startswith("flash: needs 6") and "target has 256.00 KiB" in kinds["storage"]
    assert "prune more channels" in kinds["storage"]  # the board has no int8, so the way out is a smaller model
    assert kinds["ram"].startswith("RAM: needs ") and "target has 64.00 KiB — try a smaller input size" in kinds["ram"]
    assert preview.fit.storage_share > 2 and preview.fit.ram_share > 1
    # the kept file serves the export: refused with the same reasons, then written anyway on request
    assert preview.prepared is not None and preview.prepared.onnx_file.is_file()
    with pytest.raises(ExportMisfit) as info:
        export_bundle(demo_source, small_board, tmp_path / "refused", prepared=preview.prepared, **FAST)
    assert info.value.report.to_dict() == preview.fit.to_dict()
    assert not (tmp_path / "refused").exists()
    forced = export_bundle(demo_source, small_board, tmp_path / "forced", prepared=preview.prepared, ignore_fit=True, **FAST)
    assert forced.fit.to_dict() == preview.fit.to_dict() and forced.parity[0].passed


def test_a_format_the_target_does_not_take(demo_source):
    stm = get_target("stm32h7")
    preview = preview_export(demo_source, stm, "onnx")
    assert not preview.fit.fits and preview.estimate is not None  # the file could be made: the numbers are shown too
    (problem,) = [p for p in preview.fit.problems if p.kind == "precision"]
    assert "runs int8 only" in problem.message and "--format onnx-int8" in problem.message


def test_a_file_that_cannot_be_made(demo_source, tmp_path):
    from core.models import load_model
    from core.models.onnx_export import export_onnx

    path = export_onnx(demo_source.model.module, (3, 32, 32), tmp_path / "demo.onnx")
    source = source_from_model(load_model(str(path)), demo_source.data)
    # a format the target takes, but an ONNX model cannot become a PyTorch program: the export's own error
    with pytest.raises(EdgeSlimError, match="needs a PyTorch model"):
        preview_export(source, get_target("x86-64"), "pt2")
    # a format the target does not take either: reported as a misfit, with why the file could not be made
    preview = preview_export(source, get_target("esp32s3"), "pt2")
    assert not preview.fit.fits and preview.estimate is None and preview.change == ""
    assert any("needs a PyTorch model" in n for n in preview.notes)
    assert preview.to_dict()["estimate"] is None
    with pytest.raises(EdgeSlimError, match="unknown format"):
        preview_export(source, get_target("x86-64"), "tflite")


def test_cancel_stops_the_preview(demo_source):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        preview_export(demo_source, get_target("stm32h7"), cancel=token)
