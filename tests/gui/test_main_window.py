"""The main window: opens on the demo, every page renders, files load, errors become messages, settings persist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage

from gui.main_window import PAGES
from core.app.events import Done, Failed, Progress
from gui.jobs.controller import InThread
from tests.gui.conftest import start_finetune, wait_idle


def non_blank(image: QImage) -> bool:
    colours = {image.pixel(x, y) for x in range(0, image.width(), 23) for y in range(0, image.height(), 23)}
    return image.width() >= 640 and image.height() >= 480 and len(colours) > 20


def make_image_folder(root: Path, classes=("cat", "dog", "fox"), per_class: int = 8, size: int = 32) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            pixels[..., c % 3] = 200
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


# ---------------------------------------------------------------------------- start-up and pages


def test_first_start_opens_on_the_demo_and_every_page_renders(demo_window, tmp_path):
    win = demo_window
    assert win.first_start
    assert win.session.model.name == "DemoResNet"
    assert win.model_page.layers.row_count() >= 15
    assert win.model_page.summary.values["Parameters"].text().replace(",", "").isdigit()
    assert win.data_page.grid.count() > 0
    assert "validation 539" in win.data_page.summary.values["Splits"].text()
    assert win.data_page.counts.row_count() == 10  # digits 0-9, counted per split
    assert "DemoResNet" in win.model_label.text() and "demo digits" in win.data_label.text()
    assert str(tmp_path / "workspace")[-20:] in win.workspace_label.toolTip()
    assert "ONNX Runtime" in win.target_label.text()
    # the compress page starts from the "Fast int8" preset, ready to run
    page = win.compress_page
    assert [s.technique for s in page.draft.steps] == ["quantize.static"]
    assert page.run_button.isEnabled(), page.run_blocker()
    # every page renders something (no empty screens), sidebar entries have icons
    for i, name in enumerate(PAGES):
        win.show_page(name)
        assert win.stack.currentIndex() == i and win.current_page() == name.lower()
        assert not win.sidebar.item(i).icon().isNull()
        assert non_blank(win.grab().toImage()), name
    assert not win.explore_page.empty.isHidden()
    assert "none yet" in win.export_page.heading.text()


def test_layer_filter_narrows_rows(qtbot, window):
    window.load_model("demo")
    wait_idle(qtbot, window)
    table = window.model_page.layers
    all_rows = table.row_count()
    table.filter.setText("Linear")
    assert 0 < table.row_count() < all_rows


def test_zero_cost_layers_are_hidden_until_asked_for(qtbot, window):
    """Issue 17 #11: BatchNorm/ReLU rows with no MACs no longer fill two thirds of the table."""
    window.load_model("demo")
    wait_idle(qtbot, window)
    page, table = window.model_page, window.model_page.layers
    report = window.session.inspection
    costly = sum(1 for layer in report.layers if layer.macs != 0)
    assert page.hide_free.isChecked() and table.row_count() == costly < len(report.layers)
    assert f"{len(report.layers) - costly} zero-cost hidden" in page.caption.text()
    page.hide_free.setChecked(False)
    assert table.row_count() == len(report.layers) and "hidden" not in page.caption.text()


def test_evaluate_baseline_shows_accuracy_and_latency(qtbot, window):
    window.load_demo()
    wait_idle(qtbot, window)
    job = window.evaluate_baseline()
    assert job is not None
    wait_idle(qtbot, window)
    text = window.model_page.summary.values["Baseline"].text()
    assert "top-1" in text and "ONNX Runtime" in text and "ms" in text, text


def test_the_model_page_tells_the_source_file_from_the_deployable_onnx_file(qtbot, window):
    """The .pt opened and the ONNX file a run or bundle holds are two sizes, each named (issue 17, item 3)."""
    from core import fmt
    from core.metrics.size import serialized_size

    window.load_demo()
    wait_idle(qtbot, window)
    values = window.model_page.summary.values
    assert "File size" not in values
    assert "Evaluate baseline" in values["Deployable file"].text()
    window.evaluate_baseline()
    wait_idle(qtbot, window)
    onnx = serialized_size(window.session.model).bytes  # what runs and Export report as the ONNX file
    assert fmt.size(onnx) in values["Deployable file"].text()
    assert values["Source file"].text().startswith("—") or "as opened" in values["Source file"].text()


