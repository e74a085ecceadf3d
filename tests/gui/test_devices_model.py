"""The devices dialog's page model, without Qt: the device list, the check table, the host-key question, when Measure can start."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.app.events import Done, Failed, Progress
from core.devices.check import DeviceReport
from core.devices.measurements import Measurement, store_measurements
from core.devices.ssh import HostKeyError
from core.errors import EdgeSlimError
from core.jobs import Cancelled
from core.store.workspace import Workspace
from gui.pages.devices_model import DeviceForm, DevicesModel, measurement_row, target_choices
from tests.core.devices.conftest import config  # noqa: F401  (EDGESLIM_CONFIG_DIR in tmp_path)

FP = "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def _report(onnxruntime: str | None = "1.20.1") -> DeviceReport:
    return DeviceReport(name="pi5", address="pi@raspberrypi.local", python="3.11.2", machine="aarch64", system="Linux",
                        cpu="Cortex-A76", cores=4, memory_bytes=8 * 2**30,
                        packages={"numpy": "1.26.4", "PIL": "10.2.0", "onnxruntime": onnxruntime},
                        providers=["CPUExecutionProvider"] if onnxruntime else [])


def _model(tmp_path, **kw) -> DevicesModel:
    return DevicesModel(tmp_path / "ws", **kw)


def test_the_page_model_imports_without_qt():
    code = ("import sys, gui.pages.devices_model; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == "[]"


def test_add_update_and_remove_a_device(config, tmp_path):
    model = _model(tmp_path)
    assert model.devices == {} and model.selected is None and model.form_action("pi5") == "Add"
    model.save(DeviceForm(" pi5 ", "pi@raspberrypi.local", "rpi5"))
    assert list(model.devices) == ["pi5"] and model.selected == "pi5" and model.form_action("pi5") == "Update"
    assert model.device.python == "python3" and model.device.port == 22 and "check it" in model.status
    model.reports["pi5"] = _report()
    model.save(DeviceForm("pi5", "pi@10.0.0.7", "rpi5", port=2222, python="/usr/bin/python3.11"))
    assert model.device.address == "pi@10.0.0.7:2222" and model.device.python == "/usr/bin/python3.11"
    assert model.report is None  # a changed device needs a fresh check
    assert DeviceForm.of(model.device) == DeviceForm("pi5", "pi@10.0.0.7", "rpi5", 2222, "", "/usr/bin/python3.11")
    assert DevicesModel(tmp_path / "ws").devices == model.devices  # written to devices.toml
    model.save(DeviceForm("jetson", "nvidia@jetson.local", "jetson-orin-nano"))
    model.remove("jetson")
    assert list(model.devices) == ["pi5"] and model.selected == "pi5" and "stay with their runs" in model.status
    model.remove("pi5")
    assert model.devices == {} and model.selected is None and model.device is None


@pytest.mark.parametrize("form, words", [
    (DeviceForm("", "pi@host", "rpi5"), "has no name"),
    (DeviceForm("pi5", "raspberrypi.local", "rpi5"), "is not USER@HOST"),
    (DeviceForm("pi5", "pi@host", ""), "no target profile"),
    (DeviceForm("pi 5", "pi@host", "rpi5"), "not a usable device name"),
    (DeviceForm("pi5", "pi@host", "rpi5", identity="/nonexistent/key"), "does not exist"),
])
def test_a_bad_form_is_a_message_and_nothing_is_saved(config, tmp_path, form, words):
    model = _model(tmp_path)
    with pytest.raises(EdgeSlimError) as info:
        model.save(form)
    assert words in info.value.for_app() and "Traceback" not in info.value.for_app()
    assert model.devices == {}


def test_target_choices_name_every_shipped_profile():
    names = [name for name, _ in target_choices()]
    assert "rpi5" in names and "jetson-orin-nano" in names
    assert dict(target_choices())["rpi5"].startswith("rpi5 — ")


def test_the_check_table_and_the_pip_line(config, tmp_path):
    model = _model(tmp_path)
    model.save(DeviceForm("pi5", "pi@raspberrypi.local", "rpi5"))
    assert model.rows() == [] and model.install_line() is None
    model.reports["pi5"] = _report(onnxruntime=None)
    rows = {r.item: r for r in model.rows()}
    assert rows["onnxruntime"].found == "missing" and not rows["onnxruntime"].ok
    assert rows["Pillow"].found == "10.2.0" and rows["numpy"].ok and rows["Python"].found == "3.11.2"
    assert rows["CPU"].found == "Cortex-A76" and rows["Cores"].found == "4" and rows["Memory"].found.startswith("8")
    assert model.install_line() == "python3 -m pip install onnxruntime"
    model.reports["pi5"] = _report()
    assert {r.item: r.found for r in model.rows()}["onnxruntime"] == "1.20.1" and model.install_line() is None


def test_when_measure_can_start(config, tmp_path):
    model = _model(tmp_path)
    assert model.measure_blocker() == "choose a finished run to measure" and model.measure_label == "Measure a run"
    model.run_id = 3
    assert model.measure_label == "Measure run 3" and model.measure_blocker() == "add a device and choose it"
    model.save(DeviceForm("pi5", "pi@raspberrypi.local", "rpi5"))
    assert model.measure_blocker() == "check pi5 first"
    with pytest.raises(EdgeSlimError, match="check pi5 first"):
        model.measure_work()
    model.reports["pi5"] = _report(onnxruntime=None)
    assert "lacks onnxruntime" in model.measure_blocker() and not model.can_measure
    model.reports["pi5"] = _report()
    assert model.can_measure
    model.check_work()  # a check starts: nothing else may
    assert model.busy == "check" and model.measure_blocker() == "wait for the check to finish"
    with pytest.raises(EdgeSlimError, match="a check is running"):
        model.check_work()


def test_the_first_connection_asks_about_the_host_key(config, tmp_path):
    model = _model(tmp_path)
    model.save(DeviceForm("pi5", "pi@raspberrypi.local", "rpi5"))
    model.check_work()
    model.on_event(Progress(0.0, "connecting to pi5"))
    assert model.progress == (0.0, "connecting to pi5")
    model.on_event(Failed(HostKeyError("pi5 (pi@raspberrypi.local) is not a known host", "compare it", FP, False)))
    q = model.question
    assert model.busy is None and model.error is None and q.device == "pi5" and q.can_trust
    assert FP in q.text and "Trust this board's key?" in q.text
    model.trust()  # the check again, accepting the key
    assert model.question is None and model.busy == "check"
    model.on_event(Done(_report()))
    assert model.report.packages["onnxruntime"] == "1.20.1" and model.status == "pi5 is ready to measure"
    model.check_work()
    model.on_event(Failed(HostKeyError("pi5's host key has CHANGED", "delete its line", FP, True)))
    assert not model.question.can_trust and model.question.text.startswith("Refused: pi5's host key has CHANGED")
    with pytest.raises(EdgeSlimError, match="no new host key"):
        model.trust()
    model.distrust()
    assert model.question is None


def test_failures_and_cancel_in_words(config, tmp_path):
    model = _model(tmp_path, run_id=1)
    model.save(DeviceForm("pi5", "pi@raspberrypi.local", "rpi5"))
    model.check_work()
    model.on_event(Failed(EdgeSlimError("pi5 refused the connection on port 22", "check that the board is on")))
    assert model.error == "pi5 refused the connection on port 22. Check that the board is on." and model.busy is None
    model.reports["pi5"] = _report()
    model.measure_work()
    assert model.busy == "measure" and model.error is None
    model.on_event(Progress(0.5, "timing the run model on pi5, round 1"))
    assert model.progress == (0.5, "timing the run model on pi5, round 1")
    model.on_event(Failed(Cancelled("cancelled by the user"), cancelled=True))
    assert model.busy is None and model.error is None and "nothing was stored" in model.status


def test_stored_measurements_and_finished_runs(config, tmp_path):
    model = _model(tmp_path)
    assert model.finished_runs() == [] and model.measurements() == []  # no workspace yet
    with Workspace(tmp_path / "ws") as ws:
        done = ws.create_run(name="int8", recipe_name="r", recipe_toml="", techniques=[], model_spec="demo",
                             data_spec="demo", load_options={}, options={}, trial_key="a")
        ws.start_run(done)
        ws.finish_run(done, "done", {"baseline": {}, "final": {}, "seconds": 1.0, "artifacts": {}, "steps": []})
        ws.create_run(name="pending", recipe_name="r", recipe_toml="", techniques=[], model_spec="demo",
                      data_spec="demo", load_options={}, options={}, trial_key="b")
        store_measurements(ws, [Measurement(done, "run", "pi5", "rpi5", 12.3456, 14.0, 61.2, 3.21,
                                            {"runtime": {"onnxruntime": "1.20.1", "provider": "CPUExecutionProvider"}}, "s")])
    assert model.finished_runs() == [(done, f"Run #{done} · int8")]
    model.run_id = done
    (m,) = model.measurements()
    row = measurement_row(m)
    assert row[:6] == ["pi5", "run", "12.346", "14.000", "61", "≥ 3.21"] and row[6] == "ORT 1.20.1 CPU"
