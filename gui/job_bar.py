"""The status bar's job bar: what runs now, one bar for all of it, and Cancel.

It listens to the job controller: every job that is not quiet shows its title,
then its latest progress line; the bar is the mean of the running jobs'
fractions, and busy (indeterminate) while work reports it is importing PyTorch.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

from core.app.events import Progress
from gui.jobs.controller import Job, JobController
from gui.jobs.process import ENGINE


def short_path(text: str, keep: int = 42) -> str:
    return text if len(text) <= keep else "…" + text[-(keep - 1):]


class JobBar(QObject):
    def __init__(self, bar: QStatusBar, jobs: JobController) -> None:
        super().__init__(bar)
        self.jobs = jobs
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(220)
        self.progress.setVisible(False)
        self.label = QLabel("")
        self.label.setMaximumWidth(360)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.setToolTip("Cancel the running work")
        self.cancel_button.clicked.connect(jobs.cancel_all)
        bar.addPermanentWidget(self.label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        self.fractions: dict[int, float] = {}
        self.engine: set[int] = set()  # jobs still importing PyTorch
        jobs.started.connect(self._started)
        jobs.ended.connect(self._ended)

    def _started(self, job: Job) -> None:
        if job.quiet:
            return
        job.event.connect(lambda event, j=job: self._event(j, event))
        self.fractions[id(job)] = 0.0
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.label.setText(job.title)
        self._draw()

    def _event(self, job: Job, event: Any) -> None:
        if id(job) not in self.fractions or not isinstance(event, Progress):
            return
        self.fractions[id(job)] = event.fraction
        (self.engine.add if event.stage == ENGINE else self.engine.discard)(id(job))
        self.label.setText(short_path(event.message, 60) if event.message else job.title)
        self._draw()

    def retitle(self, job: Job) -> None:
        """Show ``job``'s title again (a sweep counts its trials in it)."""
        if id(job) in self.fractions:
            self.label.setText(job.title)

    def _draw(self) -> None:
        if self.engine or not self.fractions:
            self.progress.setRange(0, 0)  # busy: importing PyTorch reports nothing until done
            return
        self.progress.setRange(0, 1000)
        fractions = list(self.fractions.values())
        self.progress.setValue(int(1000 * sum(fractions) / len(fractions)))

    def _ended(self, job: Job) -> None:
        self.fractions.pop(id(job), None)
        self.engine.discard(id(job))
        if not self.fractions:
            self.progress.setVisible(False)
            self.cancel_button.setVisible(False)
            self.label.setText("")
        else:
            self._draw()
