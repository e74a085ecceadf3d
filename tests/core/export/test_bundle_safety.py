"""A bundle never costs the user a file, and its README shows names as text (issue 15, items 3 and 16).

``--force`` replaces only what the earlier bundle wrote (its manifest); what a
killed export left beside the destination is removed by the next export; class,
model, target and tensor names reach the README escaped, as report.html does.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from core.errors import EdgeSlimError
from core.export import bundle
from core.export.bundle import check_destination, export_bundle
from core.export.report import readme
from core.export.targets import get_target
from core.staging import clean_stale_partials


def _bundle(folder: Path, files: dict[str, bytes], created: str) -> Path:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    card = {"bundle": bundle.BUNDLE_MARK, "created": created, "files": [{"path": n} for n in files]}
    (folder / "model.json").write_text(json.dumps(card))
    for name in ("infer.py", "README.md", "report.html"):
        (folder / name).write_text(created)
    return folder


# --------------------------------------------------------------------------- item 3


def test_force_replaces_the_bundles_files_and_keeps_the_users(tmp_path):
    out = _bundle(tmp_path / "b", {"model.onnx": b"old", "model.pt2": b"old program"}, "old")
    (out / "app.py").write_text("my app")
    (out / "calib").mkdir()
    (out / "calib" / "img1.png").write_bytes(b"png")
    staging = _bundle(tmp_path / ".b.partial-new", {"model-int8.onnx": b"new"}, "new")
    bundle._place(staging, out, force=True)
    assert (out / "app.py").read_text() == "my app" and (out / "calib" / "img1.png").read_bytes() == b"png"
    assert json.loads((out / "model.json").read_text())["created"] == "new" and (out / "model-int8.onnx").read_bytes() == b"new"
    assert not (out / "model.onnx").exists() and not (out / "model.pt2").exists()  # the earlier bundle's files are gone
    assert (out / "README.md").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no staging or old folder left


def test_force_refuses_a_user_file_that_a_bundle_would_overwrite(tmp_path):
    out = _bundle(tmp_path / "b", {"model.onnx": b"old"}, "old")
    (out / "model.pt2").write_text("the user's own program")
    with pytest.raises(EdgeSlimError, match="model.pt2.*did not write"):
        check_destination(out, force=True)
    (out / "model.pt2").rename(out / "keep.pt2")
    (out / "notes.md").write_text("x")
    staging = _bundle(tmp_path / ".b.partial-new", {"model.pt2": b"new"}, "new")
    (staging / "notes.md").write_text("bundle")  # a new bundle file named like a user file: refused, nothing moved
    with pytest.raises(EdgeSlimError, match="notes.md"):
        bundle._place(staging, out, force=True)
    assert (out / "notes.md").read_text() == "x" and (out / "keep.pt2").read_text() == "the user's own program"
    assert json.loads((out / "model.json").read_text())["created"] == "old" and staging.is_dir()


# --------------------------------------------------------------------------- item 16: partial folders


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout)


def test_partials_of_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    out = tmp_path / "bundle"
    dead = tmp_path / f".bundle.partial-{_dead_pid()}-0123abcd"
    live = tmp_path / f".bundle.partial-{os.getpid()}-0123abcd"
    other = tmp_path / f".other.partial-{_dead_pid()}-0123abcd"
    for folder in (dead, live, other):
        (folder / "sub").mkdir(parents=True)
    assert clean_stale_partials(out) == [dead]
    assert not dead.exists() and live.is_dir() and other.is_dir()


def test_an_export_removes_what_a_killed_export_left(tmp_path):
    from core.data import load_dataset
    from core.export.prepare import source_from_model
    from core.models import load_model

    out = tmp_path / "bundle"
    debris = tmp_path / f".bundle.partial-{_dead_pid()}-0123abcd"
    debris.mkdir()
    (debris / "model.onnx").write_bytes(b"half")
    source = source_from_model(load_model("demo"), load_dataset("demo"))
    with pytest.raises(EdgeSlimError, match="unknown format"):  # fails fast, after the destination is checked and tidied
        export_bundle(source, get_target("x86-64"), out, fmt="nonsense")
    assert not debris.exists() and not out.exists()


# --------------------------------------------------------------------------- item 16: README escaping

HOSTILE_CLASS = "<script>alert(1)</script>"
HOSTILE_MODEL = "**bold** [click](javascript:alert(1)) <img src=x onerror=alert(2)>"
HOSTILE_TARGET = "My <b>board</b> | `x` _y_"
HOSTILE_INPUT = "in'put`s <i>; rm -rf ~"


def _card() -> dict:
    return {
        "name": HOSTILE_MODEL, "edgeslim": "0.1", "created": "2026-12-04T00:00:00+00:00",
        "model": {"file": "model.onnx", "format": "onnx", "precision": "fp32", "bytes": 1000, "onnx_file": "model.onnx"},
        "files": [{"path": "model.onnx", "bytes": 1000, "sha256": "ab" * 32}],
        "input": {"name": HOSTILE_INPUT, "shape": ["<batch>", 3, 32, 32], "layout": "NCHW", "chw": [3, 32, 32]},
        "output": {"name": "<out>", "meaning": "logits for 2 classes (softmax gives probabilities)"},
        "preprocessing": {"mean": [0.5], "std": [0.5], "scale": 1 / 255},
        "class_names": [HOSTILE_CLASS, "_cat_"],
        "metrics": {"latency_ms": {"measured": None}},
        "estimate": {"peak_activation_bytes": 100, "weight_bytes": 1000, "storage_bytes": 1000, "peak_at": "<node>`x`",
                     "latency_ms": 1.0, "precision": "fp32", "bound": "compute", "macs": 10, "assumptions": ["a <tag>"]},
        "fit": {"fits": False, "problems": [{"message": "operator <Foo> at node <bar> is not supported"}], "warnings": []},
        "parity": [{"summary": "agrees <b>"}],
    }


@pytest.mark.parametrize("target", ["rpi4", "jetson-orin-nano"])
def test_readme_shows_names_as_text_not_html_or_markdown(target):
    profile = replace(get_target(target), label=HOSTILE_TARGET)
    text = readme(_card(), profile)
    prose = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M))  # outside code
    for live in ("<script", "<img", "<b>", "<i>", "<tag>", "<Foo>", "<node>", "<batch>", "**bold", "_cat", "](javascript", "| `x"):
        assert not re.search(r"(?<!\\)" + re.escape(live), prose), live  # a tag, emphasis, a link, a table cell: all escaped
    heading = text.splitlines()[0]
    assert heading.startswith("# \\*\\*bold\\*\\* \\[click\\]") and "\\<b\\>board\\</b\\> \\| \\`x\\` \\_y\\_" in heading
    assert "\\<script\\>alert(1)\\</script\\>" in text and "\\_cat\\_" in text
    assert "``in'put`s <i>; rm -rf ~``" in text  # a code span: shown as is, the backtick inside fenced by two
    if target == "rpi4":  # the Python example stays valid Python with the name as a literal
        line = next(ln for ln in text.splitlines() if ln.startswith("logits = session.run"))
        compile(line.split("  #")[0], "<readme>", "exec")
        assert repr(HOSTILE_INPUT) in line
    else:  # the trtexec command keeps the name in one shell word
        line = next(ln for ln in text.splitlines() if "trtexec --onnx" in ln)
        assert f"--minShapes={HOSTILE_INPUT}:1x3x32x32" in shlex.split(line)
    assert re.search(r"^- operator &lt;Foo&gt; at node &lt;bar&gt;", text, re.M)
