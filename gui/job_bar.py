"""The status bar's job bar: what runs now, one bar for all of it, and Cancel.

It listens to the job controller: every job that is not quiet shows its title,
then its latest progress line (elided to the room left, in full in the tooltip);
the bar is the mean of the running jobs' fractions, and busy (indeterminate)
while work reports it is importing PyTorch. A task whose page draws its own bar
(a run on Compress, an export on Export) gets no second bar while that page shows.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QSizePolicy, QStatusBar

from core.app.events import Progress
from gui.jobs.controller import Job, JobController
from gui.jobs.process import ENGINE


def short_path(text: str, keep: int = 42) -> str:
    return text if len(text) <= keep else "…" + text[-(keep - 1):]


PAGE_KINDS = {"compress": {"run"}, "export": {"export"}}  # the jobs each page shows with a bar of its own


class ElidedLabel(QLabel):
    """A one-line label that shortens its text with "…" to its width instead of being cut; the tooltip has it all."""

    def __init__(self, text: str = "", mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight) -> None:
        super().__init__()
        self.full, self.mode = "", mode
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)  # shrinks to its minimum width
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt name)
        self.full = text
        self.setToolTip(text)
        self._elide()

    def text(self) -> str:
        return self.full

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        super().setText(self.fontMetrics().elidedText(self.full, self.mode, max(self.width(), 0)))

    def sizeHint(self):  # noqa: N802 (Qt name)
        hint = super().sizeHint()
        hint.setWidth(min(self.fontMetrics().horizontalAdvance(self.full) + 4, self.maximumWidth()))
        return hint

    def minimumSizeHint(self):  # noqa: N802 (Qt name)
        hint = super().minimumSizeHint()
        hint.setWidth(self.minimumWidth())
        return hint


class JobBar(QObject):
    def __init__(self, bar: QStatusBar, jobs: JobController) -> None:
        super().__init__(bar)
        self.jobs = jobs
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(160)
        self.progress.setVisible(False)
        self.label = ElidedLabel("")
        self.label.setMinimumWidth(80)
        self.label.setMaximumWidth(360)
        self.page = ""  # the page on view (PAGE_KINDS)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.setToolTip("Cancel the running work")
        self.cancel_button.clicked.connect(jobs.cancel_all)
        bar.addPermanentWidget(self.label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        self.fractions: dict[int, float] = {}
        self.kinds: dict[int, str] = {}
        self.engine: set[int] = set()  # jobs still importing PyTorch
        jobs.started.connect(self._started)
        jobs.ended.connect(self._ended)

    def _started(self, job: Job) -> None:
        if job.quiet:
            return
        job.event.connect(lambda event, j=job: self._event(j, event))
        self.fractions[id(job)] = 0.0
        self.kinds[id(job)] = job.kind
        self.cancel_button.setVisible(True)
        self.label.setText(job.title)
        self._draw()

    def _event(self, job: Job, event: Any) -> None:
        if id(job) not in self.fractions or not isinstance(event, Progress):
            return
        self.fractions[id(job)] = event.fraction
        (self.engine.add if event.stage == ENGINE else self.engine.discard)(id(job))
        self.label.setText(event.message or job.title)
        self._draw()

    def retitle(self, job: Job) -> None:
        """Show ``job``'s title again (a sweep counts its trials in it)."""
        if id(job) in self.fractions:
            self.label.setText(job.title)

    def set_page(self, page: str) -> None:
        """The page now on view: its own tasks' bars are not repeated here."""
        self.page = page
        if self.fractions:
            self._draw()

    def _draw(self) -> None:
        own = PAGE_KINDS.get(self.page, set())
        self.progress.setVisible(bool(self.fractions) and any(kind not in own for kind in self.kinds.values()))
        if self.engine or not self.fractions:
            self.progress.setRange(0, 0)  # busy: importing PyTorch reports nothing until done
            return
        self.progress.setRange(0, 1000)
        fractions = list(self.fractions.values())
        self.progress.setValue(int(1000 * sum(fractions) / len(fractions)))

    def _ended(self, job: Job) -> None:
        self.fractions.pop(id(job), None)
        self.kinds.pop(id(job), None)
        self.engine.discard(id(job))
        if not self.fractions:
            self.progress.setVisible(False)
            self.cancel_button.setVisible(False)
            self.label.setText("")
        else:
            self._draw()
