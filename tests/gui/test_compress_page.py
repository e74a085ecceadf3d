"""The Compress page: recipe from the form, presets, files, validation as you type, estimate, run, cancel."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt

from core.pipeline.recipe import load_recipe
from tests.gui.conftest import Heartbeat, start_finetune, wait_idle

RUN_TIMEOUT_MS = 240_000


def add_from_menu(page, technique: str) -> None:
    """Add a step the way a user does: the Add step menu's action for ``technique``."""
    actions = [a for a in page.add_menu.actions() if a.text().endswith(f"({technique})")]
    assert len(actions) == 1, [a.text() for a in page.add_menu.actions()]
    actions[0].trigger()


def select(page, index: int):
    page.steps.setCurrentRow(index)
    return page.draft.steps[index]


def test_add_menu_is_grouped_by_family(demo_window):
    page = demo_window.compress_page
    sections = [a.text() for a in page.add_menu.actions() if a.isSeparator() and a.text()]
    assert sections == ["Pruning", "Quantization", "Distillation", "Low-rank", "Fine-tune"]
    names = {a.text().rsplit("(", 1)[-1].rstrip(")") for a in page.add_menu.actions() if not a.isSeparator()}
    assert {"prune.structured", "quantize.static", "finetune", "distill.kd"} <= names


def test_build_a_recipe_from_the_form_save_and_reload(qtbot, demo_window, tmp_path):
    page = demo_window.compress_page
    page.draft.clear()
    add_from_menu(page, "prune.structured")
    add_from_menu(page, "finetune")
    add_from_menu(page, "quantize.static")
    assert page.steps.count() == 3
    # the form is generated from the selected step's parameters
    select(page, 0)
    form = page.form
    ratio = form.fields["ratio"]
    assert ratio.slider is not None and "fraction" in ratio.editor.toolTip().lower() or ratio.editor.toolTip()
    ratio.editor.setValue(0.3)
    form.fields["importance"].editor.setCurrentIndex(form.fields["importance"].editor.findData("l2"))
    form.fields["ignore_layers"].editor.setText("fc")
    form.fields["ignore_layers"].editor.textEdited.emit("fc")
    select(page, 1)
    page.form.fields["epochs"].editor.setValue(1)
    page.form.fields["augment"].editor.setChecked(False)
    # slider and spin box move together
    select(page, 0)
    ratio = page.form.fields["ratio"]
    ratio.slider.setValue(ratio.slider.maximum())
    assert abs(ratio.editor.value() - 0.95) < 1e-9
    ratio.editor.setValue(0.3)
    # disable, reorder (a drag reports the new order), rename
    page.steps.item(1).setCheckState(Qt.CheckState.Unchecked)
    assert page.draft.steps[1].enabled is False
    uids = page.steps.uids()
    page.steps.reordered.emit([uids[1], uids[0], uids[2]])
    assert [s.technique for s in page.draft.steps] == ["finetune", "prune.structured", "quantize.static"]
    page.steps.reordered.emit(uids)
    page.name_edit.setText("my-recipe")
    page.name_edit.textEdited.emit("my-recipe")
    assert page.problems() == []

    path = page.save_recipe(tmp_path / "mine.toml")
    assert path is not None and path.is_file()
    recipe = load_recipe(path)  # the CLI's own loader reads what the app wrote
    assert recipe.name == "my-recipe"
    assert [s.technique for s in recipe.steps] == ["prune.structured", "finetune", "quantize.static"]
    assert [s.enabled for s in recipe.steps] == [True, False, True]
    prune, finetune = recipe.steps[0].config, recipe.steps[1].config
    assert (prune.ratio, prune.importance, prune.ignore_layers) == (0.3, "l2", ("fc",))
    assert (finetune.epochs, finetune.augment) == (1, False)

    page.load_preset("Fast int8")
    assert page.steps.count() == 1
    assert page.open_recipe(path)
    assert page.name_edit.text() == "my-recipe"
    assert [s.technique for s in page.draft.steps] == ["prune.structured", "finetune", "quantize.static"]
    assert page.steps.item(1).checkState() == Qt.CheckState.Unchecked
    select(page, 0)
    assert page.form.fields["ratio"].editor.value() == 0.3
    assert page.form.fields["ignore_layers"].editor.text() == "fc"
    assert demo_window.errors == []


