"""The sensitivity view runs core's per-layer analysis in the worker, draws it, and writes its suggestion into the recipe."""

from __future__ import annotations

import pytest

from gui.panels.sensitivity_view import CHART_ROWS, SensitivityView

ANALYSIS_TIMEOUT_MS = 180_000


@pytest.fixture
def view(qtbot, demo_window):
    """The window's own Sensitivity tab (its Apply goes to the Compress page through the window)."""
    win = demo_window
    win.show_page("explore")
    win.explore_page.tabs.setCurrentWidget(win.sensitivity_view)
    assert isinstance(win.sensitivity_view, SensitivityView)
    return win.sensitivity_view


def run_analysis(qtbot, view) -> dict:
    assert view.run_button.isEnabled(), view.reason.text()
    shown = []
    view.report_shown.connect(shown.append)
    job = view.run()
    assert job is not None
    with qtbot.waitSignal(job.done, timeout=ANALYSIS_TIMEOUT_MS):
        pass
    assert shown, f"no report: {view.status.text()}"
    return shown[0]


def test_pruning_sensitivity_fills_the_chart_and_table_and_apply_changes_the_recipe(qtbot, demo_window, view):
    page = demo_window.compress_page
    assert [s.technique for s in page.draft.steps] == ["quantize.static"]  # the first-start preset: int8 only
    view.eval_batches.setValue(1)  # 128 validation images per variant: quick and coarse
    view.threshold.setValue(0.0)  # every layer that loses anything is suggested, so the suggestion is not empty
    report = run_analysis(qtbot, view)

    assert report["technique"] == "prune.structured" and report["settings"]["eval_images"] == 128
    scored = [r for r in report["rows"] if r["drop_pt"] is not None]
    assert scored and view.table.row_count() == len(report["rows"])
    bars = view.chart.bars
    assert 0 < len(bars) <= CHART_ROWS
    assert [b.value for b in bars] == sorted((b.value for b in bars), reverse=True)  # worst first
    assert bars[0].label.split(" (+")[0] == scored[0]["layer"]
    ticks = view.chart.getPlotItem().getAxis("left")._tickLevels[0]  # the layer names are the y axis' labels
    assert {label for _, label in ticks} == {b.label for b in bars}
    kept = report["suggestion"]["ignore_layers"]
    assert kept and any(b.marked for b in bars)
    assert all(f"<code>{n}</code>" in view.suggestion.text() for n in kept[:8])
    assert view.notes.text() and view.apply_button.isEnabled()

    view.apply_button.click()
    assert demo_window.current_page() == "compress"  # the window shows the recipe the suggestion changed
    steps = page.draft.steps
    assert [s.technique for s in steps] == ["prune.structured", "quantize.static"]  # pruning goes before int8
    prune = steps[0].values
    assert prune["ignore_layers"] == tuple(kept) and prune["ratio"] == report["suggestion"]["ratio"]
    assert page.problems() == []
    assert "Sensitivity suggestion: added a prune.structured step" in page.log.toPlainText()
    assert demo_window.errors == []


def test_apply_writes_into_the_existing_step_and_shows_it(qtbot, demo_window):
    page = demo_window.compress_page
    page.load_preset("Prune 50% + int8")
    page.steps.setCurrentRow(0)
    prune = page.draft.steps[0]
    assert prune.values["ignore_layers"] == ()
    page.apply_suggestion("prune.structured", {"ratio": 0.35, "importance": "l1", "ignore_layers": ["conv1"]})
    assert [s.technique for s in page.draft.steps] == ["prune.structured", "finetune", "quantize.static"]  # no new step
    assert prune.values["ratio"] == 0.35 and prune.values["ignore_layers"] == ("conv1",)
    assert page.form.fields["ratio"].editor.value() == pytest.approx(0.35)  # the form shows the new values
    assert page.form.fields["ignore_layers"].editor.text() == "conv1"
    log = page.log.toPlainText()
    assert "ratio: 0.5 → 0.35" in log and "ignore_layers: (none) → conv1" in log and "importance" not in log

    quant = page.draft.steps[-1]
    page.draft.set_enabled(quant.uid, False)
    page.apply_suggestion("quantize.static", {"calibration_samples": 128, "exclude_nodes": ["fc"]})
    assert quant.enabled and quant.values["exclude_nodes"] == ("fc",)  # the disabled step is used and switched on
    assert len(page.draft.steps) == 3
    assert "switched on" in page.log.toPlainText()
    text = page.current_recipe_toml()
    assert 'exclude_nodes = [\n    "fc",\n]' in text or 'exclude_nodes = ["fc"]' in text


def test_quantization_error_analysis_reads_in_db(qtbot, demo_window, view):
    view.analysis.setCurrentIndex(view.analysis.findData("quantize.static"))
    assert not view.ratio.isVisibleTo(view) and view.method.isVisibleTo(view)
    view.method.setCurrentIndex(view.method.findData("error"))
    view.eval_batches.setValue(1)
    view.calibration.setValue(32)
    report = run_analysis(qtbot, view)
    assert report["method"] == "error" and report["key"] == "lost_db"
    assert view.chart.bars and "dB" in view.chart.getPlotItem().getAxis("bottom").labelText
    assert view.table.headers[-2] == "Lost dB" and view.table.row_count() == len(report["rows"])


def test_a_suggestion_is_not_applied_after_a_distillation_step(qtbot, demo_window):
    """Issue 17 #5: the teacher's layer names appended after distillation made a recipe that could not run."""
    win = demo_window
    page = win.compress_page
    page.load_preset("Distil to MobileNetV3-Small")
    before = page.current_recipe_toml()
    win.show_page("explore")
    win.apply_suggestion("prune.structured", {"ratio": 0.3, "importance": "l1", "ignore_layers": ["layer1.0.conv1"]})
    assert [s.technique for s in page.draft.steps] == ["distill.kd"] and page.current_recipe_toml() == before
    assert win.errors and "replaces that model with a student" in win.errors[-1]
    assert win.current_page() == "explore"  # nothing was applied, so the window does not claim it was
