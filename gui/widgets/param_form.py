"""A form generated from a technique's parameters (``core.techniques.ParamInfo``).

Bounded numbers get a slider with a spin box, choices a combo box, flags a check
box, text and name lists a line edit; every label and editor carries the help
text as a tooltip. The form never decides what is allowed: it reports each edit
as ``value_changed(name, value)`` (the value as typed when it is not a number)
and shows the errors it is given, marking the field and printing the rule
under it.
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from gui.style import set_invalid

HELP_HINT = "Point at a field to read what it does."
SLIDER_STEPS = 1000
_PARTIAL_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d*)?([eE][+-]?\d*)?")


def decimals_for(*numbers: Optional[float]) -> int:
    """Enough decimals to show every one of ``numbers`` exactly (at most 8)."""
    best = 0
    for n in numbers:
        if n is None or n == 0 or float(n).is_integer():
            continue
        text = f"{abs(float(n)):.10f}".rstrip("0")
        best = max(best, len(text.split(".")[1]) if "." in text else 0)
    return min(best, 8)


def format_number(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class NumberBox(QDoubleSpinBox):
    """A spin box that lets any number be typed (so an out-of-range one can be shown as wrong).

    The arrows and the wheel stay inside ``lo..hi``; what is typed is reported
    as it is, and the form marks it when the rule rejects it.
    """

    def __init__(self, kind: str, lo: Optional[float], hi: Optional[float], step: Optional[float], default: Any) -> None:
        super().__init__()
        self.kind, self.lo, self.hi = kind, lo, hi
        self.setDecimals(0 if kind == "int" else max(decimals_for(step, lo, hi, default), 1))
        self.setRange(-1e15, 1e15)
        self.setSingleStep(step or 1)
        self.setKeyboardTracking(True)
        self.setAccelerated(True)
        self.setButtonSymbols(QDoubleSpinBox.ButtonSymbols.UpDownArrows)
        self.setMinimumWidth(76)  # shrinks with a narrow form rather than pushing it past its box
        self.setMaximumWidth(112)
        self.setAlignment(Qt.AlignmentFlag.AlignRight)

    def validate(self, text: str, pos: int):  # noqa: D401 (Qt name)
        t = text.strip()
        if self.kind == "int" and any(c in t for c in ".eE"):
            return QValidator.State.Invalid, text, pos  # whole numbers only
        try:
            float(t)
            return QValidator.State.Acceptable, text, pos
        except ValueError:
            pass
        if _PARTIAL_NUMBER.fullmatch(t):
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Invalid, text, pos

    def valueFromText(self, text: str) -> float:  # noqa: N802 (Qt name)
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt name)
        return format_number(value, self.decimals())

    def fixup(self, text: str) -> str:
        return text

    def stepBy(self, steps: int) -> None:  # noqa: N802 (Qt name)
        value = self.value() + steps * self.singleStep()
        if self.lo is not None:
            value = max(value, self.lo)
        if self.hi is not None:
            value = min(value, self.hi)
        self.setValue(value)

    def stepEnabled(self):  # noqa: N802 (Qt name)
        flags = QDoubleSpinBox.StepEnabledFlag.StepNone
        if self.hi is None or self.value() < self.hi:
            flags |= QDoubleSpinBox.StepEnabledFlag.StepUpEnabled
        if self.lo is None or self.value() > self.lo:
            flags |= QDoubleSpinBox.StepEnabledFlag.StepDownEnabled
        return flags


class ParamField(QWidget):
    """One parameter's editor with its error line."""

    changed = Signal(str, object)  # name, value (a number, a bool, a choice, text, or a tuple of names)

    def __init__(self, info, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        from core.techniques.base import allowed_text

        self.info = info
        spec = info.spec
        self.slider: Optional[QSlider] = None
        self.log_scale = False
        self._updating = False
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        kind = info.kind
        if kind in ("float", "int"):
            self.editor = NumberBox(kind, spec.min, spec.max, spec.step, info.default)
            if spec.min is not None and spec.max is not None and spec.max > spec.min:
                self.slider = QSlider(Qt.Orientation.Horizontal)
                self.log_scale = spec.min > 0 and spec.max / spec.min >= 1000
                self.slider.setRange(0, SLIDER_STEPS if (kind == "float" or self.log_scale) else int(spec.max - spec.min))
                if kind == "int" and not self.log_scale and spec.max - spec.min > SLIDER_STEPS:
                    self.slider.setRange(0, SLIDER_STEPS)
                self.slider.setMinimumWidth(32)
                self.slider.valueChanged.connect(self._slider_moved)
                row.addWidget(self.slider, 1)
            self.editor.valueChanged.connect(self._number_changed)
            self.editor.lineEdit().textEdited.connect(self._number_text)
            row.addWidget(self.editor)
            if spec.unit:
                unit = QLabel(spec.unit)
                unit.setMinimumWidth(unit.sizeHint().width())  # a narrow form squeezes the editor, never the unit
                row.addWidget(unit)
            if self.slider is None:
                row.addStretch(1)
        elif kind == "choice":
            self.editor = QComboBox()
            self.editor.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            self.editor.setMinimumContentsLength(6)  # long choices elide rather than widen the form
            for choice in spec.choices:
                self.editor.addItem(str(choice), choice)
            self.editor.currentIndexChanged.connect(lambda i: self._emit(self.editor.itemData(i)))
            row.addWidget(self.editor, 1)
        elif kind == "bool":
            self.editor = QCheckBox()
            self.editor.toggled.connect(lambda on: self._emit(bool(on)))
            row.addWidget(self.editor, 1)
        else:  # text, list
            self.editor = QLineEdit()
            if kind == "list":
                self.editor.setPlaceholderText("names separated by commas, e.g. layer1.0.conv1, fc")
            self.editor.textEdited.connect(self._text_changed)
            row.addWidget(self.editor, 1)
        tip = f"{spec.help}\n\nAllowed: {allowed_text(info)}. Default: {self.display(info.default)}."
        self.editor.setToolTip(tip)
        if self.slider is not None:
            self.slider.setToolTip(tip)
        self.tooltip = tip
        self.error = QLabel()
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        self.error.setVisible(False)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addLayout(row)
        box.addWidget(self.error)
        self.set_value(info.default)

    # ------------------------------------------------------------------ values

    @staticmethod
    def display(value: Any) -> str:
        if isinstance(value, (tuple, list)):
            return ", ".join(map(str, value)) if value else "(none)"
        if isinstance(value, bool):
            return "on" if value else "off"
        return str(value) if value != "" else "(empty)"

    def set_value(self, value: Any) -> None:
        """Show ``value`` without reporting it back."""
        self._updating = True
        try:
            kind = self.info.kind
            if kind in ("float", "int"):
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.editor.setValue(float(value))
                    self._sync_slider(float(value))
                else:
                    self.editor.lineEdit().setText(str(value))
            elif kind == "choice":
                i = self.editor.findData(value)
                if i >= 0:
                    self.editor.setCurrentIndex(i)
            elif kind == "bool":
                self.editor.setChecked(bool(value))
            elif kind == "list":
                self.editor.setText(", ".join(value) if isinstance(value, (list, tuple)) else str(value))
            else:
                self.editor.setText(str(value))
        finally:
            self._updating = False

    def set_error(self, text: Optional[str]) -> None:
        set_invalid(self.editor, bool(text))
        self.error.setText(text or "")
        self.error.setVisible(bool(text))

    def _emit(self, value: Any) -> None:
        if not self._updating:
            self.changed.emit(self.info.name, value)

    def _number_changed(self, value: float) -> None:
        self._sync_slider(value)
        if self.info.kind == "int" and float(value).is_integer():
            value = int(value)
        self._emit(value)

    def _number_text(self, text: str) -> None:
        try:
            float(text.strip())
        except ValueError:
            self._emit(text)  # not a number yet: reported as typed, so the rule is shown

    def _text_changed(self, text: str) -> None:
        if self.info.kind == "list":
            self._emit(tuple(part.strip() for part in text.split(",") if part.strip()))
        else:
            self._emit(text)

    # ------------------------------------------------------------------ slider mapping

    def _to_slider(self, value: float) -> int:
        lo, hi = float(self.info.spec.min), float(self.info.spec.max)
        value = min(max(value, lo), hi)
        top = self.slider.maximum()
        if self.log_scale:
            return round(top * (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo)))
        return round(top * (value - lo) / (hi - lo))

    def _from_slider(self, pos: int) -> float:
        lo, hi = float(self.info.spec.min), float(self.info.spec.max)
        top = self.slider.maximum()
        if self.log_scale:
            value = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * pos / top)
            digits = max(0, 1 - math.floor(math.log10(value)))  # two significant digits
            return round(value, digits)
        value = lo + (hi - lo) * pos / top
        step = self.info.spec.step
        if step:
            value = lo + round((value - lo) / step) * step
        return round(value, self.editor.decimals())

    def _sync_slider(self, value: float) -> None:
        if self.slider is not None:
            self.slider.blockSignals(True)
            self.slider.setValue(self._to_slider(value))
            self.slider.blockSignals(False)

    def _slider_moved(self, pos: int) -> None:
        if not self._updating:
            self.editor.setValue(self._from_slider(pos))