def test_presets_load_and_validate(demo_window):
    from core.app.presets import PRESETS

    page = demo_window.compress_page
    for preset in PRESETS:
        page.load_preset(preset.name)
        assert page.steps.count() == len(preset.recipe().steps)
        assert page.problems() == [], preset.name
    assert [s.technique for s in page.draft.steps] == ["prune.structured", "finetune", "quantize.static"]


def test_an_invalid_parameter_is_marked_and_explained_as_you_type(qtbot, demo_window):
    demo_window.show_page("compress")
    page = demo_window.compress_page
    page.load_preset("Prune 50% + int8")
    select(page, 0)
    field = page.form.fields["ratio"]
    field.editor.setFocus()
    field.editor.selectAll()
    qtbot.keyClicks(field.editor, "1.5")
    assert field.error.isVisible()
    assert "out of range from 0 to 0.95" in field.error.text()
    assert field.editor.property("invalid") is True
    assert not page.run_button.isEnabled()
    assert "Channel ratio" in page.reason_label.text() and "0.95" in page.reason_label.text()
    assert page.problems_label.isVisible()
    assert page.save_recipe() is None and "not allowed" in demo_window.errors[-1]  # refused, with the reason
    # a field that is not a number at all
    field.editor.selectAll()
    qtbot.keyClicks(field.editor, "-")
    assert "expected a number" in field.error.text()
    # fixing it clears the mark
    field.editor.selectAll()
    qtbot.keyClicks(field.editor, "0.4")
    assert not field.error.isVisible() and field.editor.property("invalid") is False
    assert page.run_button.isEnabled(), page.run_blocker()


def test_a_pytorch_step_after_quantization_is_refused_inline(demo_window):
    demo_window.show_page("compress")
    page = demo_window.compress_page
    page.load_preset("Fast int8")
    add_from_menu(page, "finetune")
    assert page.problems_label.isVisible()
    text = page.problems_label.text()
    assert "finetune cannot follow quantize.static" in text and "last" in text
    assert not page.run_button.isEnabled()
    finetune_item = page.steps.item(1)
    assert "cannot follow" in finetune_item.toolTip() and not finetune_item.icon().isNull()
    page.steps.setCurrentRow(1)
    page.up_button.click()  # finetune first, quantization last: fine
    assert [s.technique for s in page.draft.steps] == ["finetune", "quantize.static"]
    assert not page.problems_label.isVisible() and page.run_button.isEnabled()


def test_estimate_shows_params_and_macs_after_structured_pruning(qtbot, demo_window):
    page = demo_window.compress_page
    page.load_preset("Prune 50% + int8")
    wait_idle(qtbot, demo_window)
    text = page.estimate_label.text()
    assert "Estimate before running" in text and "fewer MACs" in text and "prune.structured" in text, text


def run_and_wait(qtbot, win, timeout=RUN_TIMEOUT_MS):
    page = win.compress_page
    job = page.run()
    assert job is not None, page.run_blocker()
    qtbot.waitUntil(lambda: page.run_job is None, timeout=timeout)
    return job


