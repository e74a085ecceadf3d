"""The Export page: fit check by itself, export of the demo with parity, a target that does not fit, cancel."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tests.core.export.test_preview import SMALL_BOARD
from tests.gui.conftest import Heartbeat

CHECK_TIMEOUT_MS = 180_000
EXPORT_TIMEOUT_MS = 180_000


def open_page(qtbot, win):
    """The Export page, shown, with fast export settings, once its first fit check has finished."""
    win.show_page("export")
    page = win.export_page
    page.parity_spin.setValue(64)
    page.latency_repeats = 3
    wait_check(qtbot, page)
    return page


def wait_check(qtbot, page) -> None:
    qtbot.waitUntil(lambda: not page.check_pending(), timeout=CHECK_TIMEOUT_MS)


def choose(combo, data) -> None:
    index = combo.findData(data)
    assert index >= 0, [combo.itemData(i) for i in range(combo.count())]
    combo.setCurrentIndex(index)


def export_and_wait(qtbot, page):
    job = page.export()
    assert job is not None, page.reason_label.text()
    qtbot.waitUntil(lambda: page.export_job is None, timeout=EXPORT_TIMEOUT_MS)
    return job


def test_export_the_demo_writes_a_bundle_whose_parity_passes(qtbot, demo_window, tmp_path, record_property):
    win = demo_window
    page = open_page(qtbot, win)
    # the fit check of the current model on the default target ran by itself
    assert page.source_combo.currentText() == "Current model — DemoResNet"
    assert page.target().name == "rpi5" and page.format_combo.currentText() == "Target default (onnx)"
    fit = page.fit_view.values
    assert fit["verdict"] == "fits", fit
    assert fit["Storage"].endswith("%") and "of 8.00 GiB" in fit["Storage"] and "of 2.00 GiB" in fit["RAM"]
    assert fit["Precision"].startswith("fp32 file, as the model is")
    assert fit["Latency"].startswith("≥ ") and "lower bound" in fit["Latency"]
    assert "MACs per image" in fit["Work"] and "op types" in fit["Ops"]
    assert fit["problems"] == "" and not page.anyway.isVisible()
    assert "none yet" in page.heading.text()

    out = tmp_path / "bundles" / "demo-rpi5"
    page.set_output(out)
    assert page.export_button.isEnabled(), page.reason_label.text()
    beat = Heartbeat().start()
    t0 = time.perf_counter()
    export_and_wait(qtbot, page)
    seconds = time.perf_counter() - t0
    beat.stop()
    record_property("export_seconds", round(seconds, 2))
    print(f"\nexport of the demo for rpi5: {seconds:.1f} s; GUI worst gap {beat.worst_gap_ms:.0f} ms")
    assert win.errors == [], win.errors
    assert beat.worst_gap_ms < 250, f"the event loop was blocked for {beat.worst_gap_ms:.0f} ms"

    card = json.loads((out / "model.json").read_text())
    (parity,) = card["parity"]
    assert parity["passed"] and parity["agreement"] == 1.0 and parity["samples"] == 64 and parity["max_abs_diff"] < 1e-3
    print(f"parity: {parity['summary']}")
    assert (out / "infer.py").is_file() and (out / "model.onnx").is_file() and (out / "report.html").is_file()
    assert card["target"]["name"] == "rpi5" and card["fit"]["fits"]
    # the page shows the parity results in words and offers the folder and the report
    view = page.bundle_view
    assert view.values["title"] == "Bundle written, parity passed"
    assert view.values["parity model.onnx"].startswith("Computes what the model computes: the same class on 100.00 % of 64")
    assert "Measured on this computer" in view.values["measured"]
    assert view.folder == out and view.report == out / "report.html" and view.report.is_file()
    assert view.open_folder_button.isEnabled() and view.open_report_button.isEnabled()
    assert page.result["reused_check"]  # the file the check judged is the file shipped
    assert page.stage_label.text().startswith("Bundle written in")
    # the folder now holds a bundle: a second export needs "Replace"
    assert not page.export_button.isEnabled() and page.replace_box.isVisible()
    page.replace_box.setChecked(True)
    assert page.export_button.isEnabled()


def test_export_a_stored_run(qtbot, demo_window, tmp_path):
    from core.models import load_model
    from core.models.onnx_export import export_onnx
    from core.paths import RESOURCES_DIR

    win = demo_window
    onnx_path = export_onnx(load_model("demo").module, (3, 32, 32), tmp_path / "run-model.onnx")
    ws = win.workspace
    metrics = {"accuracy": 0.9889, "size_bytes": onnx_path.stat().st_size, "macs": 26_657_408, "params": 175_258}
    run_id = ws.create_run(name="fp32 copy", recipe_name="int8-static", techniques=["quantize.static"],
                           recipe_toml=(RESOURCES_DIR / "recipes" / "int8-static.toml").read_text(), model_spec="demo",
                           data_spec="demo", load_options={}, options={}, trial_key="k-export")
    ws.start_run(run_id)
    ws.finish_run(run_id, "done", {"baseline": metrics, "final": metrics, "seconds": 1.0, "artifacts": {"onnx": str(onnx_path)},
                                   "steps": [{"index": 1, "technique": "quantize.static", "metrics": metrics}]})
    page = win.export_page
    page.set_workspace(ws)
    page.show_run(ws.get_run(run_id))  # what the window does when a run finishes, and the Explore page's "Export…"
    page = open_page(qtbot, win)
    assert page.source_combo.currentText().startswith(f"Run #{run_id} · fp32 copy · 98.89 %")
    assert f"Run #{run_id} “fp32 copy”" in page.heading.text() and page.artifact == str(onnx_path)
    page.set_target("x86-64")
    page.set_target("no-such-board")  # ignored
    assert page.target().name == "x86-64"
    wait_check(qtbot, page)
    assert page.fit_view.values["verdict"] == "fits"
    assert page.out_path().name == f"fp32-copy-run{run_id}-x86-64"
    page.set_output(tmp_path / "run-bundle")
    export_and_wait(qtbot, page)
    assert win.errors == []
    card = json.loads((tmp_path / "run-bundle" / "model.json").read_text())
    assert card["source"]["run_id"] == run_id and card["recipe"]["name"] == "int8-static"
    assert card["parity"][0]["passed"] and card["parity"][0]["max_abs_diff"] == 0.0
    assert (tmp_path / "run-bundle" / "infer.py").is_file()


def test_a_target_where_the_model_does_not_fit_shows_the_reasons(qtbot, demo_window, tmp_path, monkeypatch):
    monkeypatch.delenv("EDGESLIM_TARGETS", raising=False)
    folder = tmp_path / "config" / "EdgeSlim" / "targets"  # the user's profiles (XDG_CONFIG_HOME is tmp_path/config)
    folder.mkdir(parents=True)
    (folder / "small-board.toml").write_text(SMALL_BOARD)
    win = demo_window
    page = open_page(qtbot, win)  # the page reads the new profile when it is shown
    choose(page.target_combo, "small-board")
    assert "(your profile)" in page.target_combo.currentText() and "Cortex-M4" in page.target_info.text()
    wait_check(qtbot, page)
    fit = page.fit_view
    assert fit.values["verdict"] == "does not fit"
    assert "Does not fit Small board" in fit.verdict.text()
    problems = fit.values["problems"]
    assert "flash: needs " in problems and "target has 256.00 KiB" in problems and "prune more channels" in problems
    assert "RAM: needs " in problems and "target has 64.00 KiB — try a smaller input size" in problems
    assert fit.problems.isVisible() and "What does not fit, and what to do" in fit.problems.text()
    assert "%" in fit.values["Flash"] and fit.storage.level == "over" and fit.ram.level == "over"
    # Export is refused, with the reason, unless "Export anyway"
    page.set_output(tmp_path / "forced")
    assert not page.export_button.isEnabled()
    assert "does not fit Small board" in page.reason_label.text() and "Export anyway" in page.reason_label.text()
    assert page.anyway.isVisible() and page.export() is None
    assert not (tmp_path / "forced").exists()
    page.anyway.setChecked(True)
    assert page.export_button.isEnabled()
    export_and_wait(qtbot, page)
    assert win.errors == []
    card = json.loads((tmp_path / "forced" / "model.json").read_text())
    assert not card["fit"]["fits"] and card["parity"][0]["passed"]
    assert "Written although it does not fit (flash, RAM)" in page.bundle_view.status.text()


def test_a_format_that_cannot_be_made_is_explained(qtbot, demo_window, tmp_path):
    """An ONNX model cannot become a PyTorch program: the check says so in words, and Export waits."""
    from core.models import load_model
    from core.models.onnx_export import export_onnx
    from tests.gui.conftest import wait_idle

    win = demo_window
    path = export_onnx(load_model("demo").module, (3, 32, 32), tmp_path / "demo.onnx")
    win.load_model(str(path))
    wait_idle(qtbot, win)
    page = open_page(qtbot, win)
    choose(page.format_combo, "pt2")
    wait_check(qtbot, page)
    assert page.fit_view.state == "failed"
    assert "needs a PyTorch model" in page.fit_view.detail.text() and "--format" not in page.fit_view.detail.text()
    assert not page.export_button.isEnabled() and "cannot be exported this way" in page.reason_label.text()


def test_cancel_stops_an_export_and_writes_nothing(qtbot, demo_window, tmp_path):
    win = demo_window
    page = open_page(qtbot, win)
    page.latency_repeats = 10_000_000  # the latency measurement would run for hours
    out = tmp_path / "cancelled"
    page.set_output(out)
    job = page.export()
    assert job is not None
    qtbot.waitUntil(lambda: page.stage_label.text().startswith("Timing"), timeout=EXPORT_TIMEOUT_MS)
    assert win.cancel_button.isVisible() and not win.progress.isVisible()  # Cancel in the status bar too; one bar
    t0 = time.perf_counter()
    page.cancel_button.click()
    assert not page.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: page.export_job is None, timeout=30_000)
    stopped = time.perf_counter() - t0
    print(f"\ncancel: the export stopped {stopped:.2f} s after Cancel")
    assert stopped < 3.0 and win.worker.alive()  # stopped cooperatively, the worker kept
    assert page.bundle_view.values["title"] == "cancelled" and page.stage_label.text() == "Cancelled"
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert win.errors == []
    assert page.export_button.isEnabled()


def test_the_page_does_not_import_the_engine():
    """The page itself stays light: it may be imported before torch (the window shows before the engine loads)."""
    import subprocess

    code = ("import sys; import gui.panels.export_page, gui.pages.export_model, core.app.export, gui.widgets.fit_view, "
            "gui.widgets.bundle_view, gui.jobs.controller; "
            "bad = [m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_wording_names_the_pages_controls(tmp_path):
    from core.controls import ask, for_app
    from core.app.export import folder_problem, slug
    from gui.widgets.export_text import share_level

    assert for_app(f"follow the suggestions, or {ask('ignore_fit')} to write the bundle anyway") == \
        "follow the suggestions, or tick “Export anyway” to write the bundle anyway"
    assert "choose the format" in for_app(f"runs int8 only — {ask('format')} onnx-int8")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "model.json").write_text("{}")
    assert "tick “Replace the bundle in this folder”" in for_app(folder_problem(tmp_path / "old", replace=False))
    assert folder_problem(tmp_path / "old", replace=True) == "" and folder_problem(tmp_path / "new", replace=False) == ""
    assert slug("int8 static #3") == "int8-static-3"
    assert (share_level(0.5), share_level(0.9), share_level(1.5)) == ("ok", "tight", "over")


def test_default_folder_is_numbered_when_taken(tmp_path):
    from core.app.export import default_folder

    assert default_folder(tmp_path, "DemoResNet", "rpi5") == tmp_path / "DemoResNet-rpi5"
    (tmp_path / "DemoResNet-rpi5").mkdir()
    assert default_folder(tmp_path, "DemoResNet", "rpi5") == tmp_path / "DemoResNet-rpi5"  # empty: usable
    (tmp_path / "DemoResNet-rpi5" / "model.json").write_text("{}")
    assert default_folder(tmp_path, "DemoResNet", "rpi5") == tmp_path / "DemoResNet-rpi5-2"


def test_the_last_bundle_card_goes_when_the_choice_changes(qtbot, demo_window):
    """Issue 17 #6: the previous target's "parity passed" must not stay above a new target's check."""
    page = open_page(qtbot, demo_window)
    page.bundle_view.clear("Bundle written, parity passed (Raspberry Pi 5)")  # as an export leaves it
    page.bundle_view.setVisible(True)
    choose(page.target_combo, "stm32h7")
    assert not page.bundle_view.isVisibleTo(page)
    wait_check(qtbot, page)
