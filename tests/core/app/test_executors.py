"""Executors: a cancel that cannot wait kills local trial processes, and their trials count as cancelled."""

from __future__ import annotations

import threading
import time

import pytest

from core.jobs import Cancelled, CancelToken
from core.app.executors import ProcessPoolExecutor


class SleepyPool(ProcessPoolExecutor):
    """A pool whose "trial" is a minute of sleep: a torch call that ignores cancel, in miniature."""

    def submit(self, item, workspace, cancel):
        return self._pool.submit(time.sleep, 60)


def test_terminate_stops_running_trials_at_once(tmp_path):
    executor = SleepyPool(1)
    token = CancelToken()
    threading.Timer(1.0, lambda: (token.cancel(), executor.terminate())).start()
    seen = []
    started = time.monotonic()
    try:
        with pytest.raises(Cancelled):
            executor.run_all([(0, {"x": 1}, None), (1, {"x": 2}, None)], tmp_path, seen.append, token)
    finally:
        executor.close()
    assert time.monotonic() - started < 20, "the sleeping trial was waited for"
    assert [(t.number, t.status) for t in seen] == [(0, "cancelled")]  # killed, not "failed"; trial 1 never started

