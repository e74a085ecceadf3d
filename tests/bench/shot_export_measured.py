"""Pictures of the Export page showing a run's latency measured on a board next to the calibrated estimate.

Runs the int8 recipe on the demo into a fresh workspace, measures the run and
its baseline with ``edgeslim-cli measure`` on a "board" reached over SSH (the
test suite's asyncssh server on 127.0.0.1 standing in for a Raspberry Pi: the
figures are this machine's), then opens the window on the Export page with
that run and the rpi5 profile and saves it at each size.
Usage: ``python tests/bench/shot_export_measured.py OUT_PREFIX [--sizes 1280x800 1024x640]``
(writes OUT_PREFIX-1280x800.png, …).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.bench.shot_device_axis import cli  # noqa: E402  (same CLI runner)


def _wait(app, until, seconds: float = 600.0) -> None:
    end = time.monotonic() + seconds
    while not until():
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for the window")
        app.processEvents()
        time.sleep(0.02)


def snap(ws_path: str, out_prefix: str, sizes: list[str], tmp: Path) -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from gui.app import MIN_SIZE
    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("workspace", "")
    win = MainWindow(settings=settings, workspace=Path(ws_path), persist=False, headless=True)
    win.setMinimumSize(*MIN_SIZE)  # the asked-for sizes, as gui.app's --screenshot does
    win.show()
    win.start(demo=True)
    _wait(app, lambda: win.compress_page.ready and not win.is_busy())
    page = win.export_page
    run_id = max(r.id for r in win.workspace.list_runs(status="done"))
    page.show_run(win.workspace.get_run(run_id))
    page.set_target("rpi5")
    win.show_page("export")
    _wait(app, lambda: not page.check_pending() and page.fit_view.state == "done")
    print(f"Latency: {page.fit_view.values['Latency']}\nMeasured: {page.fit_view.values['Measured']}", flush=True)
    for size in sizes:
        w, h = (int(v) for v in size.split("x"))
        win.resize(w, h)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)
        out = Path(f"{out_prefix}-{size}.png")
        out.parent.mkdir(parents=True, exist_ok=True)
        win.grab().save(str(out), "PNG")
        print(f"saved {out}", flush=True)
    errors = list(win.errors)
    win.close()
    for message in errors:
        sys.stderr.write(f"edgeslim: {message}\n")
    return 1 if errors else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_prefix")
    p.add_argument("--sizes", nargs="+", default=["1280x800", "1024x640"])
    args = p.parse_args()
    from tests.core.devices.sshd import start_server

    with tempfile.TemporaryDirectory(prefix="edgeslim-shot-") as tmp:
        tmp_path = Path(tmp)
        os.environ.update({"EDGESLIM_CONFIG_DIR": str(tmp_path / "config"), "QT_QPA_PLATFORM": "offscreen"})
        env = dict(os.environ)
        ws = str(tmp_path / "ws")
        cli("run", str(ROOT / "resources" / "recipes" / "int8-static.toml"), "--model", "demo", "--data", "demo",
            "--workspace", ws, "--repeats", "20", "--quiet", env=env)
        server = start_server(tmp_path / "sshd")
        try:
            cli("devices", "add", "pi", "--ssh", f"{getpass.getuser()}@127.0.0.1", "--port", str(server.port),
                "--identity", str(server.client_key_path), "--target", "rpi5", "--python", sys.executable, env=env)
            print(cli("measure", "--run", "1", "--device", "pi", "--workspace", ws, "--baseline",
                      "--accept-host-key", "--quiet", env=env).strip().splitlines()[-1], flush=True)
        finally:
            server.stop()
        return snap(ws, args.out_prefix, args.sizes, tmp_path)


if __name__ == "__main__":
    sys.exit(main())
