"""The devices dialog's state, without Qt: the boards, the chosen one, its last check, the host-key question, a measure.

The view (:mod:`gui.dialogs.devices_dialog`) draws what this model holds and
hands it the events of the work it starts; the work itself is core's
(:mod:`core.devices`): this module only turns the form into calls, the
results into rows, and says why *Measure* waits. Kept Qt-free so the rules are
tested without a window.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

from core import fmt
from core.app.events import Done, Failed, Progress
from core.devices.measure import MeasureOptions
from core.devices.registry import Device, add_device, load_devices, remove_device
from core.errors import EdgeSlimError
from core.jobs import CancelToken

Work = Callable[[Callable[[Any], None], CancelToken], Any]  # what the job controller's InThread runs
PACKAGE_LABELS = {"numpy": "numpy", "PIL": "Pillow", "onnxruntime": "onnxruntime"}  # import name -> how users know it


@dataclass(frozen=True)
class DeviceForm:
    """The add-a-device form as typed: the same fields as ``edgeslim-cli devices add``."""

    name: str
    ssh: str  # USER@HOST
    target: str  # a target profile name
    port: int = 22
    identity: str = ""  # private key file; empty: ssh-agent and the default keys
    python: str = ""  # empty: python3

    @classmethod
    def of(cls, device: Device) -> "DeviceForm":
        return cls(device.name, f"{device.user}@{device.host}", device.target, device.port, device.identity or "",
                   device.python)


@dataclass(frozen=True)
class HostKeyQuestion:
    """What the first connection to a board asks (a new key), or why it was refused (a changed key)."""

    device: str
    fingerprint: str
    changed: bool
    message: str  # the error in the window's words

    @property
    def can_trust(self) -> bool:
        """A changed key is never trusted from the dialog: that is what an attacker in the middle looks like."""
        return not self.changed

    @property
    def text(self) -> str:
        if self.changed:
            return f"Refused: {self.message}"
        return (f"This is the first connection to {self.device}. Its host key fingerprint is\n{self.fingerprint}\n"
                "Compare it with the board's own (on the board: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub). "
                "Trust this board's key?")


@dataclass(frozen=True)
class CheckRow:
    """One line of the check table: what was looked for, what was found, and whether it is fine."""

    item: str
    found: str
    ok: bool = True


def check_rows(report: Any) -> list[CheckRow]:
    """The check table for a :class:`core.devices.check.DeviceReport`: Python, packages, CPU, cores, memory."""
    rows = [CheckRow("Python", report.python)]
    for name, version in report.packages.items():
        rows.append(CheckRow(PACKAGE_LABELS.get(name, name), version or "missing", version is not None))
    if report.providers:
        rows.append(CheckRow("ONNX Runtime providers", ", ".join(p.replace("ExecutionProvider", "") for p in report.providers)))
    rows.append(CheckRow("CPU", report.cpu))
    rows.append(CheckRow("Cores", str(report.cores) if report.cores else "unknown"))
    rows.append(CheckRow("Memory", fmt.size(report.memory_bytes) if report.memory_bytes else "unknown"))
    rows.append(CheckRow("System", f"{report.system} {report.machine}"))
    if report.jetson:
        rows.append(CheckRow("Jetson", report.jetson))
    return rows


def measurement_row(m: dict) -> list[str]:
    """A stored measurement (``measurements_for_run``'s dict) as the dialog's table row."""
    latency = m.get("latency_ms") or {}
    rss = m.get("peak_rss_mb")
    est = m.get("estimated_ms")
    runtime = m.get("runtime") or {}
    provider = str(runtime.get("provider") or "").replace("ExecutionProvider", "")
    return [m.get("device", ""), "baseline" if m.get("role") == "baseline" else "run",
            f"{latency.get('median', 0):.3f}", f"{latency.get('p90', 0):.3f}",
            "" if rss is None else f"{rss:.0f}", "" if not est else f"≥ {est:.3g}",
            " ".join(x for x in (f"ORT {runtime.get('onnxruntime')}" if runtime.get("onnxruntime") else "", provider) if x),
            str(m.get("created", "")).replace("T", " ")[:19]]


def target_choices() -> list[tuple[str, str]]:
    """(name, "name — label") of every target profile a device can be; a broken user profile is left out."""
    from core.export.targets import get_target, target_names

    choices = []
    for name in target_names():
        try:
            choices.append((name, f"{name} — {get_target(name).label}"))
        except EdgeSlimError:
            continue
    return choices


MEASUREMENT_HEADERS = ["Device", "Model", "Median ms", "p90 ms", "Peak MB", "Estimate ms", "Runtime", "Measured"]


@dataclass
class DevicesModel:
    """Everything the devices dialog shows; the dialog calls these methods and redraws from the fields."""

    workspace: Path
    run_id: Optional[int] = None
    options: MeasureOptions = field(default_factory=MeasureOptions)  # the dialog sets runs and baseline
    devices: dict[str, Device] = field(default_factory=dict)
    selected: Optional[str] = None
    reports: dict[str, Any] = field(default_factory=dict)  # device name -> its last DeviceReport (this session)
    question: Optional[HostKeyQuestion] = None
    busy: Optional[str] = None  # "check" | "measure" while one runs
    busy_device: Optional[str] = None
    progress: tuple[float, str] = (0.0, "")
    error: Optional[str] = None
    status: str = ""  # the last outcome in words (checked, measured, cancelled)

    def __post_init__(self) -> None:
        self.workspace = Path(self.workspace)
        self.reload()

    # ------------------------------------------------------------------ the device list

    def reload(self) -> None:
        """Read devices.toml again; the selection stays when its device does."""
        self.devices = load_devices()
        if self.selected not in self.devices:
            self.selected = next(iter(sorted(self.devices)), None)

    def select(self, name: Optional[str]) -> None:
        if name != self.selected:
            self.selected = name if name in self.devices else None
            self.question = None
            self.error = None
            self.status = ""

    @property
    def device(self) -> Optional[Device]:
        return self.devices.get(self.selected) if self.selected else None

    def form_action(self, name: str) -> str:
        """The form's button: "Update" for the name of a registered device, else "Add"."""
        return "Update" if name.strip() in self.devices else "Add"

    def save(self, form: DeviceForm) -> Device:
        """Add (or update) the device in the form; raises EdgeSlimError with the fix for a bad field."""
        name = form.name.strip()
        if not name:
            raise EdgeSlimError("the device has no name", "give it a short name, e.g. pi5")
        if not form.target.strip():
            raise EdgeSlimError("no target profile is chosen", "choose the profile that describes the board")
        device = add_device(name, form.ssh.strip(), form.target.strip(), port=int(form.port),
                            identity=form.identity.strip() or None, python=form.python.strip() or None,
                            replace=name in self.devices)
        self.reports.pop(name, None)  # a changed address or Python needs a fresh check
        self.reload()
        self.select(name)
        self.status = f"{name} saved: check it to see what it has"
        return device

    def remove(self, name: str) -> None:
        remove_device(name)
        self.reports.pop(name, None)
        if self.question is not None and self.question.device == name:
            self.question = None
        self.reload()
        self.status = f"{name} removed; its measurements stay with their runs"

    # ------------------------------------------------------------------ the check

    @property
    def report(self) -> Any:
        return self.reports.get(self.selected) if self.selected else None

    def rows(self) -> list[CheckRow]:
        return check_rows(self.report) if self.report is not None else []

    def install_line(self) -> Optional[str]:
        """The one ``pip install`` line to run on the board when it lacks a package (None when nothing is missing)."""
        report, device = self.report, self.device
        return report.install_line(device.python) if report is not None and device is not None else None

    def check_work(self, accept_host_key: bool = False) -> Work:
        """Work that connects to the selected board and probes it (for the job controller's thread)."""
        device = self._need_device()
        self._begin("check", device.name)

        def work(emit: Callable[[Any], None], cancel: CancelToken) -> Any:
            from core.devices.check import check_device

            emit(Progress(0.0, f"connecting to {device.name} ({device.address})"))
            return check_device(device, accept_host_key=accept_host_key)

        return work

    def trust(self) -> Work:
        """The user trusts the new key the question shows: the check again, recording the key."""
        if self.question is None or not self.question.can_trust:
            raise EdgeSlimError("there is no new host key to trust", "check the device first")
        self.select(self.question.device)
        self.question = None
        return self.check_work(accept_host_key=True)

    def distrust(self) -> None:
        if self.question is not None:
            self.status = f"{self.question.device}'s key was not trusted: nothing was recorded"
        self.question = None

    # ------------------------------------------------------------------ the measure

    def measure_blocker(self) -> Optional[str]:
        """Why *Measure* cannot start now, in words (None when it can)."""
        if self.busy:
            return f"wait for the {self.busy} to finish"
        if self.run_id is None:
            return "choose a finished run to measure"
        if self.device is None:
            return "add a device and choose it"
        if self.report is None:
            return f"check {self.device.name} first"
        if not self.report.ready:
            return f"{self.device.name} lacks {', '.join(self.report.missing)}: run the pip line on it, then check again"
        return None

    @property
    def can_measure(self) -> bool:
        return self.measure_blocker() is None

    @property
    def measure_label(self) -> str:
        return f"Measure run {self.run_id}" if self.run_id is not None else "Measure a run"

    def measure_work(self) -> Work:
        """Work that measures the chosen run on the selected board and stores the result with the run."""
        blocker = self.measure_blocker()
        if blocker:
            raise EdgeSlimError(f"cannot measure yet: {blocker}", "")
        device, run_id, folder = self.device, int(self.run_id), self.workspace  # type: ignore[arg-type]
        options = replace(self.options, accept_host_key=False)  # the check has recorded the key
        self._begin("measure", device.name)  # type: ignore[union-attr]

        def work(emit: Callable[[Any], None], cancel: CancelToken) -> Any:
            from core.devices.measure import measure_run
            from core.store.workspace import Workspace

            with Workspace(folder, check_interrupted=False) as ws:  # its own connection, on this thread
                return measure_run(ws, run_id, device, options, lambda f, m: emit(Progress(f, m)), cancel)

        return work

    def finished_runs(self) -> list[tuple[int, str]]:
        """(id, label) of the workspace's finished runs, for the run picker; none when there is no workspace yet."""
        from core.store.workspace import Workspace

        if not self._db().is_file():
            return []
        try:
            with Workspace(self.workspace, read_only=True) as ws:
                runs = ws.list_runs(status="done")
        except EdgeSlimError:
            return []
        return [(r.id, f"Run #{r.id} · {r.name}") for r in runs]

    def measurements(self) -> list[dict]:
        """The chosen run's stored measurements, oldest first."""
        from core.devices.measurements import measurements_for_run

        if self.run_id is None:
            return []
        return measurements_for_run(self._db(), self.run_id)

    def _db(self) -> Path:
        from core.store.workspace import DB_NAME

        return self.workspace / DB_NAME

    # ------------------------------------------------------------------ events of the work

    def _need_device(self) -> Device:
        if self.device is None:
            raise EdgeSlimError("no device is chosen", "add a device, or choose one in the list")
        if self.busy:
            raise EdgeSlimError(f"a {self.busy} is running", "wait for it, or cancel it")
        return self.device

    def _begin(self, kind: str, device: str) -> None:
        self.busy, self.busy_device = kind, device
        self.progress = (0.0, "")
        self.error = None
        self.question = None
        self.status = ""

    def on_event(self, event: Any) -> None:
        """Take one event of the running work (Progress, then Done or Failed)."""
        if isinstance(event, Progress):
            self.progress = (min(max(event.fraction, 0.0), 1.0), event.message)
        elif isinstance(event, Done):
            self._done(event.result)
        elif isinstance(event, Failed):
            self._failed(event.error, event.cancelled)

    def _done(self, result: Any) -> None:
        kind, name = self.busy, self.busy_device
        self.busy = self.busy_device = None
        self.progress = (1.0, "")
        if kind == "check":
            self.reports[name] = result  # type: ignore[index]
            self.status = f"{name} is ready to measure" if result.ready else f"{name} lacks {', '.join(result.missing)}"
        elif kind == "measure":
            m = result.run
            self.status = (f"Run {m.run_id} on {name}: median {m.latency_median_ms:.3f} ms, p90 {m.latency_p90_ms:.3f} ms"
                           + (f", speed-up {result.speedup:.2f}× over the baseline" if result.speedup else ""))

    def _failed(self, error: BaseException, cancelled: bool) -> None:
        from core.devices.ssh import HostKeyError

        kind, name = self.busy, self.busy_device
        self.busy = self.busy_device = None
        self.progress = (0.0, "")
        if cancelled:
            self.status = f"{kind or 'work'} cancelled: nothing was stored" if kind == "measure" else "check cancelled"
            return
        if kind == "check" or isinstance(error, HostKeyError):
            self.reports.pop(name, None)  # what the board has is not known any more: Measure waits for a check
        if isinstance(error, HostKeyError):
            self.question = HostKeyQuestion(name or "", error.fingerprint, error.changed, error.for_app())
            return
        self.error = error.for_app() if isinstance(error, EdgeSlimError) else str(error)
