"""Compress page: build a recipe from the technique registry, see its estimate, run it, read the result.

The page edits a :class:`core.app.recipe_draft.RecipeDraft` (every check is
core's); running builds a :class:`core.app.execute.RunRequest` and hands it
to a worker job that calls ``execute_run``, so the run lands in the workspace
like one from ``edgeslim-cli run --workspace``. The widgets only show what the
draft, the estimate and the run report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core import fmt
from core.errors import EdgeSlimError
from core.app.session import Session
from gui.icons import icon
from gui.style import ERROR_COLOUR, MUTED_COLOUR
from gui.widgets.param_form import ParamForm
from gui.widgets.result_card import ResultCard
from gui.widgets.step_list import StepList
from gui.widgets.files import ask_save_toml
from gui.workers import Job, JobRunner
from gui.widgets.scroll import scrolled

RECIPE_FILTER = "Recipes (*.toml);;All files (*)"
ESTIMATE_DELAY_MS = 700
LOG_EVERY_S = 2.0


@dataclass
class RunInputs:
    """What a run needs from the window: where to store it and how the model and data were opened."""

    workspace: Any  # core.store.workspace.Workspace
    model_spec: str
    data_spec: str
    load_options: dict


def clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class CompressPage(QWidget):
    """Recipe editor (steps, parameter form, presets, files), estimate, run with progress, result card."""

    run_finished = Signal(object)  # the stored RunRow
    changed = Signal()  # the recipe or its problems changed (the window updates its Run action)

    def __init__(
        self,
        session: Session,
        jobs: JobRunner,
        run_inputs: Callable[[], Union[RunInputs, str]],
        report_error: Callable[[str], None] = lambda message: None,
        worker=None,
        parent: Optional[QWidget] = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.jobs, self.run_inputs, self.report_error = session, jobs, run_inputs, report_error
        self.worker = worker  # gui.run_process.RunWorker: runs happen in its child process
        self.draft = None  # core.app.recipe_draft.RecipeDraft, once the technique registry has loaded
        self.techniques: list = []
        self.recipe_path: Optional[Path] = None
        self.run_job: Optional[Job] = None
        self.estimate_job: Optional[Job] = None
        self.estimate = None  # core.app.estimate.RecipeEstimate of the recipe as it was last estimated
        self.stages: list = []
        self.run_started_at = 0.0
        self.last_fraction = 0.0
        self.last_log_at = 0.0
        self.last_stage: Optional[str] = None
        self.first_run_id = 0
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
        self.name_edit = QLineEdit("recipe")
        self.name_edit.setToolTip("The recipe's name: stored with every run and written to the TOML file")
        self.name_edit.textEdited.connect(self._name_edited)
        self.add_button = QToolButton()
        self.add_button.setText("Add step")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.add_menu = QMenu(self)
        self.add_button.setMenu(self.add_menu)
        self.preset_button = QToolButton()
        self.preset_button.setText("Presets")
        self.preset_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.preset_menu = QMenu(self)
        self.preset_button.setMenu(self.preset_menu)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Load a recipe TOML file (the same format as edgeslim-cli run)")
        self.open_button.clicked.connect(lambda: self.open_recipe())
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save the recipe as TOML (runs with edgeslim-cli run RECIPE --model … --data …)")
        self.save_button.clicked.connect(lambda: self.save_recipe())
        tools = QHBoxLayout()
        for w in (self.add_button, self.preset_button, self.open_button, self.save_button):
            tools.addWidget(w)
        tools.addStretch(1)

        self.steps = StepList()
        self.steps.setMinimumHeight(120)
        self.steps.selected.connect(self._select_step)
        self.steps.toggled.connect(lambda uid, on: self.draft.set_enabled(uid, on))
        self.steps.reordered.connect(lambda uids: self.draft.reorder(uids))
        self.up_button = QPushButton("Move up")
        self.down_button = QPushButton("Move down")
        self.remove_button = QPushButton("Remove")
        self.up_button.clicked.connect(lambda: self._move_current(-1))
        self.down_button.clicked.connect(lambda: self._move_current(+1))
        self.remove_button.clicked.connect(self._remove_current)
        hint = QLabel("Drag to reorder · untick to skip")
        hint.setObjectName("muted")
        step_buttons = QHBoxLayout()
        for w in (self.up_button, self.down_button, self.remove_button):
            step_buttons.addWidget(w)
        step_buttons.addStretch(1)
        step_buttons.addWidget(hint)
        self.problems_label = QLabel()
        self.problems_label.setProperty("role", "error")
        self.problems_label.setWordWrap(True)
        self.problems_label.setVisible(False)
        self.estimate_label = QLabel()
        self.estimate_label.setObjectName("muted")
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setTextFormat(Qt.TextFormat.RichText)
        self.estimate_label.setMinimumHeight(40)
        name_row = QFormLayout()
        name_row.addRow("Name:", self.name_edit)

        recipe_box = QGroupBox("Recipe")
        rl = QVBoxLayout(recipe_box)
        rl.addLayout(name_row)
        rl.addLayout(tools)
        rl.addWidget(self.steps, 1)
        rl.addLayout(step_buttons)
        rl.addWidget(self.problems_label)
        rl.addWidget(self.estimate_label)

        # -------------------------------------------------------------- step settings
        self.step_title = QLabel("<b>No step selected</b>")
        self.step_summary = QLabel("Add a step with <b>Add step</b>, or start from a preset.")
        self.step_summary.setObjectName("muted")
        self.step_summary.setWordWrap(True)
        self.form = ParamForm()
        self.form.value_changed.connect(self._value_changed)
        scroll = scrolled(self.form)
        self.help_label = QLabel("Point at a field to read what it does.")
        self.help_label.setObjectName("muted")
        self.help_label.setWordWrap(True)
        self.help_label.setMinimumHeight(34)
        self.help_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.form.help_target = self.help_label
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.clicked.connect(self.reset_step)
        reset_row = QHBoxLayout()
        reset_row.addWidget(self.help_label, 1)
        reset_row.addWidget(self.reset_button, 0, Qt.AlignmentFlag.AlignTop)
        settings_box = QGroupBox("Step settings")
        sl = QVBoxLayout(settings_box)
        sl.addWidget(self.step_title)
        sl.addWidget(self.step_summary)
        sl.addWidget(scroll, 1)
        sl.addLayout(reset_row)

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
        self.run_button = QPushButton(icon("run"), "Run")
        self.run_button.setObjectName("primary")
        self.run_button.setToolTip("Apply the recipe to a copy of the current model and measure every step (Ctrl+R)")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton(icon("stop"), "Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the run within a batch; what finished stays stored")
        self.cancel_button.clicked.connect(self.cancel)
        self.threads = QSpinBox()
        self.threads.setRange(1, 256)
        self.threads.setValue(2)
        self.threads.setToolTip("CPU threads for training and for the latency measurement")
        self.repeats = QSpinBox()
        self.repeats.setRange(3, 10000)
        self.repeats.setValue(50)
        self.repeats.setToolTip("Timed ONNX Runtime repeats per model for latency (median and p90 are reported)")
        self.reuse = QCheckBox("Reuse identical runs")
        self.reuse.setChecked(True)
        self.reuse.setToolTip("When this exact recipe already ran on this model and data in the workspace, show it instead of running again")
        controls = QHBoxLayout()
        controls.addWidget(self.run_button)
        controls.addWidget(self.cancel_button)
        controls.addStretch(1)
        controls.addWidget(self.reuse)
        measure = QHBoxLayout()
        measure.addWidget(QLabel("Threads:"))
        measure.addWidget(self.threads)
        measure.addSpacing(10)
        measure.addWidget(QLabel("Latency repeats:"))
        measure.addWidget(self.repeats)
        measure.addStretch(1)
        self.reason_label = QLabel()
        self.reason_label.setObjectName("muted")
        self.reason_label.setWordWrap(True)
        self.overall = QProgressBar()
        self.overall.setRange(0, 1000)
        self.overall.setFormat("not running")
        self.overall.setValue(0)
        self.time_label = QLabel("")
        self.time_label.setMinimumWidth(190)
        self.time_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.stage_label = QLabel("Not running")
        self.stage_label.setObjectName("muted")
        self.stage_bar = QProgressBar()
        self.stage_bar.setRange(0, 1000)
        self.stage_bar.setFormat("")
        self.stage_bar.setValue(0)
        bars = QFormLayout()
        bars.setHorizontalSpacing(10)
        overall_row = QHBoxLayout()
        overall_row.addWidget(self.overall, 1)
        overall_row.addWidget(self.time_label)
        bars.addRow("Recipe:", overall_row)
        bars.addRow("Step:", self.stage_bar)
        self.log = QPlainTextEdit()
        self.log.setObjectName("log")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText("The run's log: each stage, each finished step with its numbers, and any problem.")
        run_box = QGroupBox("Run")
        rb = QVBoxLayout(run_box)
        rb.addLayout(controls)
        rb.addLayout(measure)
        rb.addWidget(self.reason_label)
        rb.addLayout(bars)
        rb.addWidget(self.stage_label)
        rb.addWidget(self.log, 1)

        self.card = ResultCard()
        card_scroll = scrolled(self.card, horizontal=False)
        card_scroll.setMinimumWidth(320)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(run_box)
        bottom.addWidget(card_scroll)
        bottom.setStretchFactor(0, 1)
        bottom.setStretchFactor(1, 1)
        bottom.setSizes([560, 500])
        bottom.setChildrenCollapsible(False)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.top)
        split.addWidget(bottom)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 4)
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addWidget(split, 1)

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
        self.add_menu.clear()
        family = None
        for info in techniques:
            if info.family != family:
                family = info.family
                self.add_menu.addSection(family)
            action = self.add_menu.addAction(f"{info.label}  ({info.name})")
            action.setToolTip(info.summary)
            action.setStatusTip(info.summary)
            action.triggered.connect(lambda checked=False, name=info.name: self.add_step(name))
        self.add_menu.setToolTipsVisible(True)
        self.preset_menu.clear()
        for preset in PRESETS:
            action = self.preset_menu.addAction(preset.name)
            action.setToolTip(preset.description)
            action.setStatusTip(preset.description)
            action.triggered.connect(lambda checked=False, name=preset.name: self.load_preset(name))
        examples = example_recipes()
        if examples:
            sub = self.preset_menu.addMenu("Example recipe files")
            for path in examples:
                sub.addAction(path.stem, lambda p=path: self.open_recipe(p))
        self.preset_menu.setToolTipsVisible(True)
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
        if self.worker is not None and self.ready and self.isVisible():
            self.worker.start()

    def techniques_failed(self, message: str) -> None:
        self.loading_label.setText(f"The compression techniques could not be loaded: {message}")

    def _set_editor_enabled(self, on: bool) -> None:
        for w in (self.add_button, self.preset_button, self.open_button, self.save_button, self.name_edit):
            w.setEnabled(on)

    def add_step(self, technique: str, values: Optional[dict] = None) -> None:
        step = self.draft.add(technique, values)
        self._refresh_steps(select=step.uid)

    def load_preset(self, name: str) -> None:
        from core.app.presets import get_preset

        self._load_recipe(get_preset(name).recipe())
        self.recipe_path = None
        self.log_line(f"Preset “{name}” loaded.")

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
            self.report_error(str(exc))
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

    def apply_suggestion(self, technique: str, params: dict) -> None:
        """Write suggested settings (a sensitivity analysis's step) into the recipe and log what changed.

        They go into the first enabled step of ``technique`` (else its first
        step, switched back on); with none, a new step is added where it can
        run: a PyTorch-side step before the first ONNX-side one (pruning before
        int8), an ONNX-side one last.
        """
        if self.draft is None:
            self.report_error("The compression techniques are still loading: apply the suggestion in a moment.")
            return
        from core.techniques import ONNX, get

        def shown(v: Any) -> str:
            return (", ".join(map(str, v)) or "(none)") if isinstance(v, (list, tuple)) else str(v)

        same = [s for s in self.draft.steps if s.technique == technique]
        step = next((s for s in same if s.enabled), same[0] if same else None)
        if step is None:
            index = len(self.draft.steps)
            if get(technique).side != ONNX:
                index = next((i for i, s in enumerate(self.draft.steps) if s.info.side == ONNX), index)
            step = self.draft.add(technique, params, index=index)
            self.log_line(f"Sensitivity suggestion: added a {technique} step (step {index + 1}) with "
                          + "; ".join(f"{k} = {shown(v)}" for k, v in params.items()) + ".")
        else:
            changes = []
            for name, value in params.items():
                before = step.values.get(name)
                if (list(before) if isinstance(before, tuple) else before) != (list(value) if isinstance(value, tuple) else value):
                    changes.append(f"{name}: {shown(before)} → {shown(value)}")
                self.draft.set_value(step.uid, name, value)
            if not step.enabled:
                self.draft.set_enabled(step.uid, True)
                changes.append("switched on")
            where = f"step {self.draft.index(step.uid) + 1} ({technique})"
            self.log_line(f"Sensitivity suggestion applied to {where}: " + ("; ".join(changes) if changes else "no change") + ".")
        self._refresh_steps(select=step.uid)
        if self._shown_uid == step.uid:  # the form shows this step: show its new values
            self.form.set_values(step.values)
            self.form.set_errors(step.errors)

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
        """Estimate params and MACs after the recipe on a worker (cancelling any estimate still going)."""
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
        from core.app.estimate import STRUCTURAL_FAMILIES

        slow = [s.technique for s in recipe.active_steps if s.technique == "lowrank.tucker"]
        self.estimate_label.setText("Estimating params and MACs after the recipe…" + (" (a Tucker decomposition takes a while)" if slow else ""))
        needs_work = any(s.info.family in STRUCTURAL_FAMILIES or hasattr(s.config, "make_student") for s in recipe.active_steps)

        def work(progress, cancel):
            from core.app.estimate import estimate_recipe

            return estimate_recipe(recipe, model, data, progress=progress, cancel=cancel)

        job = Job("Estimating the recipe", work, kind="estimate")
        job.quiet = not needs_work
        job.signals.finished.connect(lambda est, j=job: self._estimate_done(j, est))
        job.signals.failed.connect(lambda msg, exc, j=job: self._estimate_failed(j, msg))
        self.estimate_job = job
        self.jobs.start(job)

    def _estimate_done(self, job: Job, est) -> None:
        if job is not self.estimate_job or job.cancelled:
            return
        rows = est.rows
        before, after = rows[0], rows[-1]
        cells = ["<tr><td></td><td align=right><b>params</b></td><td align=right><b>MACs</b></td><td></td></tr>"]
        for r in rows:
            nz = f" ({fmt.si(r.nonzero)} non-zero)" if r.nonzero is not None and r.params and r.nonzero < r.params * 0.98 else ""
            cells.append(f"<tr><td>{r.label}</td><td align=right>&nbsp;{fmt.si(r.params)}{nz}</td>"
                         f"<td align=right>&nbsp;{fmt.si(r.macs)}</td><td>&nbsp;<i>{r.note}</i></td></tr>")
        summary = []
        if before.params and after.params:
            ref = after.nonzero if after.nonzero is not None and after.nonzero < after.params else after.params
            if abs(before.params / max(ref, 1) - 1) > 0.005:
                summary.append(f"{before.params / max(ref, 1):.2f}× fewer {'non-zero ' if ref != after.params else ''}params")
        if before.macs and after.macs and abs(before.macs / after.macs - 1) > 0.005:
            summary.append(f"{before.macs / after.macs:.2f}× fewer MACs")
        if not summary:
            summary.append("the same params and MACs" + (f"; {after.note}" if after.note else ""))
        self.estimate_label.setText(
            "<b>Estimate before running</b> (structure only; accuracy and latency need a run): "
            + ", ".join(summary) + f"<table cellspacing=0 cellpadding=1>{''.join(cells)}</table>"
        )
        self.estimate = est

    def _estimate_failed(self, job: Job, message: str) -> None:
        if job is self.estimate_job and not job.cancelled:
            self.estimate_label.setText(f"<span style='color:{ERROR_COLOUR}'>The recipe cannot be applied to this model: {message}</span>")

    # ================================================================== running

    def run_blocker(self) -> str:
        """Why Run is not possible now ("" when it is)."""
        if self.draft is None:
            return "The compression techniques are still loading."
        if self.run_job is not None:
            return "A run is in progress."
        if any(j.kind == "load" for j in self.jobs.active):
            return "Wait until the model and data have loaded."
        if self.session.model is None:
            return "Load a model first (Model page or File ▸ Open model)."
        if self.session.data is None:
            return "Load a dataset first (Data page or File ▸ Open dataset folder)."
        problems = self.problems()
        if problems:
            return f"Fix the recipe first: {problems[0].text}"
        inputs = self.run_inputs()
        if isinstance(inputs, str):
            return inputs
        return ""

    def update_run_state(self) -> None:
        reason = self.run_blocker()
        running = self.run_job is not None
        self.run_button.setEnabled(not reason)
        self.cancel_button.setEnabled(running and not self.run_job.cancelled)
        self.reason_label.setText("" if (not reason or running) else reason)
        self.reason_label.setVisible(bool(reason) and not running)
        for w in (self.threads, self.repeats, self.reuse):
            w.setEnabled(not running)

    def run(self) -> Optional[Job]:
        """Start the recipe on the current model and data as a stored run (a no-op with a reason when it can't)."""
        reason = self.run_blocker()
        if reason:
            self.reason_label.setText(reason)
            self.reason_label.setVisible(True)
            return None
        from core.app.estimate import run_stages
        from core.pipeline.runner import RunOptions
        from core.app.execute import Execution, RunRequest
        from gui.run_process import WorkerDied, request_payload

        inputs = self.run_inputs()
        assert not isinstance(inputs, str)
        self.jobs.cancel_kind("estimate")
        self.estimate_timer.stop()
        recipe = self.draft.to_recipe()
        repeats = self.repeats.value()
        options = RunOptions(threads=self.threads.value(), repeats=repeats, warmup=min(10, max(2, repeats // 5)))
        request = RunRequest(recipe.to_toml(), inputs.model_spec, inputs.data_spec, inputs.load_options, options, recipe.name)
        ws, worker = inputs.workspace, self.worker
        payload = {"workspace": str(ws.path), "request": request_payload(request), "reuse": self.reuse.isChecked(),
                   "model_spec": request.model_spec, "data_spec": request.data_spec}
        runs = ws.list_runs()
        self.first_run_id = (runs[-1].id if runs else 0) + 1
        self.stages = run_stages(recipe)
        self.last_stage = None

        def killed(pid: int) -> None:  # the child did not stop in time and was killed: its run is cancelled
            for row in ws.list_runs(status="running"):
                if row.pid == pid:
                    ws.finish_run(row.id, "cancelled", error="cancelled by the user (the worker process was stopped)")

        def work(progress, cancel):
            try:
                done = worker.execute("run", payload, progress=progress, cancel=cancel, on_event=job.post, on_kill=killed)
            except WorkerDied:
                ws.mark_interrupted()  # the run the dead child left "running"
                raise
            return Execution(ws.get_run(done["run_id"]), done["reused"])

        job = Job(f"Running {recipe.name}", work, kind="run")
        job.signals.progress.connect(self._run_progress)
        job.signals.event.connect(self._run_event)
        job.signals.finished.connect(self._run_finished)
        job.signals.failed.connect(self._run_failed)
        job.signals.cancelled.connect(self._run_cancelled)
        job.signals.done.connect(self._run_done)
        self.run_job = job
        self.run_started_at = time.monotonic()
        self.last_fraction = 0.0
        self.last_log_at = 0.0
        self.overall.setValue(0)
        self.stage_bar.setValue(0)
        self.overall.setFormat("%p %")
        self.stage_bar.setFormat("%p %")
        self.stage_label.setText("Starting…")
        self.time_label.setText("Elapsed 0:00")
        self.card.clear()
        self.log.clear()
        steps = ", ".join(s.technique for s in recipe.active_steps)
        self.log_line(f"Run “{recipe.name}” on {self.session.model.name} with {self.session.data.name}: {steps}.")
        self.log_line(f"Workspace: {ws.path}")
        self.clock_timer.start()
        self.jobs.start(job)
        self.update_run_state()
        return job

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
            self.run_job.cancel()
            self.log_line("Cancelling: the run stops at the end of the current batch…")
            self.stage_label.setText("Cancelling…")
            self.update_run_state()

    def log_line(self, text: str) -> None:
        stamp = clock(time.monotonic() - self.run_started_at) if self.run_job is not None else time.strftime("%H:%M:%S")
        self.log.appendPlainText(f"[{stamp}] {text}")

    def _stage_for(self, message: str):
        best = None
        for stage in self.stages:
            if message.startswith(stage.prefix) and (best is None or len(stage.prefix) > len(best.prefix)):
                best = stage
        return best

    def _run_progress(self, fraction: float, message: str) -> None:
        self.last_fraction = max(self.last_fraction, fraction)
        self.overall.setValue(int(fraction * 1000))
        stage = self._stage_for(message)
        if stage is not None:
            span = max(stage.end - stage.start, 1e-6)
            self.stage_bar.setValue(int(1000 * min(max((fraction - stage.start) / span, 0.0), 1.0)))
            detail = message[len(stage.prefix):].lstrip(": ")
            index = self.stages.index(stage)
            self.stage_label.setText(f"Stage {index + 1} of {len(self.stages)} · {stage.label}" + (f" — {detail}" if detail else ""))
            if stage.label != self.last_stage:
                if self.last_stage is not None:
                    self.log_line(f"{self.last_stage}: done")
                self.last_stage = stage.label
                self.log_line(f"{stage.label}: started")
                self.last_log_at = time.monotonic()
                return
        else:
            self.stage_label.setText(message)
        now = time.monotonic()
        if now - self.last_log_at >= LOG_EVERY_S:
            self.last_log_at = now
            self.log_line(message)

    def _tick(self) -> None:
        if self.run_job is None:
            return
        elapsed = time.monotonic() - self.run_started_at
        text = f"Elapsed {clock(elapsed)}"
        f = self.last_fraction
        if f > 0.03 and elapsed > 2:
            text += f" · about {clock(elapsed * (1 - f) / f)} left"
        self.time_label.setText(text)

    def _run_event(self, kind: str, payload: Any) -> None:
        if kind != "step":
            return
        m = payload.get("metrics") or {}
        acc = m.get("accuracy")
        parts = [f"top-1 {100 * acc:.2f} %" if acc is not None else None, f"{fmt.si(m.get('params'))} params",
                 f"{fmt.si(m.get('macs'))} MACs", f"ONNX {fmt.size(m.get('size_bytes'))}"]
        self.log_line(f"step {payload.get('index')} {payload.get('technique')} finished in {payload.get('seconds', 0):.1f} s: "
                      f"{payload.get('summary', '')}")
        self.log_line("    " + ", ".join(p for p in parts if p))
        for note in payload.get("notes", []):
            self.log_line(f"    note: {note}")

    def _run_finished(self, execution) -> None:
        row = execution.row
        self.last_run = row
        self.card.show_row(row, execution.reused)
        elapsed = time.monotonic() - self.run_started_at
        if execution.reused:
            self.log_line(f"An identical run is stored as #{row.id}: showing it (untick “Reuse identical runs” to run again).")
        else:
            self.log_line(f"Run #{row.id} {row.status} after {elapsed:.1f} s; stored in the workspace.")
        if row.status == "done":
            self.overall.setValue(1000)
            self.stage_bar.setValue(1000)
            self.stage_label.setText(f"Finished: run #{row.id}")
        else:
            self.stage_label.setText(f"Run #{row.id} {row.status}")
        self.run_finished.emit(row)

    def _latest_row(self):
        inputs = self.run_inputs()
        if isinstance(inputs, str):
            return None
        runs = [r for r in inputs.workspace.list_runs() if r.id >= self.first_run_id]
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

    def _run_failed(self, message: str, exc: object) -> None:
        self.log_line(f"FAILED: {message}")
        self.stage_label.setText("Failed")
        self._show_stopped_run("The run did not start", message)
        self.report_error(message)

    def _run_cancelled(self) -> None:
        self.log_line("Cancelled.")
        self.stage_label.setText("Cancelled")
        self._show_stopped_run("Run cancelled", "Stopped before anything was measured; nothing was stored.")

    def _run_done(self) -> None:
        self.run_job = None
        self.clock_timer.stop()
        self.time_label.setText(f"Took {clock(time.monotonic() - self.run_started_at)}")
        self.update_run_state()
        self.estimate_timer.start()