def test_run_quantize_static_to_completion_shows_the_result_card(qtbot, demo_window, record_property):
    win = demo_window
    win.show_page("compress")
    page = win.compress_page
    page.load_preset("Fast int8")
    page.repeats.setValue(5)
    page.device.setCurrentIndex(page.device.findData("cpu"))  # the run settings' "Train on"
    wait_idle(qtbot, win)
    beat = Heartbeat(20).start()
    stages_seen: set[str] = set()
    job = page.run()
    assert job is not None
    assert not page.run_button.isEnabled() and page.cancel_button.isEnabled()

    def finished() -> bool:
        stages_seen.add(page.stage_label.text().split(" — ")[0])
        return page.run_job is None

    qtbot.waitUntil(finished, timeout=RUN_TIMEOUT_MS)
    beat.stop()
    record_property("worst_gap_ms", round(beat.worst_gap_ms, 1))
    print(f"\nheartbeat: worst gap {beat.worst_gap_ms:.0f} ms over {len(beat.gaps)} ticks during the run")
    assert win.errors == []
    assert beat.worst_gap_ms < 200, f"the event loop was blocked for {beat.worst_gap_ms:.0f} ms"
    # progress per stage with its label
    assert any("quantize.static" in s for s in stages_seen), stages_seen
    # the result landed in the workspace and shows as a before/after card
    runs = win.workspace.list_runs()
    assert len(runs) == 1 and runs[0].status == "done" and runs[0].techniques == ["quantize.static"]
    assert runs[0].options["device"] == "cpu" and runs[0].device == "cpu"  # asked for, and what it ran on
    card = page.card
    assert card.row.id == runs[0].id
    assert "finished" in card.title.text()
    assert set(card.values) >= {"Top-1 accuracy", "Parameters", "MACs", "ONNX file", "Zipped", "ORT latency"}
    before, after, change = card.values["ONNX file"]
    assert "smaller" in change and float(change.split("×")[0]) > 2.5
    assert card.values["ORT latency"][1].endswith("ms")
    assert "quantize.static" in card.steps.text() and not card.artifact.isHidden()
    # the card is in view, whole at both sizes, and needs no scrolling at 1280x800 (issue 17, item 11)
    from tests.gui.layout_check import cut_widgets, show_at

    assert page.run_area.tabs.currentWidget() is page.run_area.result_tab
    for w, h in ((1024, 640), (1280, 800)):
        show_at(win, w, h)
        qtbot.wait(50)
        problems = cut_widgets(page)
        assert not problems, f"{w}x{h}:\n" + "\n".join(problems)
    assert not page.run_area.result_tab.verticalScrollBar().isVisible()
    log = page.log.toPlainText()
    assert "step 1 quantize.static finished" in log and f"Run #{runs[0].id} done" in log
    assert page.overall.value() == 1000
    # the other pages follow
    assert win.explore_page.table.row_count() == 1
    assert win.export_page.artifact and win.export_page.artifact.endswith("model.onnx")
    # running it again finds the identical stored run instead of running
    run_and_wait(qtbot, win)
    assert len(win.workspace.list_runs()) == 1
    assert "already stored" in card.status.text()


def test_cancel_stops_a_long_run_within_seconds_and_stores_it_cancelled(qtbot, demo_window):
    win = demo_window
    page = win.compress_page
    job = start_finetune(qtbot, win, epochs=50, batch_size=16)
    assert job is not None
    qtbot.waitUntil(lambda: "finetune" in page.stage_label.text() and page.stage_bar.value() > 0, timeout=RUN_TIMEOUT_MS)
    assert "left" in page.time_label.text() or "Elapsed" in page.time_label.text()
    t0 = time.perf_counter()
    page.cancel_button.click()
    assert not page.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: page.run_job is None, timeout=30_000)
    stopped_after = time.perf_counter() - t0
    print(f"\ncancel: the run stopped {stopped_after:.2f} s after Cancel")
    assert stopped_after < 5.0
    runs = win.workspace.list_runs()
    assert len(runs) == 1 and runs[0].status == "cancelled"
    assert "cancelled" in page.card.title.text()
    assert page.overall.value() < 1000  # issue 17 #2: Cancel is not the recipe finishing
    assert "Top-1 accuracy" not in page.card.values  # nor are the baseline's numbers its result
    assert "Cancelled" in page.log.toPlainText() or "cancelled" in page.log.toPlainText()
    assert win.errors == []
    assert page.run_button.isEnabled()


