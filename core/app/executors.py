"""Where sweep trials run: in this process, in a local process pool, or on a Dask cluster.

All three submit the same function (:func:`core.app.trial.run_trial`) and
hand results back as they complete, so a grid and an Optuna ask/tell loop are
written once (in :class:`Executor`). Cancel stops submitting and cancels
pending work; a trial already running in another process finishes (a single
torch call cannot be interrupted from outside), while the in-process executor
passes the cancel token into the run and stops within a batch.

A real Dask cluster needs the workspace folder on a filesystem every worker
sees (the trials write their runs there) and EdgeSlim installed on the workers.
"""

from __future__ import annotations

import concurrent.futures as cf
from pathlib import Path
from typing import Any, Callable, Optional

from core.controls import ask
from core.errors import EdgeSlimError
from core.jobs import CancelToken, Cancelled
from core.app.trial import TrialResult, run_trial

Item = tuple[int, dict, Any]  # (trial number, point, RunRequest)


def _payload(request) -> dict:
    return request.to_dict()  # plain data: it crosses into worker processes and Dask workers


class Executor:
    """Runs trials and reports each as it completes; subclasses provide submit / wait / cancel."""

    workers = 1

    def describe(self) -> str:
        raise NotImplementedError

    def submit(self, item: Item, workspace: Path, cancel: Optional[CancelToken]) -> Any:
        raise NotImplementedError

    def wait_any(self, pending: set) -> tuple[set, set]:
        """(done, still pending)."""
        raise NotImplementedError

    def result(self, future: Any) -> TrialResult:
        return future.result()

    def cancel_pending(self, pending: set) -> None:
        for f in pending:
            f.cancel()

    def close(self) -> None:
        pass

    def terminate(self) -> None:
        """Stop running trials at once, for a cancel that cannot wait (a no-op where nothing can be stopped)."""

    def _drain(self, feed: Callable[[], Optional[Item]], workspace: Path, on_done: Callable[[TrialResult], None], cancel) -> None:
        pending: set = set()
        meta: dict = {}

        def top_up() -> None:
            while len(pending) < self.workers:
                if cancel is not None and cancel.cancelled:
                    return
                item = feed()
                if item is None:
                    return
                fut = self.submit(item, workspace, cancel)
                meta[fut] = item
                pending.add(fut)

        top_up()
        while pending:
            done, pending = self.wait_any(pending)
            for fut in done:
                number, point, _ = meta.pop(fut)
                try:
                    tr = self.result(fut)
                except (cf.CancelledError, Cancelled):
                    tr = TrialResult(number, point, None, "cancelled", error="cancelled by the user")
                except Exception as exc:  # a worker that died: the trial fails, the sweep goes on
                    if cancel is not None and cancel.cancelled:  # killed by terminate() after a cancel
                        tr = TrialResult(number, point, None, "cancelled", error="cancelled by the user (its worker was stopped)")
                    else:
                        tr = TrialResult(number, point, None, "failed", error=f"worker failed: {type(exc).__name__}: {exc}")
                on_done(tr)
            if cancel is not None and cancel.cancelled:
                self.cancel_pending(pending)
                for fut in list(pending):
                    number, point, _ = meta.pop(fut)
                    try:
                        on_done(self.result(fut))  # those already running may still finish
                    except Exception:
                        on_done(TrialResult(number, point, None, "cancelled", error="cancelled by the user"))
                raise Cancelled("sweep cancelled")
            top_up()

    def run_all(self, items: list[Item], workspace: Path, on_done: Callable[[TrialResult], None], cancel=None) -> None:
        it = iter(items)
        self._drain(lambda: next(it, None), workspace, on_done, cancel)

    def run_asked(self, ask: Callable[[], Item], n: int, workspace: Path, tell: Callable[[TrialResult], None], cancel=None) -> None:
        count = [0]

        def feed() -> Optional[Item]:
            if count[0] >= n:
                return None
            count[0] += 1
            return ask()

        self._drain(feed, workspace, tell, cancel)


