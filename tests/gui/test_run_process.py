"""The run worker process: Cancel is immediate even inside a call that ignores it, and a crash stays in the child."""

from __future__ import annotations

import threading
import time

import pytest

from core.errors import EdgeSlimError
from core.jobs import Cancelled, CancelToken
from gui.run_process import KILL_AFTER_S, RunWorker, WorkerDied


@pytest.fixture
def worker():
    w = RunWorker()
    yield w
    w.stop()
    assert not w.alive()


def test_a_task_that_ignores_cancel_is_killed_within_seconds(worker):
    token = CancelToken()
    killed: list[int] = []
    worker.start()
    pid = worker.pid
    cancelled_at: list[float] = []
    threading.Timer(0.5, lambda: (cancelled_at.append(time.perf_counter()), token.cancel())).start()
    with pytest.raises(Cancelled):
        worker.execute("sleep", {"seconds": 120}, progress=lambda f, m: None, cancel=token, on_kill=killed.append)
    stopped_after = time.perf_counter() - cancelled_at[0]
    assert stopped_after < KILL_AFTER_S + 1.5, f"stopped {stopped_after:.1f} s after cancel"
    assert killed == [pid] and not worker.alive()
    # the next task starts a fresh child
    assert worker.execute("sleep", {"seconds": 0}, progress=lambda f, m: None, cancel=CancelToken()) is None
    assert worker.pid != pid


def test_a_crash_in_the_child_is_an_error_not_a_crash(worker):
    with pytest.raises(WorkerDied) as info:
        worker.execute("crash", {}, progress=lambda f, m: None, cancel=CancelToken())
    assert "stopped unexpectedly" in str(info.value) and isinstance(info.value, EdgeSlimError)
    assert not worker.alive()


def test_the_worker_ends_when_its_window_process_dies(tmp_path):
    """A window killed outright (a crash, kill -9) must not leave its worker holding a gigabyte of torch."""
    import os
    import signal
    import subprocess
    import sys

    code = ("from gui.run_process import RunWorker\n"
            "from core.jobs import CancelToken\n"
            "import time\n"
            "if __name__ == '__main__':\n"
            "    w = RunWorker()\n"
            "    w.execute('sleep', {'seconds': 0}, progress=lambda f, m: None, cancel=CancelToken())\n"
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