# ---------------------------------------------------------------------------- opening files


def test_load_a_model_file_and_a_dataset_folder(qtbot, window, tmp_path):
    from core.models import load_model
    from core.models.onnx_export import export_onnx

    onnx_path = export_onnx(load_model("demo").module, (3, 32, 32), tmp_path / "demo-copy.onnx")
    window.load_model(str(onnx_path))
    folder = make_image_folder(tmp_path / "pets")
    window.load_data(str(folder))
    wait_idle(qtbot, window)
    assert window.errors == []
    assert window.session.model.source_format == "onnx"
    assert window.model_page.summary.values["Format"].text() == "onnx"
    assert "demo-copy.onnx" in window.model_page.summary.values["Source"].text()
    assert window.session.data.class_names == ["cat", "dog", "fox"]
    assert window.data_page.grid.count() > 0
    assert window.data_page.counts.row_count() == 3
    # both are remembered as recent files
    kinds = dict(window.recent())
    assert kinds["model"] == str(onnx_path) and kinds["data"] == str(folder)


def test_a_folder_with_problems_lists_them(qtbot, window, tmp_path):
    folder = make_image_folder(tmp_path / "messy", classes=("a", "b"), per_class=6)
    (folder / "a" / "broken.png").write_bytes(b"not an image")
    (folder / "empty").mkdir()
    window.load_data(str(folder))
    wait_idle(qtbot, window)
    assert window.errors == []
    problems = window.data_page.summary.values["Problems"].text()
    assert "broken.png" in problems and "empty" in problems, problems


def test_an_unusable_folder_says_what_is_wrong(qtbot, window, tmp_path):
    (tmp_path / "nothing" / "only").mkdir(parents=True)
    window.load_data(str(tmp_path / "nothing"))
    wait_idle(qtbot, window)
    assert len(window.errors) == 1 and "Traceback" not in window.errors[0]
    assert "could not be opened" in window.data_page.summary.values["Dataset"].text()


def test_dropping_a_dataset_folder_and_a_model_file_loads_them(qtbot, window, tmp_path):
    folder = make_image_folder(tmp_path / "dropped")
    bad_model = tmp_path / "weights.pt"
    bad_model.write_bytes(b"\x80\x02 definitely not a torch file")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder)), QUrl.fromLocalFile(str(bad_model))])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    wait_idle(qtbot, window)
    assert window.session.data is not None and window.session.data.name == "dropped"
    assert len(window.errors) == 1 and "weights.pt" in window.errors[0]  # the corrupt file: a message, no crash


@pytest.mark.parametrize("name, content", [("broken.onnx", b"garbage"), ("broken.pt", b"PK\x03\x04 truncated zip")])
def test_a_corrupt_model_file_becomes_a_clear_message(qtbot, window, tmp_path, name, content):
    bad = tmp_path / name
    bad.write_bytes(content)
    window.load_model(str(bad))
    wait_idle(qtbot, window)
    assert len(window.errors) == 1, window.errors
    message = window.errors[0]
    assert name in message and "Traceback" not in message and "\n" not in message.strip()
    assert window.session.model is None
    assert message in window.statusBar().currentMessage()


# ---------------------------------------------------------------------------- settings