class InProcessExecutor(Executor):
    """Trials one after another in this process (the default; cancel stops the running trial too).

    ``cache`` keeps loaded models and data between trials (and lets a caller share what it already loaded).
    """

    def __init__(self, cache: Optional[dict] = None) -> None:
        self.cache = cache

    def describe(self) -> str:
        return "in-process"

    def submit(self, item: Item, workspace: Path, cancel) -> cf.Future:
        number, point, request = item
        fut: cf.Future = cf.Future()
        fut.set_result(run_trial(str(workspace), number, point, _payload(request), cancel=cancel, cache=self.cache))
        return fut

    def wait_any(self, pending: set) -> tuple[set, set]:
        return set(pending), set()


class ProcessPoolExecutor(Executor):
    """N local worker processes (spawned: no forked torch state), each loading model and data once."""

    def __init__(self, workers: int) -> None:
        import multiprocessing

        if workers < 1:
            raise EdgeSlimError(f"{ask('workers', action=False)} must be at least 1, got {workers}", f"{ask('workers')} 2 or more for parallel trials")
        self.workers = workers
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def describe(self) -> str:
        return f"{self.workers} local worker process(es)"

    def submit(self, item: Item, workspace: Path, cancel) -> cf.Future:
        number, point, request = item
        return self._pool.submit(run_trial, str(workspace), number, point, _payload(request))

    def wait_any(self, pending: set) -> tuple[set, set]:
        done, rest = cf.wait(pending, return_when=cf.FIRST_COMPLETED, timeout=None)
        return set(done), set(rest)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def terminate(self) -> None:
        """Kill the worker processes: their running trials end at once (their runs are left for the caller to close)."""
        kill = getattr(self._pool, "kill_workers", None)  # Python 3.14
        if kill is not None:
            kill()
            return
        for proc in list((getattr(self._pool, "_processes", None) or {}).values()):  # earlier Pythons: the pool's table
            if proc.is_alive():
                proc.kill()


class DaskExecutor(Executor):
    """Trials as futures on a Dask cluster: ``tcp://HOST:PORT`` or ``local:N`` (a LocalCluster of N workers)."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise EdgeSlimError("Dask is not installed", f"pip install 'dask[distributed]' to use {ask('cluster', action=False)}") from None
        self.address = address
        self._cluster = None
        try:
            if address.startswith("local:"):
                n = int(address.split(":", 1)[1])
                if n < 1:
                    raise ValueError
                self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
                self._client = Client(self._cluster)
            else:
                self._client = Client(address, timeout="10s")
        except ValueError:
            raise EdgeSlimError(f"{ask('cluster', action=False)} {address}: expected local:N with N ≥ 1", f"e.g. {ask('cluster', action=False)} local:2") from None
        except OSError as exc:
            raise EdgeSlimError(f"cannot reach the Dask scheduler at {address} ({exc})", "check the address and that the scheduler runs") from None
        self.workers = max(1, len(self._client.scheduler_info().get("workers", {})) or 1)

    def describe(self) -> str:
        return f"Dask cluster {self.address} ({self.workers} worker(s))"

    def submit(self, item: Item, workspace: Path, cancel) -> Any:
        number, point, request = item
        return self._client.submit(run_trial, str(workspace), number, point, _payload(request), pure=False)

    def wait_any(self, pending: set) -> tuple[set, set]:
        from distributed import wait

        done, rest = wait(list(pending), return_when="FIRST_COMPLETED")
        return set(done), set(rest)

    def cancel_pending(self, pending: set) -> None:
        self._client.cancel(list(pending))

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(workers: Optional[int] = None, cluster: Optional[str] = None) -> Executor:
    """The executor the CLI/GUI asked for: a Dask cluster, N local workers, or in-process."""
    if cluster:
        return DaskExecutor(cluster)
    if workers and workers > 1:
        return ProcessPoolExecutor(workers)
    return InProcessExecutor()
