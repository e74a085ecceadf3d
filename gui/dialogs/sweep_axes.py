"""One row per recipe field in the sweep dialog: tick it to vary it, then say how.

Numbers take a list of values or a range (min / max, plus a count for a
grid); choices and flags take the values ticked. A row turns what is typed
into sweep values and says what is wrong in words; each value is checked with
core's own rule for the field (``coerce_value``), so a row never invents a
limit of its own.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QSpinBox, QWidget

from core.pipeline.sweep_spec import Range, grid_values
from gui.style import set_invalid
from gui.widgets.param_form import NumberBox, ParamField

VARIABLE_KINDS = ("float", "int", "choice", "bool")
GRID_COUNT_DEFAULT = 3
_SPLIT = re.compile(r"[,;\s]+")


def can_vary(info) -> bool:
    """Numbers, choices and flags can be swept; names and free text cannot."""
    return info.kind in VARIABLE_KINDS


def _show(value: Any) -> str:
    return ParamField.display(value)


class AxisEditor(QWidget):
    """How one field varies (the editors after its tick box); ``changed`` on every edit."""

    changed = Signal()

    def __init__(self, info, current: Any, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.info, self.current = info, current
        self.mode = "grid"
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        self.boxes: list[QCheckBox] = []
        if info.kind in ("float", "int"):
            spec = info.spec
            self.how = QComboBox()
            self.how.addItem("Values", "values")
            self.how.addItem("Range", "range")
            self.how.setToolTip("Values: the ones listed. Range: from min to max (a grid takes evenly spaced points; "
                                "Optuna picks anywhere in between)")
            self.values = QLineEdit(_show(current))
            self.values.setPlaceholderText("e.g. " + ("2, 4, 8" if info.kind == "int" else "0.25, 0.5, 0.75"))
            self.values.setToolTip("Values separated by commas")
            lo = spec.min if spec.min is not None else (current / 2 if isinstance(current, (int, float)) and current else 0)
            hi = spec.max if spec.max is not None else (current * 2 if isinstance(current, (int, float)) and current else 1)
            self.low = NumberBox(info.kind, spec.min, spec.max, spec.step, current)
            self.high = NumberBox(info.kind, spec.min, spec.max, spec.step, current)
            self.low.setValue(float(lo))
            self.high.setValue(float(hi))
            for box in (self.low, self.high):
                box.setFixedWidth(84)
            self.count = QSpinBox()
            self.count.setRange(2, 50)
            self.count.setValue(GRID_COUNT_DEFAULT)
            self.count.setToolTip("Evenly spaced points from min to max, both included")
            self.min_label, self.max_label, self.count_label = QLabel("min"), QLabel("max"), QLabel("points")
            for w in (self.how, self.values, self.min_label, self.low, self.max_label, self.high, self.count_label, self.count):
                row.addWidget(w)
            row.addStretch(1)
            self.how.currentIndexChanged.connect(lambda i: (self._layout(), self.changed.emit()))
            self.values.textEdited.connect(lambda t: self.changed.emit())
            for box in (self.low, self.high):
                box.valueChanged.connect(lambda v: self.changed.emit())
                box.lineEdit().textEdited.connect(lambda t: self.changed.emit())
            self.count.valueChanged.connect(lambda v: self.changed.emit())
        else:
            choices = list(info.spec.choices) if info.kind == "choice" else [True, False]
            for choice in choices:
                box = QCheckBox(_show(choice))
                box.setProperty("value", choice)
                box.setChecked(True)
                box.toggled.connect(lambda on: self.changed.emit())
                self.boxes.append(box)
                row.addWidget(box)
            row.addStretch(1)
        self._layout()

    # ------------------------------------------------------------------ state

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self._layout()

    def _is_range(self) -> bool:
        return self.info.kind in ("float", "int") and self.how.currentData() == "range"

    def _layout(self) -> None:
        if self.info.kind not in ("float", "int"):
            return
        ranged = self._is_range()
        self.values.setVisible(not ranged)
        for w in (self.min_label, self.low, self.max_label, self.high):
            w.setVisible(ranged)
        for w in (self.count_label, self.count):
            w.setVisible(ranged and self.mode == "grid")

    def set_values(self, values: list) -> None:
        """Show ``values`` as a list (numbers) or as the ticked choices."""
        if self.info.kind in ("float", "int"):
            self.how.setCurrentIndex(0)
            self.values.setText(", ".join(_show(v) for v in values))
        else:
            for box in self.boxes:
                box.setChecked(box.property("value") in values)
        self.changed.emit()

    def set_range(self, low: float, high: float, count: int = GRID_COUNT_DEFAULT) -> None:
        self.how.setCurrentIndex(1)
        self.low.setValue(low)
        self.high.setValue(high)
        self.count.setValue(count)
        self.changed.emit()

    # ------------------------------------------------------------------ reading

    def axis(self) -> tuple[Any, str]:
        """``(values, "")`` — a list, or a :class:`Range` for Optuna — or ``(None, what is wrong)``."""
        if self.info.kind not in ("float", "int"):
            picked = [b.property("value") for b in self.boxes if b.isChecked()]
            return (picked, "") if picked else (None, "tick at least one value")
        if self._is_range():
            return self._range()
        return self._list()

    def _number(self, text: str) -> tuple[Any, str]:
        from core.techniques.base import coerce_value

        try:
            x = float(text)
        except ValueError:
            return None, f"{text!r} is not a number"
        if self.info.kind == "int" and x.is_integer():
            x = int(x)
        try:
            return coerce_value(self.info, x), ""
        except ValueError as exc:
            return None, str(exc)

    def _list(self) -> tuple[Any, str]:
        parts = [p for p in _SPLIT.split(self.values.text().strip()) if p]
        if not parts:
            return None, "give one or more values, separated by commas"
        out = []
        for part in parts:
            v, err = self._number(part)
            if err:
                return None, err
            if v not in out:
                out.append(v)
        return out, ""

    def _range(self) -> tuple[Any, str]:
        low, err = self._number(self.low.lineEdit().text().strip())
        if not err:
            high, err = self._number(self.high.lineEdit().text().strip())
        if err:
            return None, err
        if low >= high:
            return None, "min must be below max"
        if self.mode == "grid":
            return grid_values(low, high, self.count.value(), integer=self.info.kind == "int"), ""
        if self.info.kind == "float":
            low, high = float(low), float(high)
        return Range(low, high), ""

    def mark(self, invalid: bool) -> None:
        for w in (getattr(self, "values", None), getattr(self, "low", None), getattr(self, "high", None)):
            if w is not None:
                set_invalid(w, invalid and w.isVisible())


class AxisRow:
    """A field's tick box, its editor (shown while ticked), the recipe's value, and its error line."""

    def __init__(self, key: str, info, current: Any) -> None:
        from core.techniques.base import allowed_text

        self.key, self.info = key, info
        self.vary = QCheckBox(info.spec.label)
        tip = f"{info.spec.help}\n\nAllowed: {allowed_text(info)}. In the recipe: {_show(current)}."
        self.vary.setToolTip(tip)
        self.editor = AxisEditor(info, current)
        self.editor.setToolTip(tip)
        self.current = QLabel(f"recipe: {_show(current)}")
        self.current.setObjectName("muted")
        self.error = QLabel()
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        self.vary.toggled.connect(self._toggled)
        self._toggled(False)

    @property
    def changed(self):
        return self.editor.changed

    def _toggled(self, on: bool) -> None:
        self.editor.setVisible(on)
        self.current.setVisible(not on)
        self.error.setVisible(False)
        self.editor.changed.emit()

    def axis(self) -> tuple[Any, str]:
        if not self.vary.isChecked():
            return None, ""
        return self.editor.axis()

    def show_error(self, text: str) -> None:
        on = bool(text) and self.vary.isChecked()
        self.error.setText(text if on else "")
        self.error.setVisible(on)
        self.editor.mark(on)
