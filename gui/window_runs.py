"""The window's run actions that span pages: evaluate the baseline, sweep the recipe, run a stored run again.

Each builds a typed request from the session's sources and the Compress
page's measurement settings, starts it through the job controller and routes
its events to the pages. An untrusted full-pickle model is known by its error
type (:class:`core.errors.UntrustedPickleError`), never by its words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtWidgets import QMessageBox

from core.app.events import Done, Failed, PartialResult, Progress
from core.errors import EdgeSlimError, UntrustedPickleError
from gui.jobs.controller import Job


def app_words(error: BaseException) -> str:
    return error.for_app() if isinstance(error, EdgeSlimError) else str(error)


def ask_trust(window, spec: str) -> bool:
    """Whether the user trusts a full-pickle model file (loading it runs code from it); never asked headless."""
    if window.property("headless_errors"):
        return False
    answer = QMessageBox.question(
        window,
        "Trust this file?",
        f"{Path(spec).name} is a full Python pickle. Loading it runs code stored in the file, "
        "which can do anything your user account can.\n\nLoad it only if you trust where it came from. "
        "Load it now?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def ask_stop(window) -> bool:
    """Whether to quit while work runs in the worker (a run, a sweep, an export): asked, never headless."""
    running = [j for j in window.jobs.active if j.in_worker and not j.quiet]
    if not running or window.property("headless_errors"):
        return True
    answer = QMessageBox.question(
        window, "Stop the running work?", f"{running[0].title} is still running. Stop it and quit? What it finished is stored.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


class RunActions:
    def __init__(self, window: Any) -> None:
        self.w = window  # the gui.main_window.MainWindow (not imported: it imports this module)

    def _options(self, repeats: Optional[int] = None, warmup: Optional[int] = None):
        from core.pipeline.runner import RunOptions

        page = self.w.compress_page
        repeats = page.repeats.value() if repeats is None else repeats
        return RunOptions(threads=page.threads.value(), repeats=repeats, device=page.device.currentData(),
                          warmup=min(10, max(2, repeats // 5)) if warmup is None else warmup)

    # ------------------------------------------------------------------ baseline

    def evaluate_baseline(self) -> Optional[Job]:
        w = self.w
        sources = w.session.sources()
        if sources is None:
            w.show_error("Load a model and a dataset first: the baseline is measured on the dataset's validation split.")
            return None
        from core.app.worker_tasks import Evaluate

        model = w.session.model
        page = w.model_page
        request = Evaluate(*sources, self._options(repeats=30, warmup=5))

        def on_event(event: Any) -> None:
            if isinstance(event, Progress):
                page.evaluation_progress(event.fraction, event.message)
            elif isinstance(event, Done):
                page.evaluation_done(model, event.result)
            elif isinstance(event, Failed) and event.cancelled:
                page.evaluation_failed("cancelled")
            elif isinstance(event, Failed):
                page.evaluation_failed(app_words(event.error))
                w.show_error(app_words(event.error))

        page.evaluation_started()
        return w.jobs.start(request, on_event, title=f"Evaluating {model.name}")

    # ------------------------------------------------------------------ sweeps

    def start_sweep(self, sweep_toml: str, executor: dict, inputs: Any = None) -> Optional[Job]:
        """Run a sweep on the current model and data; each finished trial appears on the Explore page at once."""
        from core.app.sweep_count import sweep_name_and_size
        from core.app.worker_tasks import ExecutorChoice, Sweep

        w = self.w
        inputs = inputs or w.run_inputs()
        if isinstance(inputs, str):
            w.show_error(inputs)
            return None
        request = Sweep(str(inputs.workspace.path), sweep_toml, inputs.model, inputs.data, self._options(),
                        ExecutorChoice(**executor))
        name, total = sweep_name_and_size(sweep_toml)
        state = {"done": 0, "total": total}

        def title() -> str:
            return f"Sweep {name}: {state['done']}/{state['total']} trials"

        def on_event(event: Any) -> None:
            if isinstance(event, PartialResult) and event.kind in ("sweep", "trial"):
                data = event.payload or {}
                state.update(done=int(data.get("done", state["done"])), total=int(data.get("total") or state["total"]))
                job.title = title()
                w.job_bar.retitle(job)
                if event.kind == "trial":
                    w.explore_page.refresh_if_changed()  # the trial's run is committed by the worker before it is reported
                    if data.get("run_id"):
                        w.explore_page.select_run(int(data["run_id"]))
            elif isinstance(event, Done):
                self._sweep_finished(event.result or {})
            elif isinstance(event, Failed):
                w.explore_page.refresh()
                if not event.cancelled:
                    w.show_error(app_words(event.error))

        w.show_page("explore")
        job = w.jobs.start(request, on_event, title=title())
        return job

    def _sweep_finished(self, outcome: dict) -> None:
        w = self.w
        w.explore_page.refresh()
        trials = outcome.get("trials") or []
        done = sum(1 for t in trials if t.get("status") == "done")
        front = ", ".join(f"#{i}" for i in outcome.get("front") or []) or "none"
        w.statusBar().showMessage(f"sweep {outcome.get('name', '')} {outcome.get('status')}: {done} of {len(trials)} trials "
                                  f"done; Pareto front {front}", 15000)

    # ------------------------------------------------------------------ run again

    def rerun(self, row, trust: bool = False) -> Job:
        """Run a stored run's recipe again on its model and data (nothing reused), in the worker process.

        ``trust`` (a full-pickle model the user confirmed) holds for this run only: it is never stored.
        """
        from core.app.execute import RunRequest
        from core.app.worker_tasks import Run

        w = self.w
        request = Run(str(w.workspace.path), RunRequest.from_row(row, trust=trust), reuse=False)

        def on_event(event: Any) -> None:
            if isinstance(event, Done):
                done = event.result
                w.explore_page.refresh()
                w.explore_page.select_run(done["run_id"])
                w.statusBar().showMessage(f"run #{done['run_id']} stored ({done['status']})", 8000)
            elif isinstance(event, Failed) and event.cancelled:
                w.explore_page.refresh()
            elif isinstance(event, Failed):
                if isinstance(event.error, UntrustedPickleError) and not trust:
                    if ask_trust(w, row.model_spec):
                        self.rerun(row, trust=True)
                    return
                w.show_error(app_words(event.error))

        return w.jobs.start(request, on_event, title=f"Running #{row.id} {row.name} again")
