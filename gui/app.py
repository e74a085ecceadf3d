"""``edgeslim``: start the desktop app.

The window is shown before torch is imported (that happens on the first
worker), so it appears at once. ``--demo --screenshot PATH`` loads the demo,
waits until loading has finished, saves a PNG of the window and exits: the
README's screenshots and the GUI smoke tests are made this way, at
``--size WxH`` (1280x800 by default; every page must read at 1024x640 too). With
``--recipe FILE --run`` the recipe is run first, so the screenshot shows its
result. The workspace is ``--workspace``, else ``$EDGESLIM_WORKSPACE``, else the
one remembered in the settings: what the user sets for this start wins over what
was remembered from the last.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

PAGES = ("model", "data", "compress", "explore", "export")
_T0 = time.perf_counter()


def process_age() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere since this module was imported)."""
    try:
        import os

        with open("/proc/self/stat", encoding="ascii") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter() - _T0


MIN_SIZE = (800, 500)  # below this no page can be laid out


def window_size(text: str) -> tuple[int, int]:
    """``WxH`` (e.g. 1280x800) as two ints; argparse turns the ValueError into a one-line usage error."""
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h)) if sep else None
    except ValueError:
        size = None
    if size is None or size[0] < MIN_SIZE[0] or size[1] < MIN_SIZE[1]:
        raise argparse.ArgumentTypeError(f"{text!r} is not a window size WxH of at least {MIN_SIZE[0]}x{MIN_SIZE[1]}, e.g. 1024x640")
    return size


def chosen_workspace(args: argparse.Namespace, environ: Optional[dict] = None) -> Optional[str]:
    """``--workspace``, else ``$EDGESLIM_WORKSPACE``; None lets the window use the one it remembers."""
    env = (os.environ if environ is None else environ).get("EDGESLIM_WORKSPACE")
    return args.workspace or env or None


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="edgeslim", description="EdgeSlim desktop app")
    p.add_argument("--demo", action="store_true", help="open on the demo model and demo data")
    p.add_argument("--model", help="model to open (same forms as edgeslim-cli)")
    p.add_argument("--data", help="dataset to open (same forms as edgeslim-cli)")
    p.add_argument("--workspace", help="workspace folder for runs (default: $EDGESLIM_WORKSPACE, else the last one, "
                                       "else the user's EdgeSlim workspace)")
    p.add_argument("--recipe", help="recipe TOML to open on the Compress page")
    p.add_argument("--run", action="store_true", help="run the recipe once everything has loaded")
    p.add_argument("--page", choices=PAGES, default="model", help="page to show (default: model)")
    p.add_argument("--target", metavar="NAME", help="device profile whose budgets the Explore page draws and the Export page checks")
    p.add_argument("--latency-budget", type=float, metavar="MS", help="latency budget per image for the Explore page (ms)")
    p.add_argument("--x-axis", metavar="AXIS", help="what the Explore page plots accuracy against: size, latency, macs, "
                   "or device:NAME (the latency measured on board NAME with `edgeslim-cli measure`)")
    p.add_argument("--screenshot", metavar="PATH", help="save a PNG of the window once loaded (and run), then exit")
    p.add_argument("--size", type=window_size, default=(1280, 800), metavar="WxH",
                   help="window size for --screenshot (default 1280x800)")
    p.add_argument("--timing", action="store_true", help="print the time to the first window and to a loaded engine on stderr")
    return p.parse_args(argv)


def open_window(args: argparse.Namespace, settings=None, **kw):
    """The app's window for ``args`` (not a screenshot run): the chosen workspace wins over the remembered one."""
    from gui.main_window import MainWindow

    return MainWindow(settings=settings, workspace=chosen_workspace(args), **kw)


def apply_view_options(window, args: argparse.Namespace) -> None:
    """``--target``, ``--latency-budget`` and ``--x-axis``: how the Explore and Export pages open."""
    explore = window.explore_page
    if args.x_axis:
        index = explore.x_combo.findData(args.x_axis)
        if index < 0:
            choices = ", ".join(str(explore.x_combo.itemData(i)) for i in range(explore.x_combo.count()))
            sys.stderr.write(f"edgeslim: error: --x-axis {args.x_axis} is not one of {choices}\n")
            raise SystemExit(2)
        explore.x_combo.setCurrentIndex(index)
    if args.latency_budget is not None:
        explore.latency_budget.setValue(args.latency_budget)
    if args.target:
        explore.set_target(args.target)
        window.export_page.set_target(args.target)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from gui.platform_check import check_platform

    status = check_platform()  # missing X11 libraries: the install line, not Qt's plugin abort
    if status:
        return status
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("EdgeSlim")
    app.setOrganizationName("EdgeSlim")
    tmp = None
    workspace = chosen_workspace(args)
    if args.screenshot:
        # a screenshot run neither reads nor changes the user's settings: same frame every time
        tmp = tempfile.TemporaryDirectory(prefix="edgeslim-shot-")
        settings = QSettings(str(Path(tmp.name) / "settings.ini"), QSettings.Format.IniFormat)
        settings.setValue("workspace", "")  # not a first start: the demo is asked for explicitly
        window = MainWindow(settings=settings, workspace=workspace, persist=False, headless=True)
        if window.workspace is None:  # nothing would load or fall idle as it should: say why and stop at once
            for message in window.errors:
                sys.stderr.write(f"edgeslim: error: {message}\n")
            window.close()
            tmp.cleanup()
            return 2
        window.setMinimumSize(*MIN_SIZE)  # the asked-for size, not what the pages' size hints would make it
        window.resize(*args.size)
    else:
        window = open_window(args)
    window.show_page(args.page)
    apply_view_options(window, args)
    window.show()
    exit_code = 0
    timings: dict[str, float] = {}

    def shown() -> None:
        timings["window"] = process_age()
        if args.timing:
            sys.stderr.write(f"edgeslim: window shown {timings['window']:.2f} s after the process started\n")

    window.first_paint.connect(shown)
    steps: list = []  # what to do each time the window falls idle (recipe, run, screenshot)

    if args.recipe:
        steps.append(lambda: window.compress_page.open_recipe(args.recipe))
    if args.run:
        steps.append(lambda: window.compress_page.run())

    def snap() -> None:
        nonlocal exit_code
        app.processEvents()
        out = Path(args.screenshot)
        out.parent.mkdir(parents=True, exist_ok=True)
        ok = window.grab().save(str(out), "PNG")
        exit_code = 0 if ok and not window.errors else 1
        for message in window.errors:
            sys.stderr.write(f"edgeslim: {message}\n")
        window.close()
        app.quit()

    if args.screenshot:
        steps.append(snap)

    def on_idle() -> None:
        if "engine" not in timings:
            timings["engine"] = process_age()
            if args.timing:
                sys.stderr.write(f"edgeslim: model, data and techniques loaded {timings['engine']:.2f} s after the process started\n")
        QTimer.singleShot(300, next_step)

    def next_step() -> None:
        if not steps or window.jobs.active:
            return  # the next idle calls again
        if window.is_busy():  # an estimate is about to start
            QTimer.singleShot(300, next_step)
            return
        steps.pop(0)()
        QTimer.singleShot(300, next_step)

    window.idle.connect(on_idle)
    QTimer.singleShot(0, lambda: window.start(model=args.model, data=args.data, demo=args.demo))
    app.exec()
    if tmp is not None:
        tmp.cleanup()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