def test_result_card_says_changes_in_words():
    from gui.widgets.result_card import change_text, rows_for

    assert change_text(2.5, "fewer") == "2.50× fewer"
    assert change_text(1.001, "smaller") == "same"
    assert change_text(0.8, "faster") == "1.25× slower"
    assert change_text(None, "fewer") == "—"
    rows = {r[0]: r for r in rows_for({"accuracy": 0.9, "params": 100, "macs": 10},
                                      {"accuracy": 0.88, "params": 50, "macs": 10, "ratios": {"macs": 1.0}})}
    assert rows["Top-1 accuracy"][3] == "-2.00 pt" and rows["Top-1 accuracy"][4] is False
    assert rows["Parameters"][3] == "2.00× fewer" and rows["MACs"][3] == "same"
    # bias correction adds 630 bias terms to 175,260: under half a percent, still not "same" beside two different counts
    rows = {r[0]: r for r in rows_for({"params": 175_260}, {"params": 175_890})}
    assert rows["Parameters"][1:4] == ("175.26 k", "175.89 k", "630 more")
    # the input model's own agreement is written like the result's, not "100 %" beside "99.00 %"
    rows = {r[0]: r for r in rows_for({}, {"agreement": 0.99})}
    assert rows["Agreement"][1:3] == ("100.00 %", "99.00 %")


