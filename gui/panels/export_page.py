"""Export page: what a deployable result is today, and where the latest one is.

Target profiles, bundles and parity checks come with a later version of this
page. Until then every finished run already leaves a deployable ONNX file in
its run folder; this page shows the latest finished run — its numbers and its
files — and points at the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from core import fmt
from gui.widgets.result_card import ResultCard, breakable

PLAN = (
    "<b>Coming to this page:</b> pick a target device profile (Raspberry Pi, Jetson, microcontroller, …), write a "
    "deployment bundle (model, preprocessing, labels, a runnable example) and check that the bundle's outputs match "
    "the run's model (parity)."
    "<br><br><b>What to do meanwhile:</b> every finished run already leaves <code>model.onnx</code> (and, when the "
    "model is still PyTorch, <code>model.pt2</code>) in its run folder, with <code>result.json</code> and the recipe. "
    "<code>edgeslim-cli runs show ID --workspace WORKSPACE</code> prints a run's files and numbers."
)
FILE_ORDER = ("onnx", "pt2", "result", "recipe")


class ExportPage(QWidget):
    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        title = QLabel("Export")
        title.setObjectName("pageTitle")
        plan = QLabel(PLAN)
        plan.setObjectName("notice")
        plan.setWordWrap(True)
        plan.setTextFormat(Qt.TextFormat.RichText)
        self.heading = QLabel()
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.files = QLabel()
        self.files.setWordWrap(True)
        self.files.setTextFormat(Qt.TextFormat.RichText)
        self.files.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton("Copy model path")
        self.copy_button.clicked.connect(self._copy)
        self.card = ResultCard()
        self.card.setMaximumWidth(720)
        self.card.setMinimumWidth(520)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        holder = QWidget()
        vl = QVBoxLayout(holder)
        vl.setContentsMargins(0, 0, 0, 0)
        vl.addWidget(self.card)
        vl.addStretch(1)
        scroll.setWidget(holder)
        head = QHBoxLayout()
        head.addWidget(self.heading, 1)
        head.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(plan)
        layout.addLayout(head)
        layout.addWidget(self.files)
        layout.addWidget(scroll, 1)
        self.artifact: Optional[str] = None
        self.show_run(None)

    def set_workspace(self, workspace: Any) -> None:
        runs = [r for r in workspace.list_runs() if r.status == "done"] if workspace is not None else []
        self.show_run(runs[-1] if runs else None)

    def show_run(self, row: Any) -> None:
        artifacts = (row.artifacts or {}) if row is not None else {}
        self.artifact = artifacts.get("onnx") or artifacts.get("pt2")
        if row is None or not self.artifact:
            self.heading.setText("<b>Latest deployable model:</b> none yet — run a recipe on the Compress page; "
                                 "its model file will be listed here.")
            self.files.setVisible(False)
            self.card.setVisible(False)
        else:
            self.heading.setText(f"<b>Latest deployable model:</b> run #{row.id} “{row.name}”")
            kinds = sorted(artifacts, key=lambda k: FILE_ORDER.index(k) if k in FILE_ORDER else len(FILE_ORDER))
            lines = []
            for kind in kinds:
                path = Path(artifacts[kind])
                size = fmt.size(path.stat().st_size) if path.is_file() else "missing"
                lines.append(f"{kind}: <code>{breakable(str(path))}</code> ({size})")
            self.files.setText("<br>".join(lines))
            self.files.setVisible(True)
            self.card.show_row(row)
            self.card.setVisible(True)
        self.copy_button.setEnabled(bool(self.artifact))

    def _copy(self) -> None:
        if self.artifact:
            QGuiApplication.clipboard().setText(self.artifact)
