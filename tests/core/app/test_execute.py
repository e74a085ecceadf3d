"""Runs in a workspace: stored as they go, identical trials reused, a killed run found and resumed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import EdgeSlimError
from core.pipeline.runner import RunOptions
from core.app.execute import RunRequest, execute_run, resume_run
from core.app.sources import DataSource, ModelSource
from core.store.workspace import Workspace

DEMO_MODEL, DEMO_DATA = ModelSource("demo"), DataSource("demo")
FAST = RunOptions(threads=1, warmup=1, repeats=3)
SPARSE = '[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.3\n'
FINETUNE = '[[step]]\ntechnique = "finetune"\nepochs = 2\nbatch_size = 128\n'
ROOT = Path(__file__).resolve().parents[3]


def test_a_run_is_stored_and_an_identical_trial_is_reused(tmp_path):
    with Workspace(tmp_path) as ws:
        first = execute_run(ws, RunRequest(SPARSE, DEMO_MODEL, DEMO_DATA, options=FAST, name="sparse"))
        row = first.row
        assert not first.reused and row.status == "done" and row.name == "sparse"
        assert row.final["nonzero_params"] < row.baseline["nonzero_params"]
        assert Path(row.artifacts["onnx"]).is_file() and Path(row.artifacts["onnx"]).is_relative_to(ws.run_dir(row.id))
        again = execute_run(ws, RunRequest(SPARSE.replace("0.3", "0.30"), DEMO_MODEL, DEMO_DATA, options=FAST, name="same"))
        assert again.reused and again.row.id == row.id and len(ws.list_runs()) == 1
        other = execute_run(ws, RunRequest(SPARSE, DEMO_MODEL, DEMO_DATA, options=RunOptions(threads=1, warmup=1, repeats=3, seed=1)))
        assert not other.reused and len(ws.list_runs()) == 2


def test_a_failed_run_is_stored_as_failed(tmp_path):
    bad = '[[step]]\ntechnique = "prune.unstructured"\nignore_layers = ["nope"]\n'
    with Workspace(tmp_path) as ws:
        with pytest.raises(EdgeSlimError):
            execute_run(ws, RunRequest(bad, DEMO_MODEL, DEMO_DATA, options=FAST))
        (row,) = ws.list_runs()
        assert row.status == "failed" and "nope" in row.error and row.baseline is not None
        with pytest.raises(EdgeSlimError, match="done"):
            resume_run(ws, execute_run(ws, RunRequest(SPARSE, DEMO_MODEL, DEMO_DATA, options=FAST)).row.id)


CHILD = """
import sys
from core.pipeline.runner import RunOptions
from core.app.execute import RunRequest, execute_run
from core.app.sources import DataSource, ModelSource
DEMO_MODEL, DEMO_DATA = ModelSource("demo"), DataSource("demo")
from core.store.workspace import Workspace
ws = Workspace(sys.argv[1])
execute_run(ws, RunRequest(sys.argv[2], DEMO_MODEL, DEMO_DATA, options=RunOptions(threads=1, warmup=1, repeats=3), name="victim"))
"""


def test_kill_9_mid_run_leaves_the_store_readable_and_the_run_resumable(tmp_path):
    with Workspace(tmp_path) as ws:
        kept = execute_run(ws, RunRequest(SPARSE, DEMO_MODEL, DEMO_DATA, options=FAST, name="kept")).row
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), FINETUNE], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        probe = sqlite3.connect(tmp_path / "edgeslim.sqlite", timeout=10)
        while time.monotonic() < deadline:  # wait until the victim is training (baseline stored)
            row = probe.execute("SELECT status, baseline FROM runs WHERE name = 'victim'").fetchone()
            if row and row[0] == "running" and row[1]:
                break
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        else:
            pytest.fail("the child run never started")
        probe.close()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL

    with Workspace(tmp_path) as ws:
        assert ws._read("PRAGMA integrity_check")[0][0] == "ok"
        (victim,) = [r for r in ws.list_runs() if r.name == "victim"]
        assert ws.interrupted == [victim.id] and ws.get_run(victim.id).status == "interrupted"
        same = ws.get_run(kept.id)
        assert same.status == "done" and same.final == kept.final  # the other run is intact
        resumed = resume_run(ws, victim.id, cache={}).row
        assert resumed.id == victim.id and resumed.status == "done"
        assert resumed.final["accuracy"] > 0.9 and len(resumed.steps) == 1