def test_geometry_workspace_and_recent_files_persist(qtbot, make_window, tmp_path):
    other_ws = tmp_path / "other-workspace"
    first = make_window(start=False)
    assert first.first_start
    first.resize(700, 520)  # as small as the window allows (the default is 1280×800)
    size = (first.width(), first.height())
    assert size != (1280, 800)
    assert first.open_workspace(other_ws)
    first.add_recent("model", "/models/a.onnx")
    first.close()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert Path(settings.value("workspace")) == other_ws
    assert settings.value("geometry") is not None
    from gui.main_window import MainWindow

    second = MainWindow(settings=settings)
    qtbot.addWidget(second)
    try:
        assert not second.first_start
        assert second.workspace.path == other_ws
        assert ("model", "/models/a.onnx") in second.recent() and ("workspace", str(other_ws)) in second.recent()
        # the stored geometry was applied (the offscreen screen is small, so Qt fits it on screen)
        assert (second.width(), second.height()) != (1280, 800)
        assert second.width() <= size[0] and second.height() <= size[1]
    finally:
        second.close()


# ---------------------------------------------------------------------------- jobs


def test_cancel_stops_a_running_job(qtbot, window):
    def slow(emit, cancel):
        for i in range(1000):
            cancel.raise_if_cancelled()
            emit(Progress(i / 1000, "working"))
            time.sleep(0.01)
        return "finished"

    results: list[str] = []

    def on_event(event):
        if isinstance(event, Failed) and event.cancelled:
            results.append("cancelled")
        elif isinstance(event, Done):
            results.append(event.result)

    window.jobs.start(InThread(slow), on_event, title="slow work")
    qtbot.waitUntil(lambda: window.progress.isVisible(), timeout=5000)
    window.cancel_button.click()
    wait_idle(qtbot, window, timeout=10_000)
    assert results == ["cancelled"]
    assert not window.progress.isVisible()


def test_unexpected_error_in_a_job_does_not_crash(qtbot, window):
    def broken(emit, cancel):
        raise ValueError("boom")

    messages: list[str] = []
    window.jobs.start(InThread(broken), lambda e: messages.append(str(e.error)) if isinstance(e, Failed) else None,
                      title="broken work")
    wait_idle(qtbot, window, timeout=10_000)
    assert messages and "boom" in messages[0] and "broken work" in messages[0]


def test_about_lists_versions():
    from gui.jobs.loads import about_text

    text = about_text("9.9")
    assert "EdgeSlim 9.9" in text and "torch " in text and "PySide6 " in text and "onnxruntime " in text


# ---------------------------------------------------------------------------- the app itself


