"""The worker process: Cancel is immediate even inside a call that ignores it, a crash stays in the child,
events and errors cross as their types, and the job controller queues worker requests one at a time."""

from __future__ import annotations

import threading
import time

import pytest

from core.app.events import Done, Failed, Recorder
from core.errors import EdgeSlimError, UntrustedPickleError
from core.jobs import CancelToken
from gui.jobs.process import KILL_AFTER_S, WorkerDied, WorkerProcess
from tests.gui.worker_test_tasks import Crash, Sleep


@pytest.fixture
def worker():
    w = WorkerProcess()
    yield w
    w.stop()
    assert not w.alive()


def run(worker, request, cancel=None) -> list:
    events = Recorder()
    worker.execute(request, events, cancel or CancelToken())
    return events.events


def test_a_task_that_ignores_cancel_is_killed_within_seconds(worker):
    token = CancelToken()
    worker.start()
    pid = worker.pid
    cancelled_at: list[float] = []
    threading.Timer(0.5, lambda: (cancelled_at.append(time.perf_counter()), token.cancel())).start()
    events = run(worker, Sleep(120), token)
    stopped_after = time.perf_counter() - cancelled_at[0]
    assert stopped_after < KILL_AFTER_S + 1.5, f"stopped {stopped_after:.1f} s after cancel"
    assert isinstance(events[-1], Failed) and events[-1].cancelled and not worker.alive()
    # the next task starts a fresh child
    assert isinstance(run(worker, Sleep(0))[-1], Done)
    assert worker.pid != pid


def test_a_crash_in_the_child_is_an_error_not_a_crash(worker):
    last = run(worker, Crash())[-1]
    assert isinstance(last, Failed) and isinstance(last.error, WorkerDied) and isinstance(last.error, EdgeSlimError)
    assert "stopped unexpectedly" in str(last.error)
    assert not worker.alive()


def test_errors_cross_the_process_boundary_as_their_type_with_their_fix(worker, tmp_path):
    """An untrusted pickle comes back as UntrustedPickleError (the window asks to trust it), its fix in the app's words."""
    import torch

    from core.app.sources import DataSource, ModelSource
    from core.app.worker_tasks import Evaluate
    from core.models.demo_net import DemoNetConfig, DemoResNet

    path = tmp_path / "full.pt"
    torch.save(DemoResNet(DemoNetConfig(width=8, blocks=(1, 1, 1))).eval(), path)
    last = run(worker, Evaluate(ModelSource(str(path)), DataSource("demo")))[-1]
    assert isinstance(last, Failed) and not last.cancelled
    assert isinstance(last.error, UntrustedPickleError), type(last.error)
    assert last.error.fix and last.error.for_app() != "" and "Traceback" not in last.error.for_app()


def test_the_worker_ends_when_its_window_process_dies(tmp_path):
    """A window killed outright (a crash, kill -9) must not leave its worker holding a gigabyte of torch."""
    import os
    import signal
    import subprocess
    import sys

    code = ("from gui.jobs.process import WorkerProcess\n"
            "from core.jobs import CancelToken\n"
            "from tests.gui.worker_test_tasks import Sleep\n"
            "import time\n"
            "if __name__ == '__main__':\n"
            "    w = WorkerProcess()\n"
            "    w.execute(Sleep(0), lambda e: None, CancelToken())\n"
            "    print(w.pid, flush=True)\n"
            "    time.sleep(600)\n")
    script = tmp_path / "window.py"
    script.write_text(code)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=os.getcwd(),
                              env={**os.environ, "PYTHONPATH": os.getcwd()})
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the worker outlived its window process by 15 s")


def test_worker_requests_wait_in_one_queue_and_a_replaced_one_never_runs(qtbot, shared_worker):
    """Three requests at once: the first runs, the second is replaced by the third before it starts."""
    from gui.jobs.controller import JobController

    jobs = JobController(shared_worker)
    seen: dict[str, list] = {"a": [], "b": [], "c": []}
    a = jobs.start(Sleep(0.5), seen["a"].append, kind="nap")
    b = jobs.start(Sleep(0), seen["b"].append, kind="check")
    c = jobs.start(Sleep(0), seen["c"].append, kind="check", replace=True)
    assert jobs.worker_busy() and b.cancelled and not c.cancelled
    qtbot.waitUntil(lambda: not jobs.active, timeout=120_000)
    assert isinstance(seen["a"][-1], Done) and isinstance(seen["c"][-1], Done)
    assert len(seen["b"]) == 1 and isinstance(seen["b"][0], Failed) and seen["b"][0].cancelled  # never started
    assert a.ended and b.ended and c.ended
