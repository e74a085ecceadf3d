"""Compress page: build a recipe from the technique registry, see its estimate, run it, read the result.

The page edits a :class:`core.app.recipe_draft.RecipeDraft` (every check is
core's); running starts a ``core.app.worker_tasks.Run`` request through the
window's job controller, so the run lands in the workspace like one from
``edgeslim-cli run --workspace``. The run's events go to a Qt-free
:class:`gui.pages.compress_model.RunState`; the widgets only draw it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional, Union

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core.app.events import Done, Failed
from core.app.session import Session
from core.errors import EdgeSlimError
from gui.jobs.controller import InThread, Job, JobController
from gui.pages.compress_model import RunInputs, RunState, clock, estimate_html, run_blocker
from gui.panels.compress_recipe_box import NAMES as RECIPE_NAMES, RecipeBox, StepSettingsBox
from gui.panels.compress_run_box import EditorRunSplit, RunArea, RunBox
from gui.style import ERROR_COLOUR, MUTED_COLOUR
from gui.widgets.files import ask_save_toml
from gui.widgets.result_card import ResultCard
from gui.widgets.scroll import hide_when_short

__all__ = ["CompressPage", "RunInputs", "clock"]

RECIPE_FILTER = "Recipes (*.toml);;All files (*)"
ESTIMATE_DELAY_MS = 700


class CompressPage(QWidget):
    """Recipe editor (steps, parameter form, presets, files), estimate, run with progress, result card."""

    run_finished = Signal(object)  # the stored RunRow
    changed = Signal()  # the recipe or its problems changed (the window updates its Run action)

    def __init__(
        self,
        session: Session,
        jobs: JobController,
        run_inputs: Callable[[], Union[RunInputs, str]],
        report_error: Callable[[str], None] = lambda message: None,
        parent: Optional[QWidget] = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.jobs, self.run_inputs, self.report_error = session, jobs, run_inputs, report_error
        self.draft = None  # core.app.recipe_draft.RecipeDraft, once the technique registry has loaded
        self.techniques: list = []
        self.recipe_path: Optional[Path] = None
        self.run_job: Optional[Job] = None
        self.estimate_job: Optional[Job] = None
        self.estimate = None  # core.app.estimate.RecipeEstimate of the recipe as it was last estimated
        self.state = RunState(log=self.log_line)
        self._run_ws = None  # the workspace of the latest run
        self.last_run = None  # the latest RunRow shown
        self._shown_uid: Optional[int] = None

        title = QLabel("Compress")
        title.setObjectName("pageTitle")
        subtitle = QLabel("Build a recipe of compression steps, check what it will do, then run it on the current model and data.")
        subtitle.setObjectName("muted")
        subtitle.setWordWrap(True)

        # -------------------------------------------------------------- loading placeholder
        self.loading = QWidget()
        busy = QProgressBar()
        busy.setRange(0, 0)
        busy.setMaximumWidth(320)
        self.loading_label = QLabel("Loading the compression techniques (PyTorch is starting)…")
        lay = QVBoxLayout(self.loading)
        lay.addStretch(1)
        lay.addWidget(self.loading_label, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addWidget(busy, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(2)

        # -------------------------------------------------------------- recipe box
        recipe_box = self.recipe_box = RecipeBox()
        for name in RECIPE_NAMES:
            setattr(self, name, getattr(recipe_box, name))
        self.name_edit.textEdited.connect(self._name_edited)
        self.open_button.clicked.connect(lambda: self.open_recipe())
        self.save_button.clicked.connect(lambda: self.save_recipe())
        self.steps.selected.connect(self._select_step)
        self.steps.toggled.connect(lambda uid, on: self.draft.set_enabled(uid, on))
        self.steps.reordered.connect(lambda uids: self.draft.reorder(uids))
        self.up_button.clicked.connect(lambda: self._move_current(-1))
        self.down_button.clicked.connect(lambda: self._move_current(+1))
        self.remove_button.clicked.connect(self._remove_current)

        # -------------------------------------------------------------- step settings
        settings_box = StepSettingsBox()
        for name in ("step_title", "step_summary", "form", "help_label", "reset_button"):
            setattr(self, name, getattr(settings_box, name))
        self.form.value_changed.connect(self._value_changed)
        self.reset_button.clicked.connect(self.reset_step)

        editor = QSplitter(Qt.Orientation.Horizontal)
        editor.addWidget(recipe_box)
        editor.addWidget(settings_box)
        editor.setStretchFactor(0, 4)
        editor.setStretchFactor(1, 5)
        editor.setChildrenCollapsible(False)
        self.top = QStackedWidget()
        self.top.addWidget(self.loading)
        self.top.addWidget(editor)

        # -------------------------------------------------------------- run box
        self.run_box = RunBox()
        for name in ("run_button", "cancel_button", "threads", "device", "repeats", "reuse", "reason_label", "overall", "time_label",
                     "stage_label", "stage_bar", "log"):
            setattr(self, name, getattr(self.run_box, name))
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        for text, keys, slot in (("Undo recipe edit", QKeySequence.StandardKey.Undo, self.undo),
                                 ("Redo recipe edit", QKeySequence("Ctrl+Shift+Z"), self.redo)):
            action = QAction(text, self)
            action.setShortcut(keys)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
        run_box = self.run_box

        self.card = ResultCard()
        self.run_area = RunArea(run_box, self.card, self.estimate_label)
        split = self.split = EditorRunSplit(self.top, self.run_area)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addWidget(split, 1)
        hide_when_short(self, subtitle)

        self.estimate_timer = QTimer(self)
        self.estimate_timer.setSingleShot(True)
        self.estimate_timer.setInterval(ESTIMATE_DELAY_MS)
        self.estimate_timer.timeout.connect(self.start_estimate)
        self.clock_timer = QTimer(self)
        self.clock_timer.setInterval(250)
        self.clock_timer.timeout.connect(self._tick)
        session.subscribe(self._session_changed)
        jobs.ended.connect(lambda job: self.update_run_state())
        jobs.started.connect(lambda job: self.update_run_state())
        self._set_editor_enabled(False)
        self.update_run_state()

    # ================================================================== registry and draft

    @property
    def ready(self) -> bool:
        return self.draft is not None

    def set_techniques(self, techniques: list) -> None:
        """Called once the registry has loaded (on a worker): fill the menus, start from a preset."""
        from core.app.presets import PRESETS, example_recipes
        from core.app.recipe_draft import RecipeDraft

        self.techniques = techniques
        self.recipe_box.fill_menus(techniques, PRESETS, example_recipes(), self.add_step, self.load_preset, self.open_recipe)
        self.draft = RecipeDraft()
        self.draft.subscribe(self._draft_changed)
        self.top.setCurrentIndex(1)
        self._set_editor_enabled(True)
        self.warm_up()
        if not self.draft.steps:
            self.load_preset(PRESETS[0].name)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.warm_up()

    def warm_up(self) -> None:
        """Start the run worker's process (it imports PyTorch) once the page is in use, so Run starts at once."""
        if self.ready and self.isVisible():
            self.jobs.worker.start()

    def techniques_failed(self, message: str) -> None:
        self.loading_label.setText(f"The compression techniques could not be loaded: {message}")

    def _set_editor_enabled(self, on: bool) -> None:
        for w in (self.add_button, self.preset_button, self.open_button, self.save_button, self.name_edit):
            w.setEnabled(on)

    def add_step(self, technique: str, values: Optional[dict] = None) -> None:
        step = self.draft.add(technique, values)
        self._refresh_steps(select=step.uid)

    def load_preset(self, name: str) -> None:
        """Start from preset ``name``; edits not saved are asked about first (and stay one Ctrl+Z away)."""
        from core.app.presets import get_preset

        if self._may_replace(f"the preset “{name}”"):
            self._load_recipe(get_preset(name).recipe())
            self.recipe_path = None
            self.log_line(f"Preset “{name}” loaded.")

    def _may_replace(self, what: str) -> bool:
        """Whether to load ``what`` over edits not saved (asked; never headless; Ctrl+Z brings them back)."""
        if not self.draft.modified or self.window().property("headless_errors"):
            return True
        answer = QMessageBox.question(
            self, "Replace the recipe?", f"The recipe has edits that are not saved. Load {what} instead?\n\n"
            "Undo (Ctrl+Z) brings the edits back.", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _load_recipe(self, recipe) -> None:
        self.draft.load(recipe)
        self.name_edit.setText(self.draft.name)
        self._refresh_steps(select=self.draft.steps[0].uid if self.draft.steps else None)

    def open_recipe(self, path: Optional[Union[str, Path]] = None) -> bool:
        """Load a recipe file (a dialog when ``path`` is None); a bad file becomes a message."""
        if path is None:
            start = str(self.recipe_path.parent if self.recipe_path else Path.home())
            chosen, _ = QFileDialog.getOpenFileName(self, "Open a recipe", start, RECIPE_FILTER)
            if not chosen:
                return False
            path = chosen
        from core.pipeline.recipe import load_recipe

        try:
            recipe = load_recipe(path)
        except EdgeSlimError as exc:
            self.report_error(exc.for_app())
            return False
        if not self._may_replace(Path(path).name):
            return False
        self._load_recipe(recipe)
        self.recipe_path = Path(path)
        self.log_line(f"Recipe loaded from {path}.")
        return True

    def save_recipe(self, path: Optional[Union[str, Path]] = None) -> Optional[Path]:
        """Save the recipe as TOML (a dialog when ``path`` is None); a recipe with problems is refused with them."""
        problems = self.draft.problems()
        field_problems = [p for p in problems if p.field is not None]
        if field_problems:
            self.report_error("The recipe cannot be saved while a value is not allowed: " + field_problems[0].text)
            return None
        if path is None:
            default = self.recipe_path or Path.home() / f"{self.draft.name or 'recipe'}.toml"
            path = ask_save_toml(self, "Save the recipe", default, RECIPE_FILTER)
            if path is None:
                return None
        try:
            saved = self.draft.save(Path(path))
        except (EdgeSlimError, OSError) as exc:
            self.report_error(f"Could not save the recipe to {path}: {exc}")
            return None
        self.recipe_path = saved
        self.log_line(f"Recipe saved to {saved}.")
        return saved

    def current_recipe_toml(self) -> str:
        """The recipe being edited as TOML (what Save writes); raises RecipeError while a value is not allowed."""
        if self.draft is None:
            from core.pipeline.recipe import RecipeError

            raise RecipeError("the compression techniques are still loading", "try again in a moment")
        return self.draft.to_toml()

    def apply_suggestion(self, technique: str, params: dict) -> bool:
        """Write suggested settings (a sensitivity analysis's step) into the recipe where core's rule allows them."""
        if self.draft is None:
            self.report_error("The compression techniques are still loading: apply the suggestion in a moment.")
            return False
        try:
            applied = self.draft.apply_suggestion(technique, params)
        except EdgeSlimError as exc:
            self.report_error(exc.for_app())
            return False
        self.log_line("Sensitivity suggestion: " + applied.describe(technique))
        self._refresh_steps(select=applied.uid)
        step = self.draft.step(applied.uid)
        if self._shown_uid == step.uid:  # the form shows this step: show its new values
            self.form.set_values(step.values)
            self.form.set_errors(step.errors)
        return True

    def undo(self) -> None:
        if self.draft is not None and self.draft.undo():
            self._show_history()

    def redo(self) -> None:
        if self.draft is not None and self.draft.redo():
            self._show_history()

    def _show_history(self) -> None:
        """After undo or redo: the name, the list and the selected step's form as the draft now is."""
        self.name_edit.setText(self.draft.name)
        uids = [s.uid for s in self.draft.steps]
        keep = self._shown_uid if self._shown_uid in uids else (uids[0] if uids else None)
        self._shown_uid = None  # the form is built again: its values changed
        self._refresh_steps(select=keep)
        self._select_step(keep)

    def _name_edited(self, text: str) -> None:
        if self.draft is not None:
            self.draft.name = text.strip() or "recipe"

    def _move_current(self, delta: int) -> None:
        uid = self.steps.current_uid()
        if uid is not None:
            self.draft.move(uid, self.draft.index(uid) + delta)
            self._refresh_steps(select=uid)

    def _remove_current(self) -> None:
        uid = self.steps.current_uid()
        if uid is not None:
            i = self.draft.index(uid)
            self.draft.remove(uid)
            if self.draft.steps:
                self._refresh_steps(select=self.draft.steps[min(i, len(self.draft.steps) - 1)].uid)

    def reset_step(self) -> None:
        step = self._current_step()
        if step is not None:
            self.draft.reset(step.uid)
            self.form.set_values(step.values)
            self.form.set_errors(step.errors)

    def _value_changed(self, name: str, value: Any) -> None:
        if self._shown_uid is not None:
            self.draft.set_value(self._shown_uid, name, value)

    # ================================================================== showing the draft

    def _draft_changed(self, what: str) -> None:
        if what == "steps":
            self._refresh_steps()
        else:
            self._refresh_problems()
            step = self._current_step()
            if step is not None:
                self.form.set_errors(step.errors)
            self._refresh_step_texts()
        self.estimate_timer.start()
        self.run_area.show_estimate()

    def _current_step(self):
        if self.draft is None or self._shown_uid is None:
            return None
        try:
            return self.draft.step(self._shown_uid)
        except KeyError:
            return None

    def _refresh_steps(self, select: Optional[int] = None) -> None:
        problems = self._problem_map()
        self.steps.show_steps(self.draft.steps, problems, select)
        self._refresh_problems()

    def _refresh_step_texts(self) -> None:
        """Update the list's labels (changed values, marks); the form stays (same step selected)."""
        self.steps.show_steps(self.draft.steps, self._problem_map(), self._shown_uid)

    def _problem_map(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for p in self.problems():
            if p.uid is not None:
                out.setdefault(p.uid, p.text)
        return out

    def problems(self) -> list:
        if self.draft is None:
            return []
        model = self.session.model
        return self.draft.problems(input_is_onnx=bool(model is not None and model.is_onnx))

    def _refresh_problems(self) -> None:
        problems = self.problems()
        text = "<br>".join(f"⚠ {p.text}" for p in problems[:3])
        self.problems_label.setText(text)
        self.problems_label.setVisible(bool(problems))
        self.update_run_state()
        self.changed.emit()

    def _select_step(self, uid: Optional[int]) -> None:
        if uid == self._shown_uid and uid is not None and self.form.fields:
            return
        self._shown_uid = uid
        step = self._current_step()
        if step is None:
            self.step_title.setText("<b>No step selected</b>")
            self.step_summary.setText("Add a step with <b>Add step</b>, or start from a preset.")
            self.form.build([], {}, {})
            self.reset_button.setEnabled(False)
            return
        info = step.info
        side = "ONNX-side: comes last" if info.side == "onnx" else "PyTorch-side"
        self.step_title.setText(f"<b>{info.label}</b> &nbsp;<span style='color:{MUTED_COLOUR}'>{step.technique} · {info.family} · {side}</span>")
        self.step_summary.setText(info.summary + ".")
        self.form.build(info.params, step.values, step.errors)
        self.reset_button.setEnabled(True)

    # ================================================================== estimate

    def _session_changed(self, name: str) -> None:
        if self.draft is not None:
            self._refresh_problems()
            self._refresh_step_texts()
            self.estimate_timer.start()
        self.update_run_state()

    def estimate_pending(self) -> bool:
        return self.estimate_timer.isActive() or bool(self.jobs.running("estimate"))

    def start_estimate(self) -> None:
        """Estimate params and MACs after the recipe on a pool thread (cancelling any estimate still going)."""
        self.jobs.cancel_kind("estimate")
        if self.draft is None:
            return
        model, data = self.session.model, self.session.data
        if model is None or data is None:
            self.estimate_label.setText("Load a model and a dataset to see what the recipe will do.")
            return
        if self.run_job is not None:
            return
        if self.problems():
            self.estimate_label.setText("The estimate appears once the recipe has no problems.")
            return
        recipe = self.draft.to_recipe()
        from core.app.estimate import STRUCTURAL_FAMILIES, estimate_recipe
        from core.app.events import Progress

        slow = [s.technique for s in recipe.active_steps if s.technique == "lowrank.tucker"]
        self.estimate_label.setText("Estimating params and MACs after the recipe…" + (" (a Tucker decomposition takes a while)" if slow else ""))
        needs_work = any(s.info.family in STRUCTURAL_FAMILIES or hasattr(s.config, "make_student") for s in recipe.active_steps)

        def work(emit, cancel):
            return estimate_recipe(recipe, model, data, progress=lambda f, m: emit(Progress(f, m)), cancel=cancel)

        self.estimate_job = self.jobs.start(InThread(work), lambda event: self._estimate_event(job, event),
                                            title="Estimating the recipe", kind="estimate", quiet=not needs_work)
        job = self.estimate_job

    def _estimate_event(self, job: Job, event: Any) -> None:
        if job is not self.estimate_job or job.cancelled:
            return
        if isinstance(event, Done):
            self.estimate = event.result
            self.estimate_label.setText(estimate_html(event.result))
        elif isinstance(event, Failed) and not event.cancelled:
            message = event.error.for_app() if isinstance(event.error, EdgeSlimError) else str(event.error)
            self.estimate_label.setText(f"<span style='color:{ERROR_COLOUR}'>The recipe cannot be applied to this model: {message}</span>")

    # ================================================================== running

    def run_blocker(self) -> str:
        """Why Run is not possible now ("" when it is)."""
        ready = self.draft is not None
        return run_blocker(ready=ready, running=self.run_job is not None, loading=bool(self.jobs.running("load")),
                           model=self.session.model, data=self.session.data, problems=self.problems() if ready else [],
                           inputs=self.run_inputs() if ready else "")

    def update_run_state(self) -> None:
        running = self.run_job is not None
        self.run_box.set_running(running, self.run_blocker(), running and not self.run_job.cancelled)

    def run(self) -> Optional[Job]:
        """Start the recipe on the current model and data as a stored run (a no-op with a reason when it can't)."""
        reason = self.run_blocker()
        if reason:
            self.reason_label.setText(reason)
            self.reason_label.setVisible(True)
            return None
        from core.app.execute import RunRequest
        from core.app.worker_tasks import Run
        from core.pipeline.runner import RunOptions

        inputs = self.run_inputs()
        assert not isinstance(inputs, str)
        self.jobs.cancel_kind("estimate")
        self.estimate_timer.stop()
        recipe = self.draft.to_recipe()
        repeats = self.repeats.value()
        options = RunOptions(threads=self.threads.value(), repeats=repeats, warmup=min(10, max(2, repeats // 5)),
                             device=self.device.currentData())
        ws = self._run_ws = inputs.workspace  # the run's results are read from where it is stored
        request = Run(str(ws.path), RunRequest(recipe.to_toml(), inputs.model, inputs.data, options, recipe.name),
                      reuse=self.reuse.isChecked())
        runs = ws.list_runs()
        self.log.clear()
        self.state.start((runs[-1].id if runs else 0) + 1, tuple(s.technique for s in recipe.active_steps))
        self.run_box.reset_bars(running=True)
        self.card.clear()
        self.run_area.curve.clear()
        steps = ", ".join(s.technique for s in recipe.active_steps)
        self.log_line(f"Run “{recipe.name}” on {self.session.model.name} with {self.session.data.name}: {steps}.")
        self.log_line(f"Workspace: {ws.path}")
        self.run_job = self.jobs.start(request, self._run_event, title=f"Running {recipe.name}")
        self.run_box.show_state(self.state)
        self.clock_timer.start()
        self.update_run_state()
        return self.run_job

    def show_latest(self, workspace) -> None:
        """Before any run of this session: the card shows the newest finished run stored in ``workspace``."""
        if self.last_run is not None or self.run_job is not None:
            return
        done = [r for r in workspace.list_runs() if r.status == "done"] if workspace is not None else []
        if done:
            self.card.show_row(done[-1], note="The latest run stored in this workspace. Press <b>Run</b> to apply the recipe above.")
        else:
            self.card.clear()

    def cancel(self) -> None:
        if self.run_job is not None and not self.run_job.cancelled:
            self.jobs.cancel(self.run_job)
            self.state.cancel()
            self.run_box.show_state(self.state)
            self.update_run_state()

    def log_line(self, text: str) -> None:
        stamp = clock(self.state.elapsed()) if self.run_job is not None else time.strftime("%H:%M:%S")
        self.log.appendPlainText(f"[{stamp}] {text}")

    def _tick(self) -> None:
        if self.run_job is not None:
            self.time_label.setText(self.state.time_text())

    def _run_event(self, event: Any) -> None:
        if self.run_job is not None and self.run_job.cancelled and not self.state.cancelling:
            self.state.cancel()  # cancelled from the status bar or the Run menu
        self.state.handle(event)
        self.run_box.show_state(self.state)
        self.run_area.show_training(event)
        if isinstance(event, Done):
            self._run_stored(event.result or {})
        elif isinstance(event, Failed):
            if event.cancelled:
                self._show_stopped_run("Run cancelled", "Stopped before anything was measured; nothing was stored.")
            else:
                message = event.error.for_app() if isinstance(event.error, EdgeSlimError) else str(event.error)
                self._show_stopped_run("The run did not start", message)
                self.report_error(message)
        if isinstance(event, (Done, Failed)):
            self._run_ended()

    def _run_stored(self, outcome: dict) -> None:
        if self._run_ws is None or outcome.get("run_id") is None:
            return
        self.last_run = row = self._run_ws.get_run(int(outcome["run_id"]))
        self.card.show_row(row, bool(outcome.get("reused")))
        self.state.stored(row.seconds, reused=bool(outcome.get("reused")))
        self.run_area.show_result()
        self.run_finished.emit(row)

    def _latest_row(self):
        if self._run_ws is None:
            return None
        runs = [r for r in self._run_ws.list_runs() if r.id >= self.state.first_run_id]
        return runs[-1] if runs else None

    def _show_stopped_run(self, title: str, text: str) -> None:
        """A run that failed or was cancelled: its stored row when it got that far, else why there is none."""
        row = self._latest_row()
        if row is not None:
            self.last_run = row
            self.card.show_row(row)
            self.run_finished.emit(row)
        else:
            self.card.show_message(title, text)

    def _run_ended(self) -> None:
        self.run_job = None
        self.run_area.show_result()
        self.clock_timer.stop()
        self.time_label.setText(self.state.time_text())
        self.update_run_state()
        self.estimate_timer.start()
