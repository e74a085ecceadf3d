""""Run again" on a run whose model is a full pickle asks whether to trust the file (issue 15), for that run only."""

from __future__ import annotations

import pytest
import torch

import gui.main_window as main_window
from core.models.demo_net import DemoNetConfig, DemoResNet
from tests.gui.conftest import wait_idle

RECIPE = '[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.3\n'


def stored_pickle_run(win, tmp_path):
    """A finished run of a small full-pickle model, as a run made with --trust leaves it (trust not stored)."""
    torch.manual_seed(0)
    model = tmp_path / "full.pt"
    torch.save(DemoResNet(DemoNetConfig(width=8, blocks=(1, 1, 1))).eval(), model)
    ws = win.workspace
    run_id = ws.create_run(name="pickled", recipe_name="r", recipe_toml=RECIPE, techniques=["prune.unstructured"],
                           model_spec=str(model), data_spec="demo", load_options={},
                           options={"threads": 1, "warmup": 1, "repeats": 2}, trial_key="k")
    ws.start_run(run_id)
    ws.finish_run(run_id, "done", {"seconds": 1})
    return ws.get_run(run_id)


@pytest.mark.parametrize("answer", ["No", "Yes"])
def test_run_again_asks_to_trust_a_full_pickle(make_window, qtbot, tmp_path, monkeypatch, answer):
    win = make_window(start=False)
    row = stored_pickle_run(win, tmp_path)
    asked: list[str] = []

    def question(parent, title, text, *args):
        asked.append(text)
        return getattr(main_window.QMessageBox.StandardButton, answer)

    monkeypatch.setattr(main_window.QMessageBox, "question", question)
    win.setProperty("headless_errors", False)  # the question is asked of a person, not of a headless window
    monkeypatch.setattr(main_window.QMessageBox, "warning", lambda parent, title, text, *a: win.errors.append(text))
    win.rerun(row)
    wait_idle(qtbot, win)
    assert len(asked) == 1 and "full.pt is a full Python pickle" in asked[0]
    runs = win.workspace.list_runs()
    if answer == "No":
        assert win.errors == [] and len(runs) == 1
        return
    assert win.errors == []
    again = max(runs, key=lambda r: r.id)
    assert again.id != row.id and again.status == "done", again.error
    assert "trust" not in again.load_options  # for this run only: never stored
