"""The Compress page's two editor boxes: the Recipe (name, menus, files, step list, problems, estimate) and the
selected step's settings (title, summary, generated form, help line, reset).

Only widgets; the page connects them to its recipe draft.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.param_form import HELP_HINT, ParamForm
from gui.widgets.scroll import scrolled
from gui.widgets.step_list import StepList

NAMES = ("name_edit", "add_button", "add_menu", "preset_button", "preset_menu", "open_button", "save_button", "steps",
         "up_button", "down_button", "remove_button", "problems_label", "estimate_label")


class RecipeBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Recipe", parent)
        self.name_edit = QLineEdit("recipe")
        self.name_edit.setToolTip("The recipe's name: stored with every run and written to the TOML file")
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
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save the recipe as TOML (runs with edgeslim-cli run RECIPE --model … --data …)")
        tools = QHBoxLayout()
        for w in (self.add_button, self.preset_button, self.open_button, self.save_button):
            tools.addWidget(w)
        tools.addStretch(1)

        self.steps = StepList()
        self.steps.setMinimumHeight(120)
        self.up_button = QPushButton("Move up")
        self.down_button = QPushButton("Move down")
        self.remove_button = QPushButton("Remove")
        hint = QLabel("Drag to reorder · untick to skip")
        hint.setObjectName("muted")
        hint.setWordWrap(True)  # two short lines rather than a cut one when the box is narrow
        self.steps.setToolTip(hint.text())
        step_buttons = QHBoxLayout()
        for w in (self.up_button, self.down_button, self.remove_button):
            step_buttons.addWidget(w)
        step_buttons.addWidget(hint, 1)
        self.problems_label = QLabel()
        self.problems_label.setProperty("role", "error")
        self.problems_label.setWordWrap(True)
        self.problems_label.setVisible(False)
        self.estimate_label = QLabel()
        self.estimate_label.setObjectName("muted")
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setTextFormat(Qt.TextFormat.RichText)
        self.estimate_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.estimate_label.setContentsMargins(6, 6, 6, 6)  # shown by the page in its own scrolling tab
        name_row = QFormLayout()
        name_row.addRow("Name:", self.name_edit)

        rl = QVBoxLayout(self)
        rl.addLayout(name_row)
        rl.addLayout(tools)
        rl.addWidget(self.steps, 1)
        rl.addLayout(step_buttons)
        rl.addWidget(self.problems_label)

    def fill_menus(self, techniques: list, presets, examples, add_step, load_preset, open_recipe) -> None:
        """Add step: one action per technique, grouped by family; Presets: the presets and the example files."""
        self.add_menu.clear()
        family = None
        for info in techniques:
            if info.family != family:
                family = info.family
                self.add_menu.addSection(family)
            action = self.add_menu.addAction(f"{info.label}  ({info.name})")
            action.setToolTip(info.summary)
            action.setStatusTip(info.summary)
            action.triggered.connect(lambda checked=False, name=info.name: add_step(name))
        self.add_menu.setToolTipsVisible(True)
        self.preset_menu.clear()
        for preset in presets:
            action = self.preset_menu.addAction(preset.name)
            action.setToolTip(preset.description)
            action.setStatusTip(preset.description)
            action.triggered.connect(lambda checked=False, name=preset.name: load_preset(name))
        if examples:
            sub = self.preset_menu.addMenu("Example recipe files")
            for path in examples:
                sub.addAction(path.stem, lambda p=path: open_recipe(p))
        self.preset_menu.setToolTipsVisible(True)


class StepSettingsBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Step settings", parent)
        self.step_title = QLabel("<b>No step selected</b>")
        self.step_title.setWordWrap(True)
        self.step_summary = QLabel("Add a step with <b>Add step</b>, or start from a preset.")
        self.step_summary.setObjectName("muted")
        self.step_summary.setWordWrap(True)
        self.form = ParamForm()
        scroll = scrolled(self.form, horizontal=False)  # the fields shrink to the box (ParamForm), never a side bar
        self.help_label = QLabel(HELP_HINT)
        self.help_label.setObjectName("muted")
        self.help_label.setWordWrap(True)
        self.help_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.form.help_target = self.help_label
        self.reset_button = QPushButton("Reset to defaults")
        reset_row = QHBoxLayout()
        reset_row.addWidget(self.help_label, 1)
        reset_row.addWidget(self.reset_button, 0, Qt.AlignmentFlag.AlignTop)
        sl = QVBoxLayout(self)
        sl.addWidget(self.step_title)
        sl.addWidget(self.step_summary)
        sl.addWidget(scroll, 1)
        sl.addLayout(reset_row)