class _HelpOnFocus(QObject):
    """Shows the focused field's help under the form."""

    def __init__(self, form: "ParamForm", field: ParamField) -> None:
        super().__init__(field)
        self.form, self.field = form, field

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() in (QEvent.Type.FocusIn, QEvent.Type.Enter):
            self.form.show_help(self.field)
        return False


class ParamForm(QWidget):
    """The editors of one step's parameters, built from its technique's ``ParamInfo`` list."""

    value_changed = Signal(str, object)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.fields: dict[str, ParamField] = {}
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # narrow: the label above its field
        self.form.setHorizontalSpacing(12)
        self.form.setVerticalSpacing(8)
        self.step_error = QLabel()
        self.step_error.setProperty("role", "error")
        self.step_error.setWordWrap(True)
        self.step_error.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.step_error)
        layout.addLayout(self.form)
        layout.addStretch(1)
        self.help_target: Optional[QLabel] = None  # shows the help of the field pointed at (HELP_HINT before)

    def build(self, params, values: dict, errors: dict) -> None:
        """Replace the editors with those of ``params``, showing ``values`` and ``errors``."""
        if self.help_target is not None:  # the help of a field of the previous form does not stay under this one
            self.help_target.setText(HELP_HINT)
        while self.form.rowCount():
            self.form.removeRow(0)
        self.fields = {}
        for info in params:
            field = ParamField(info)
            field.set_value(values.get(info.name, info.default))
            field.changed.connect(self.value_changed)
            label = QLabel(info.spec.label + ":")
            label.setToolTip(field.tooltip)
            label.setBuddy(field.editor)
            filt = _HelpOnFocus(self, field)
            field.editor.installEventFilter(filt)
            label.installEventFilter(filt)
            self.form.addRow(label, field)
            field.show()  # at once, not at the next event-loop turn (the error line may need showing first)
            self.fields[info.name] = field
        self.set_errors(errors)

    def set_errors(self, errors: dict) -> None:
        for name, field in self.fields.items():
            field.set_error(errors.get(name))
        cross = errors.get("")
        self.step_error.setText(cross or "")
        self.step_error.setVisible(bool(cross))

    def set_values(self, values: dict) -> None:
        for name, field in self.fields.items():
            if name in values:
                field.set_value(values[name])

    def show_help(self, field: ParamField) -> None:
        if self.help_target is not None:
            from core.techniques.base import allowed_text

            self.help_target.setText(f"<b>{field.info.spec.label}</b> — {field.info.spec.help}. "
                                     f"<span style='color:#5f6b76'>Allowed: {allowed_text(field.info)}.</span>")