def test_a_preset_asks_before_replacing_edits_and_undo_redo_walk_the_edits(qtbot, demo_window, monkeypatch):
    """Issue 17 #12: picking a preset over edits asks first; Ctrl+Z / Ctrl+Shift+Z undo and redo in the recipe editor."""
    import gui.panels.compress_page as compress_page

    win = demo_window
    win.show_page("compress")
    page = win.compress_page
    page.load_preset("Prune 50% + int8")
    assert not page.draft.modified
    select(page, 0)
    page.form.fields["ratio"].editor.setValue(0.3)  # an edit
    assert page.draft.modified and page.draft.steps[0].values["ratio"] == 0.3
    answers = ["No", "Yes"]
    asked: list[str] = []

    def question(parent, title, text, *args):
        asked.append(text)
        return getattr(compress_page.QMessageBox.StandardButton, answers.pop(0))

    monkeypatch.setattr(compress_page.QMessageBox, "question", question)
    win.setProperty("headless_errors", False)
    page.load_preset("Fast int8")  # "No": the edits stay
    assert len(asked) == 1 and "Fast int8" in asked[0]
    assert [s.technique for s in page.draft.steps][0] == "prune.structured" and page.draft.steps[0].values["ratio"] == 0.3
    page.load_preset("Fast int8")  # "Yes"
    assert [s.technique for s in page.draft.steps] == ["quantize.static"] and page.name_edit.text() == "fast-int8"
    win.setProperty("headless_errors", True)

    page.steps.setFocus()
    qtbot.keyClick(page.steps, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the preset
    assert [s.technique for s in page.draft.steps] == ["prune.structured", "finetune", "quantize.static"]
    assert page.draft.steps[0].values["ratio"] == 0.3 and page.name_edit.text() == "prune50-int8"
    select(page, 0)
    assert page.form.fields["ratio"].editor.value() == 0.3  # the form shows the state undone to
    qtbot.keyClick(page.steps, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the edit
    assert page.draft.steps[0].values["ratio"] == 0.5 and page.form.fields["ratio"].editor.value() == 0.5
    redo = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(page.steps, Qt.Key.Key_Z, redo)
    assert page.draft.steps[0].values["ratio"] == 0.3
    qtbot.keyClick(page.steps, Qt.Key.Key_Z, redo)
    assert [s.technique for s in page.draft.steps] == ["quantize.static"]
    assert win.errors == []


def test_stale_help_and_baseline_do_not_stay(qtbot, demo_window):
    """Issue 17 #6: a field's help does not stay under another step's form; loading the demo again keeps its baseline."""
    win = demo_window
    page = win.compress_page
    page.load_preset("Prune 50% + int8")
    select(page, 0)
    page.form.show_help(page.form.fields["ratio"])
    assert "Channel ratio" in page.help_label.text()
    select(page, 1)
    assert "Channel ratio" not in page.help_label.text() and page.help_label.text().startswith("Point at a field")

    win.evaluate_baseline()
    wait_idle(qtbot, win)
    measured = win.model_page.summary.values["Baseline"].text()
    assert "top-1" in measured
    win.load_model("demo")
    wait_idle(qtbot, win)
    assert win.model_page.summary.values["Baseline"].text() == measured
    assert win.errors == []


# ---------------------------------------------------------------------------------------------- words (issue 17, item 7)

PRUNE_NOTE = "pruned networks lose accuracy: follow this step with finetune (a few epochs usually win most of it back)"


def _row(steps: list, seconds: float = 38.2):
    from types import SimpleNamespace

    return SimpleNamespace(id=7, status="done", name="deep compression", error=None, final={}, baseline={},
                           steps=steps, seconds=seconds, artifacts={})


def test_the_card_does_not_advise_finetune_when_a_finetune_step_follows(qtbot):
    from gui.widgets.result_card import ResultCard

    card = ResultCard()
    qtbot.addWidget(card)
    prune = {"index": 1, "technique": "prune.structured", "summary": "40 % channels", "notes": [PRUNE_NOTE]}
    card.show_row(_row([prune, {"index": 2, "technique": "finetune", "summary": "3 epochs"}]))
    assert "follow this step with finetune" not in card.steps.text()
    card.show_row(_row([prune, {"index": 2, "technique": "quantize.static", "summary": "int8"}]))
    assert "follow this step with finetune" in card.steps.text()


def test_the_run_log_drops_the_finetune_advice_when_finetune_is_next():
    from core.app.events import PartialResult
    from gui.pages.compress_model import RunState

    lines: list[str] = []
    state = RunState(log=lines.append)
    state.start(1, ("prune.structured", "finetune", "quantize.static"))
    state.handle(PartialResult("step", {"index": 1, "technique": "prune.structured", "notes": [PRUNE_NOTE], "metrics": {}}))
    assert lines and not any("follow this step" in line for line in lines)


def test_one_run_has_one_duration_on_the_card_the_clock_and_the_log(qtbot):
    from core.app.events import Done
    from gui.pages.compress_model import RunState
    from gui.widgets.result_card import ResultCard

    now = [100.0]
    lines: list[str] = []
    state = RunState(log=lines.append, clock_now=lambda: now[0])
    state.start(7)
    now[0] = 145.0  # the window waited for the worker too: 45 s on its clock, 38 s of run
    state.handle(Done({"run_id": 7, "status": "done"}))
    state.stored(38.2)
    card = ResultCard()
    qtbot.addWidget(card)
    card.show_row(_row([], seconds=38.2))
    assert state.time_text() == "Took 0:38"
    assert "in 0:38" in card.title.text()
    said = [line for line in lines if "s;" in line or "took" in line.lower()]
    assert said == ["The run took 0:38."], lines
    state.start(8)  # the same recipe again, reused: the stored run's time, not the second the lookup took
    now[0] = 147.0
    state.handle(Done({"run_id": 7, "status": "done", "reused": True}))
    state.stored(38.2, reused=True)
    assert state.time_text() == "Took 0:38"


def test_training_curves_draw_live_while_a_step_trains(qtbot, demo_window):
    """Issue 17 #13: loss and validation accuracy per epoch appear during the run, not after it."""
    win = demo_window
    page = win.compress_page
    assert start_finetune(qtbot, win, epochs=2, batch_size=64) is not None
    curve = page.run_area.curve
    qtbot.waitUntil(lambda: curve.has_data(), timeout=RUN_TIMEOUT_MS)
    assert page.run_job is not None or len(next(iter(curve.series.values()))["epoch"]) == 2  # seen while running
    assert page.run_area.tabs.currentWidget() is curve
    qtbot.waitUntil(lambda: page.run_job is None, timeout=RUN_TIMEOUT_MS)
    (step, technique), data = next(iter(curve.series.items()))
    assert technique == "finetune" and data["epoch"] == [1.0, 2.0]
    stored = win.workspace.list_runs()[-1].steps[0]["extra"]["history"]
    assert len(stored) == 2 and all(abs(a - 100 * h["val_accuracy"]) <= 0.011 for a, h in zip(data["accuracy"], stored))
    page.run()  # a new run starts with an empty plot (it is the identical run, reused)
    assert not curve.has_data()
    qtbot.waitUntil(lambda: page.run_job is None, timeout=RUN_TIMEOUT_MS)
