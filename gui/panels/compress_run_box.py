"""The Compress page's Run box: Run and Cancel, the measurement settings, one bar, the stage line and the log.

It only draws a :class:`gui.pages.compress_model.RunState`; the page wires the buttons.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.icons import icon
from gui.pages.compress_model import RunState
from gui.widgets.scroll import scrolled


class RunBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Run", parent)
        self.run_button = QPushButton(icon("run"), "Run")
        self.run_button.setObjectName("primary")
        self.run_button.setToolTip("Apply the recipe to a copy of the current model and measure every step (Ctrl+R)")
        self.cancel_button = QPushButton(icon("stop"), "Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the run within a batch; what finished stays stored")
        self.threads = QSpinBox()
        self.threads.setRange(1, 256)
        self.threads.setValue(2)
        self.threads.setToolTip("CPU threads for training and for the latency measurement")
        self.device = QComboBox()
        for value, label in (("auto", "Auto"), ("cpu", "CPU"), ("cuda", "CUDA GPU")):
            self.device.addItem(label, value)
        self.device.setToolTip("Where training steps run: Auto uses an NVIDIA GPU when PyTorch sees one, else the CPU. "
                               "Accuracy and latency are always measured the same way (ONNX Runtime on the CPU)")
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
        measure.addSpacing(6)
        measure.addWidget(QLabel("Train on:"))
        measure.addWidget(self.device)
        measure.addSpacing(6)
        repeats_label = QLabel("Repeats:")
        repeats_label.setToolTip(self.repeats.toolTip())
        measure.addWidget(repeats_label)
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
        self.time_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.stage_label = QLabel("Not running")
        self.stage_label.setObjectName("muted")
        self.stage_bar = self.overall  # one bar per task: the stage's own progress is in the stage line
        overall_row = QHBoxLayout()
        overall_row.addWidget(self.overall, 1)
        overall_row.addWidget(self.time_label)
        self.stage_label.setWordWrap(True)
        self.log = QPlainTextEdit()
        self.log.setObjectName("log")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setMinimumHeight(48)
        self.log.setPlaceholderText("The run's log: each stage, each finished step with its numbers, and any problem.")
        rb = QVBoxLayout(self)
        rb.setSpacing(4)
        rb.addLayout(controls)
        rb.addLayout(measure)
        rb.addWidget(self.reason_label)
        rb.addLayout(overall_row)
        rb.addWidget(self.stage_label)
        rb.addWidget(self.log, 1)

    def show_state(self, state: RunState) -> None:
        """Draw the bars, the stage line and the clock from ``state``."""
        self.overall.setValue(int(1000 * state.overall))
        step = f" · {100 * state.stage_fraction:.0f} % of this step" if state.running and 0 < state.stage_fraction < 1 else ""
        self.stage_label.setText(state.stage_text + step)
        self.time_label.setText(state.time_text())

    def reset_bars(self, running: bool) -> None:
        self.overall.setValue(0)
        self.overall.setFormat("Recipe: %p %" if running else "not running")

    def set_running(self, running: bool, reason: str, can_cancel: bool) -> None:
        """Buttons and settings for the run state; ``reason``: why Run is not possible ("" when it is)."""
        self.run_button.setEnabled(not reason)
        self.cancel_button.setEnabled(can_cancel)
        self.reason_label.setText("" if (not reason or running) else reason)
        self.reason_label.setVisible(bool(reason) and not running)
        for w in (self.threads, self.device, self.repeats, self.reuse):
            w.setEnabled(not running)


class RunArea(QSplitter):
    """The page's lower half: the Run box beside a tab pair, the recipe's estimate and the run's result.

    The estimate sits in its own scrolling tab (it no longer pushes the step list about when it updates);
    a run's result replaces it in view once the run ends, editing the recipe brings the estimate back.
    """

    def __init__(self, run_box: RunBox, card: QWidget, estimate: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.estimate_tab = scrolled(estimate, horizontal=False)
        self.result_tab = scrolled(card, horizontal=False)
        self.tabs.addTab(self.estimate_tab, "Estimate")
        self.tabs.addTab(self.result_tab, "Result")
        from gui.widgets.training_curve import TrainingCurve

        self.curve = TrainingCurve()  # loss and validation accuracy per epoch, live while a step trains
        self.tabs.addTab(self.curve, "Training")
        self.tabs.setMinimumWidth(400)  # a filled result card's four columns, whole
        self.addWidget(run_box)
        self.addWidget(self.tabs)
        self.setStretchFactor(0, 2)
        self.setStretchFactor(1, 3)
        self.setChildrenCollapsible(False)

    def show_result(self) -> None:
        self.tabs.setCurrentWidget(self.result_tab)

    def show_training(self, event) -> None:
        """Draw a training epoch as it ends; the first one of a run brings the Training tab forward."""
        first = not self.curve.has_data()
        self.curve.on_event(event)
        if first and self.curve.has_data():
            self.tabs.setCurrentWidget(self.curve)

    def show_estimate(self) -> None:
        self.tabs.setCurrentWidget(self.estimate_tab)


class EditorRunSplit(QSplitter):
    """The editor above, the run below: the editor gets ``editor_px`` (a short recipe and a six-field form),
    the run area the rest and all later growth, until the user drags the handle.

    Proportional stretch left a 1024×640 window with three form fields between two scrollbars
    while the result card had room to spare.
    """

    def __init__(self, editor: QWidget, run_area: QWidget, editor_px: int = 305, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.addWidget(editor)
        self.addWidget(run_area)
        self.setStretchFactor(0, 0)
        self.setStretchFactor(1, 1)
        self.setChildrenCollapsible(False)
        self.editor_px = editor_px
        self.user_sized = False
        self.splitterMoved.connect(lambda *_: setattr(self, "user_sized", True))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        if self.user_sized:
            return
        total = sum(self.sizes())
        if total <= 0:
            return
        room = total - self.widget(1).minimumSizeHint().height()
        top = max(min(self.editor_px, room), self.widget(0).minimumSizeHint().height())
        self.blockSignals(True)  # our own placement is not the user's drag
        self.setSizes([top, total - top])
        self.blockSignals(False)
