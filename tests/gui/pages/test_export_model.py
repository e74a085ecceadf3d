"""The Export page's rules without Qt: what is exported, and why Export waits (the folder rules are core's)."""

from __future__ import annotations

from types import SimpleNamespace

from core.app.export import ExportCheck, ExportFrom, chosen_folder
from core.app.session import Session
from gui.pages import export_model as em

TARGET = SimpleNamespace(name="rpi5", label="Raspberry Pi 5", path=None)


def test_the_source_is_typed_and_says_what_is_missing(tmp_path):
    session = Session()
    assert "Load a model" in em.export_source("model", None, None, session)
    assert em.export_source("run", 3, None, session) == "Open the run's workspace first."
    source = em.export_source("run", 3, SimpleNamespace(path=tmp_path), session)
    assert source == ExportFrom(workspace=str(tmp_path), run_id=3)
    check = em.check_request(source, TARGET, None)
    assert isinstance(check, ExportCheck) and check.target == "rpi5"


def test_export_waits_for_the_check_the_fit_and_a_usable_folder(tmp_path):
    source = ExportFrom(workspace=str(tmp_path), run_id=1)
    ok = {"exporting": False, "source": source, "target": TARGET, "check_pending": False, "check_failed": False,
          "preview": {"fit": {"fits": True}}, "anyway": False, "out": tmp_path / "new", "replace": False}
    assert em.export_blocker(**ok) == ""
    assert em.export_blocker(**{**ok, "check_pending": True}) == "Checking the fit first…"
    no_fit = {**ok, "preview": {"fit": {"fits": False}}}
    assert "tick “Export anyway”" in em.export_blocker(**no_fit) and em.export_blocker(**{**no_fit, "anyway": True}) == ""
    full = tmp_path / "full"
    full.mkdir()
    (full / "other.txt").write_text("x")
    reason = em.export_blocker(**{**ok, "out": full})
    assert "not empty" in reason and "tick “Replace the bundle in this folder”" in reason and "--force" not in reason
    assert em.export_blocker(**{**ok, "out": full, "replace": True}) == ""
    # a picked folder that holds other things gets a new folder inside it; an earlier bundle is itself
    assert chosen_folder(full, "demo", "rpi5") == full / "demo-rpi5"
    (full / "model.json").write_text("{}")
    assert chosen_folder(full, "demo", "rpi5") == full