def test_app_shows_its_window_fast_and_screenshots_a_page(tmp_path):
    out = tmp_path / "shot.png"
    exe = Path(sys.executable).parent / "edgeslim"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "EDGESLIM_WORKSPACE": str(tmp_path / "ws"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.run(
        [str(exe), "--demo", "--timing", "--screenshot", str(out), "--page", "compress"],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    shown = float(re.search(r"window shown ([\d.]+) s", proc.stderr).group(1))
    assert shown < 3.0, f"the window took {shown:.2f} s to appear"
    image = QImage(str(out))
    assert image.width() == 1280 and image.height() == 800
    assert non_blank(image)


def test_torchvision_pickers_filter_and_build_specs(qtbot):
    from gui.panels.data_page import TorchvisionDataDialog
    from gui.panels.model_page import TorchvisionPicker

    picker = TorchvisionPicker(["mobilenet_v2", "mobilenet_v3_small", "resnet18"])
    qtbot.addWidget(picker)
    picker.search.setText("v3")
    assert picker.chosen() == "mobilenet_v3_small"
    picker.search.setText("nothing like this")
    assert picker.chosen() is None
    dialog = TorchvisionDataDialog()
    qtbot.addWidget(dialog)
    assert dialog.spec() is None
    dialog.kind.setCurrentIndex(dialog.kind.findData("mnist"))
    dialog.path.setText("/data/mnist")
    assert dialog.spec() == "mnist:/data/mnist"


def test_quit_during_a_run_asks_then_stops_the_run_cleanly(qtbot, make_window, tmp_path, monkeypatch, capfd):
    """Issue 17 #8: quitting while a run works asks first; "Yes" stores the run as cancelled, with no database error."""
    import gui.window_runs as window_runs
    from core.store.workspace import Workspace

    win = make_window(start=True)
    page = win.compress_page
    assert start_finetune(qtbot, win, epochs=50, batch_size=16) is not None
    qtbot.waitUntil(lambda: "finetune" in page.stage_label.text(), timeout=240_000)
    answers, asked = ["No", "Yes"], []

    def question(parent, title, text, *args):
        asked.append(text)
        return getattr(window_runs.QMessageBox.StandardButton, answers.pop(0))

    monkeypatch.setattr(window_runs.QMessageBox, "question", question)
    win.setProperty("headless_errors", False)
    win.close()  # "No": the window and the run go on
    assert len(asked) == 1 and "still running" in asked[0] and win.isVisible() and page.run_job is not None
    win.close()  # "Yes"
    assert len(asked) == 2 and not win.isVisible() and win.workspace is None
    with Workspace(tmp_path / "workspace") as ws:
        assert [r.status for r in ws.list_runs()] == ["cancelled"]
    assert "ProgrammingError" not in capfd.readouterr().err


def test_the_torchvision_dialog_opens_a_model_with_weights_and_a_class_count(qtbot, window, tmp_path, monkeypatch):
    """Issue 17 #10: the weights file and class count the loader's messages ask for exist in the window."""
    from PySide6.QtWidgets import QDialog

    from core.controls import for_app, ask
    from gui.dialogs import torchvision_dialog

    cached = tmp_path / "resnet18-f37072fd.pth"
    cached.write_bytes(b"")
    monkeypatch.setattr(torchvision_dialog, "cached_weights", lambda name: cached if name == "resnet18" else None)
    picker = torchvision_dialog.TorchvisionPicker(["mobilenet_v2", "resnet18"])
    qtbot.addWidget(picker)
    picker.search.setText("resnet")
    picker.cached_button.click()
    assert picker.weights_edit.text() == str(cached) and "found" in picker.cache_label.text()
    picker.classes.setValue(10)
    assert picker.options() == {"weights": str(cached), "num_classes": 10}

    asked = []
    monkeypatch.setattr(window, "load_model", lambda spec, **options: asked.append((spec, options)))
    monkeypatch.setattr(torchvision_dialog.TorchvisionPicker, "exec", lambda self: (
        self.search.setText("resnet18"), self.cached_button.click(), self.classes.setValue(10))
        and QDialog.DialogCode.Accepted or QDialog.DialogCode.Accepted)
    window.model_page.pick_torchvision()
    assert asked == [("torchvision:resnet18", {"weights": str(cached), "num_classes": 10})]
    # the messages name these controls as the dialog labels them
    assert "Weights file" in for_app(ask("weights")) and "Classes" in for_app(ask("num_classes"))
    assert "Image size" in for_app(ask("image_size")) and window.data_page.image_size.isVisibleTo(window.data_page)


def test_the_model_page_s_input_shape_goes_with_the_next_model_opened(qtbot, window, monkeypatch):
    """Issue 17 #10: "--input-shape" has a control in the window, the one the app's messages name."""
    import gui.main_window as main_window
    from core.controls import ask, for_app
    from core.app.sources import ModelSource

    seen: list[dict] = []
    monkeypatch.setattr(main_window, "ModelSource", lambda spec, **kw: (seen.append(kw), ModelSource(spec, **kw))[1])
    page = window.model_page
    assert page.input_shape_choice() is None
    qtbot.keyClicks(page.input_shape, "3,32,32")
    assert page.input_shape_choice() == (3, 32, 32)
    page.input_shape.setText("")
    qtbot.keyClicks(page.input_shape, "3,x")  # the validator refuses what is not C,H,W
    assert page.input_shape_choice() is None
    page.input_shape.setText("3, 32, 32")
    window.load_model("demo")
    wait_idle(qtbot, window)
    assert seen and seen[-1]["input_shape"] == (3, 32, 32)
    assert "Input shape" in for_app(ask("input_shape")) and "Model page" in for_app(ask("input_shape"))
