"""The sweep dialog: pick recipe fields to vary, a grid or an Optuna search, and where trials run.

It builds a :class:`core.pipeline.sweep_spec.SweepSpec` from the form and
checks it with core's sweep parser on every edit, so what the dialog accepts
is exactly what ``edgeslim-cli sweep`` accepts; *Save…* writes that file. The
dialog runs nothing: the caller reads :meth:`SweepDialog.sweep_toml` and
:meth:`SweepDialog.executor` after it is accepted and starts the job
(a ``core.app.worker_tasks.Sweep`` request, through the window's job controller).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.errors import EdgeSlimError
from core.pipeline.sweep_spec import MAX_LATENCY_KEY, MAX_SIZE_KEY, MIN_ACCURACY_KEY, OFF, ON, SweepSpec
from gui.dialogs.sweep_axes import AxisRow, can_vary
from gui.style import STYLE_SHEET, set_invalid
from gui.widgets.files import ask_save_toml
from gui.widgets.scroll import scrolled

SWEEP_FILTER = "Sweep files (*.toml);;All files (*)"
OBJECTIVE_LABELS = {"accuracy": ("Accuracy", "maximised: top-1 on the validation split"),
                    "size": ("File size", "minimised: the ONNX file"),
                    "latency": ("Latency", "minimised: ONNX Runtime median on this machine"),
                    "macs": ("MACs", "minimised: multiply-accumulates per image")}
SAMPLERS = (("nsga2", "NSGA-II (genetic)", "Evolves a population towards the Pareto front: the usual choice for 2-3 objectives"),
            ("tpe", "TPE (Bayesian)", "Tree-structured Parzen estimator: models where good trials lie; fine for small budgets"))
BIG_GRID = 60  # above this many trials the summary warns how long it may take
_ADDRESS = re.compile(r"^(tcp|tls)://[^\s:/]+:\d{1,5}$|^local:[1-9]\d*$")
MIB = 1 << 20


class SweepDialog(QDialog):
    """Build a sweep of ``recipe_toml``; ``techniques`` is the registry list (``TechniqueInfo``) the app loaded."""

    validity_changed = Signal(bool)

    def __init__(self, recipe_toml: str, techniques: list, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        from core.pipeline.recipe import parse_recipe

        self.recipe = parse_recipe(recipe_toml, source="recipe")  # raises RecipeError for a recipe that cannot run
        self.recipe_toml = self.recipe.to_toml()
        self.infos = {t.name: t for t in techniques}
        self.rows: list[AxisRow] = []
        self.toggles: dict[str, QCheckBox] = {}
        self._problems: list[str] = []
        self._spec: Optional[SweepSpec] = None
        self.saved_path: Optional[Path] = None
        if parent is None:
            self.setStyleSheet(STYLE_SHEET)
        self.setWindowTitle("Sweep the recipe")
        self.resize(1100, 740)

        title = QLabel(f"Sweep “{self.recipe.name}”")
        title.setObjectName("pageTitle")
        intro = QLabel("Each trial is the recipe with the ticked settings changed, run and measured like a recipe run "
                       "and stored in the workspace; trial points appear on the Explore page as they finish.")
        intro.setObjectName("muted")
        intro.setWordWrap(True)
        self.name_edit = QLineEdit(f"{self.recipe.name}-sweep")
        self.name_edit.setToolTip("The sweep's name: trials are stored as NAME[setting=value, …]")
        self.grid_radio = QRadioButton("Grid: every combination")
        self.optuna_radio = QRadioButton("Optuna search: a number of trials over ranges")
        self.grid_radio.setChecked(True)
        self.mode_group = QButtonGroup(self)
        for b in (self.grid_radio, self.optuna_radio):
            self.mode_group.addButton(b)
        mode_row = QHBoxLayout()
        mode_row.addWidget(self.grid_radio)
        mode_row.addWidget(self.optuna_radio)
        mode_row.addStretch(1)
        head = QFormLayout()
        head.addRow("Name:", self.name_edit)
        head.addRow("Search:", mode_row)

        vary_box = QGroupBox("What to vary")
        vary_layout = QVBoxLayout(vary_box)
        hint = QLabel("Tick a setting to vary it. Numbers take a list of values or a range; choices take the values ticked.")
        hint.setObjectName("muted")
        hint.setWordWrap(True)
        vary_layout.addWidget(hint)
        inner = QWidget()
        steps_layout = QVBoxLayout(inner)
        steps_layout.setContentsMargins(0, 0, 6, 0)
        seen: set[str] = set()
        for i, step in enumerate(self.recipe.steps, start=1):
            steps_layout.addWidget(self._step_box(i, step, first=step.technique not in seen))
            seen.add(step.technique)
        steps_layout.addStretch(1)
        scroll = scrolled(inner)
        scroll.setMinimumWidth(420)
        vary_layout.addWidget(scroll, 1)

        side = QVBoxLayout()
        side.addWidget(self._search_box())
        side.addWidget(self._constraints_box())
        side.addWidget(self._executor_box())
        side.addStretch(1)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side.setContentsMargins(0, 0, 0, 0)
        side_widget.setFixedWidth(330)
        body = QHBoxLayout()
        body.addWidget(vary_box, 1)
        body.addWidget(side_widget)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.problems_label = QLabel()
        self.problems_label.setProperty("role", "error")
        self.problems_label.setWordWrap(True)
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Write the sweep file (the recipe inline): edgeslim-cli sweep FILE --model … --data … runs it")
        self.save_button.clicked.connect(lambda: self.save())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        self.run_button = QPushButton("Run sweep")
        self.run_button.setObjectName("primary")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.run_button)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addLayout(head)
        layout.addLayout(body, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.problems_label)
        layout.addLayout(buttons)

        self.name_edit.textEdited.connect(lambda t: self.revalidate())
        self.grid_radio.toggled.connect(lambda on: self._mode_changed())
        self._mode_changed()

    # ================================================================== building

    def _step_box(self, index: int, step, first: bool) -> QGroupBox:
        info = self.infos.get(step.technique) or step.info
        box = QGroupBox(f"{index}. {info.label}  ({step.technique})")
        grid = QGridLayout(box)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(4)
        grid.setColumnStretch(1, 1)
        grid.setColumnMinimumWidth(0, 150)  # the editors line up from one step to the next
        if not first:
            note = QLabel(f"A sweep changes the first {step.technique} step only; this one keeps its settings.")
            note.setObjectName("muted")
            note.setWordWrap(True)
            grid.addWidget(note, 0, 0, 1, 2)
            return box
        toggle = QCheckBox("Try with and without this step")
        toggle.setToolTip(f'Adds "{step.technique}" = ["on", "off"]: every other combination runs with the step and without it')
        toggle.toggled.connect(lambda on: self.revalidate())
        self.toggles[step.technique] = toggle
        state = "" if step.enabled else "  (off in the recipe: varying its settings changes nothing unless it is switched on)"
        grid.addWidget(toggle, 0, 0, 1, 2)
        if state:
            off = QLabel(state.strip())
            off.setObjectName("muted")
            off.setWordWrap(True)
            grid.addWidget(off, 1, 0, 1, 2)
        r = grid.rowCount()
        values = step.params()
        for p in info.params:
            if not can_vary(p):
                continue
            row = AxisRow(f"{step.technique}.{p.name}", p, values.get(p.name, p.default))
            row.changed.connect(self.revalidate)
            grid.addWidget(row.vary, r, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(row.editor, r, 1)
            grid.addWidget(row.current, r, 1)
            grid.addWidget(row.error, r + 1, 1)
            self.rows.append(row)
            r += 2
        return box

    def _search_box(self) -> QGroupBox:
        self.search_box = QGroupBox("Optuna search")
        form = QFormLayout(self.search_box)
        self.sampler = QComboBox()
        for i, (key, label, tip) in enumerate(SAMPLERS):
            self.sampler.addItem(label, key)
            self.sampler.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.sampler.setToolTip("\n".join(f"{label}: {tip}" for _, label, tip in SAMPLERS))
        self.trials = QSpinBox()
        self.trials.setRange(1, 10_000)
        self.trials.setValue(12)
        self.trials.setToolTip("How many trials Optuna runs (each is a full run of the recipe)")
        self.objective_boxes: dict[str, QCheckBox] = {}
        objectives = QGridLayout()
        objectives.setContentsMargins(0, 0, 0, 0)
        for i, (key, (label, tip)) in enumerate(OBJECTIVE_LABELS.items()):
            box = QCheckBox(label)
            box.setToolTip(f"{label}, {tip}")
            box.setChecked(key in ("accuracy", "size"))
            box.toggled.connect(lambda on: self.revalidate())
            self.objective_boxes[key] = box
            objectives.addWidget(box, i // 2, i % 2)
        self.sampler.currentIndexChanged.connect(lambda i: self.revalidate())
        self.trials.valueChanged.connect(lambda v: self.revalidate())
        form.addRow("Sampler:", self.sampler)
        form.addRow("Trials:", self.trials)
        form.addRow("Objectives:", objectives)
        return self.search_box

    def _limit(self, box_text: str, unit: str, decimals: int, maximum: float, value: float, tip: str):
        check = QCheckBox(box_text)
        spin = QDoubleSpinBox()
        spin.setDecimals(decimals)
        spin.setRange(0.0, maximum)
        spin.setValue(value)
        spin.setSuffix(f" {unit}")
        spin.setEnabled(False)
        spin.setFixedWidth(120)
        spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        check.setToolTip(tip)
        spin.setToolTip(tip)
        check.toggled.connect(spin.setEnabled)
        check.toggled.connect(lambda on: self.revalidate())
        spin.valueChanged.connect(lambda v: self.revalidate())
        return check, spin

    def _constraints_box(self) -> QGroupBox:
        box = QGroupBox("Constraints")
        form = QFormLayout(box)
        self.max_size = self._limit("Max file size", "MiB", 3, 1e6, 1.0,
                                    "Trials whose ONNX file is larger are infeasible: kept off the front, and Optuna steers away")
        self.max_latency = self._limit("Max latency", "ms", 3, 1e6, 10.0, "ONNX Runtime median latency on this machine")
        self.min_accuracy = self._limit("Min accuracy", "%", 2, 100.0, 90.0, "Top-1 accuracy on the validation split")
        for check, spin in (self.max_size, self.max_latency, self.min_accuracy):
            form.addRow(check, spin)
        return box

    def _executor_box(self) -> QGroupBox:
        box = QGroupBox("Run trials")
        grid = QGridLayout(box)
        self.inprocess_radio = QRadioButton("In the app's worker, one at a time")
        self.inprocess_radio.setToolTip("Shares the loaded model and data; Cancel stops the running trial within a batch")
        self.pool_radio = QRadioButton("Local worker processes:")
        self.pool_radio.setToolTip("Trials in parallel on this machine; each process loads the model and data once")
        self.dask_radio = QRadioButton("Dask cluster:")
        self.dask_radio.setToolTip("tcp://HOST:8786 for a running scheduler (workers need EdgeSlim and the workspace folder "
                                   "at the same path), or local:N for a cluster of N processes here")
        self.inprocess_radio.setChecked(True)
        self.executor_group = QButtonGroup(self)
        for b in (self.inprocess_radio, self.pool_radio, self.dask_radio):
            self.executor_group.addButton(b)
            b.toggled.connect(lambda on: self._executor_changed())
        self.workers = QSpinBox()
        self.workers.setRange(2, 256)
        self.workers.setValue(2)
        self.workers.setFixedWidth(80)
        self.workers.valueChanged.connect(lambda v: self.revalidate())
        self.address = QLineEdit()
        self.address.setPlaceholderText("tcp://host:8786 or local:2")
        self.address.textEdited.connect(lambda t: self.revalidate())
        grid.addWidget(self.inprocess_radio, 0, 0, 1, 2)
        grid.addWidget(self.pool_radio, 1, 0)
        grid.addWidget(self.workers, 1, 1, Qt.AlignmentFlag.AlignLeft)
        grid.addWidget(self.dask_radio, 2, 0, 1, 2)
        address_row = QHBoxLayout()
        address_row.setContentsMargins(24, 0, 0, 0)  # under its radio button
        address_row.addWidget(self.address)
        grid.addLayout(address_row, 3, 0, 1, 2)
        grid.setColumnStretch(1, 1)
        self.workers.setEnabled(False)
        self.address.setEnabled(False)
        return box

    def _executor_changed(self) -> None:
        self.workers.setEnabled(self.pool_radio.isChecked())
        self.address.setEnabled(self.dask_radio.isChecked())
        self.revalidate()

    # ================================================================== reading the form

    @property
    def mode(self) -> str:
        return "grid" if self.grid_radio.isChecked() else "optuna"

    def _mode_changed(self) -> None:
        for row in self.rows:
            row.editor.set_mode(self.mode)
        self.search_box.setEnabled(self.mode == "optuna")
        self.search_box.setTitle("Optuna search" + ("" if self.mode == "optuna" else " (choose Optuna above)"))
        self.revalidate()

    def row(self, key: str) -> AxisRow:
        """The row of ``technique.param`` (for callers that fill the form, and tests)."""
        return next(r for r in self.rows if r.key == key)

    def toggle(self, technique: str) -> QCheckBox:
        return self.toggles[technique]

    def executor(self) -> dict:
        """``{"kind": "inprocess"}``, ``{"kind": "pool", "workers": N}`` or ``{"kind": "dask", "address": A}``."""
        if self.pool_radio.isChecked():
            return {"kind": "pool", "workers": self.workers.value()}
        if self.dask_radio.isChecked():
            return {"kind": "dask", "address": self.address.text().strip()}
        return {"kind": "inprocess"}

    def _constraints(self) -> dict[str, float]:
        out: dict[str, float] = {}
        check, spin = self.max_size
        if check.isChecked():
            out[MAX_SIZE_KEY] = int(round(spin.value() * MIB))
        check, spin = self.max_latency
        if check.isChecked():
            out[MAX_LATENCY_KEY] = round(spin.value(), 3)
        check, spin = self.min_accuracy
        if check.isChecked():
            out[MIN_ACCURACY_KEY] = round(spin.value() / 100.0, 4)
        return out

    # ================================================================== checking

    def revalidate(self) -> None:
        """Rebuild the spec from the form; mark the fields and list what stops the sweep."""
        problems: list[str] = []
        axes: dict = {}
        for row in self.rows:
            values, error = row.axis()
            row.show_error(error)
            if error:
                problems.append(f"{row.info.spec.label} ({row.key.rsplit('.', 1)[0]}): {error}")
            elif values is not None:
                axes[row.key] = values
        for technique, box in self.toggles.items():
            if box.isChecked():
                axes[technique] = [ON, OFF]
        name = self.name_edit.text().strip()
        set_invalid(self.name_edit, not name)
        if not name:
            problems.append("Give the sweep a name")
        objectives = [k for k, b in self.objective_boxes.items() if b.isChecked()]
        spec = SweepSpec(name=name or "sweep", recipe_toml=self.recipe_toml, mode=self.mode, axes=axes,
                         trials=self.trials.value(), sampler=self.sampler.currentData(), objectives=objectives,
                         constraints=self._constraints())
        if not problems:
            problems += self._sweep_problems(spec, objectives)
        address_problem = self._address_problem()
        if address_problem:
            problems.append(address_problem)
        self._problems = problems
        self._spec = spec if not problems else None
        self._show_summary(spec, problems)
        ok = not problems
        self.run_button.setEnabled(ok)
        self.save_button.setEnabled(ok)
        self.validity_changed.emit(ok)

    def _sweep_problems(self, spec: SweepSpec, objectives: list[str]) -> list[str]:
        if not spec.axes:
            return ["Tick at least one setting to vary, or try a step with and without"]
        if spec.mode == "grid" and spec.grid_size() < 2:
            return ["This grid is a single run: give a setting two or more values (a single run belongs on the Compress page)"]
        if spec.mode == "optuna":
            if not 2 <= len(objectives) <= 3:
                return [f"Choose two or three objectives for the search ({len(objectives)} ticked)"]
            if spec.trials < 2:
                return ["An Optuna search needs at least two trials"]
        try:
            spec.check()
        except EdgeSlimError as exc:
            return [str(exc).replace(f"sweep {spec.name}: ", "", 1)]
        return []

    def _address_problem(self) -> str:
        bad = self.dask_radio.isChecked() and not _ADDRESS.match(self.address.text().strip())
        set_invalid(self.address, bad)
        self.address.setToolTip("tcp://HOST:PORT of a running scheduler, or local:N for N processes on this machine")
        return "Give the Dask scheduler as tcp://HOST:PORT, or local:N for N processes on this machine" if bad else ""

    def _show_summary(self, spec: SweepSpec, problems: list[str]) -> None:
        if spec.mode == "grid":
            counts = [f"{len(v)} {_short(k)}" for k, v in spec.axes.items() if isinstance(v, list)]
            n = spec.grid_size()
            text = f"<b>{n} trial{'s' if n != 1 else ''}</b>" + (f" ({' × '.join(counts)})" if len(counts) > 1 else "")
            if n > BIG_GRID:
                text += " — a large grid: each trial is a full run, consider an Optuna search"
        else:
            objectives = " vs ".join(spec.objectives) or "no objectives"
            text = f"<b>{spec.trials} trials</b>, {self.sampler.currentText().split(' (')[0]}, {objectives}"
        where = {"inprocess": "one at a time in the app's worker", "pool": f"on {self.workers.value()} local processes",
                 "dask": f"on the Dask cluster {self.address.text().strip()}".rstrip()}[self.executor()["kind"]]
        self.summary.setText(f"{text}, {where}.")
        self.problems_label.setText("<br>".join(f"⚠ {p}" for p in problems[:4]))
        self.problems_label.setVisible(bool(problems))

    # ================================================================== results

    def problems(self) -> list[str]:
        return list(self._problems)

    def is_valid(self) -> bool:
        return not self._problems

    def trial_count(self) -> int:
        return self._spec.size() if self._spec is not None else 0

    def spec(self) -> SweepSpec:
        """The sweep as built; raises :class:`EdgeSlimError` with the first problem while the form has one."""
        if self._spec is None:
            raise EdgeSlimError(self._problems[0] if self._problems else "the sweep is not complete")
        return self._spec

    def sweep_toml(self) -> str:
        """The sweep file text (the CLI's format, the base recipe inline)."""
        return self.spec().to_toml()

    def save(self, path: Optional[str | Path] = None) -> Optional[Path]:
        """Write the sweep file (a file dialog when ``path`` is None); returns where, or None."""
        if not self.is_valid():
            return None
        if path is None:
            start = self.saved_path or Path.home() / f"{self.spec().name}.toml"
            path = ask_save_toml(self, "Save the sweep", start, SWEEP_FILTER)
            if path is None:
                return None
        from core.fileio import atomic_write_text

        try:
            self.saved_path = atomic_write_text(Path(path), self.sweep_toml())
        except OSError as exc:
            self.problems_label.setText(f"⚠ Could not save the sweep to {path}: {exc}")
            self.problems_label.setVisible(True)
            return None
        self.summary.setText(self.summary.text() + f" Saved to <code>{self.saved_path}</code>.")
        return self.saved_path

    def accept(self) -> None:  # noqa: D401 (Qt name)
        if self.is_valid():
            super().accept()


def _short(key: str) -> str:
    """``prune.structured.ratio`` -> ``ratio``; a step toggle says so (``quantize.static on/off``)."""
    from core.techniques import names

    return f"{key} on/off" if key in names() else key.rsplit(".", 1)[-1]
