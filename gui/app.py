"""``edgeslim``: start the desktop app.

The window is shown before torch is imported (that happens on the first
worker), so it appears at once. ``--demo --screenshot PATH`` loads the demo,
waits until loading has finished, saves a PNG of the window and exits: the
README's screenshots and the GUI smoke tests are made this way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

PAGES = ("model", "data")


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="edgeslim", description="EdgeSlim desktop app")
    p.add_argument("--demo", action="store_true", help="open on the demo model and demo data")
    p.add_argument("--model", help="model to open (same forms as edgeslim-cli)")
    p.add_argument("--data", help="dataset to open (same forms as edgeslim-cli)")
    p.add_argument("--screenshot", metavar="PATH", help="save a PNG of the window once loaded, then exit")
    p.add_argument("--page", choices=PAGES, default="model", help="page to show (default: model)")
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("EdgeSlim")
    app.setOrganizationName("EdgeSlim")
    window = MainWindow()
    window.show_page(args.page)
    window.show()
    exit_code = 0

    if args.screenshot:
        window.setProperty("headless_errors", True)
        window.resize(1200, 780)  # the same frame for every screenshot, whatever was saved last time

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

        window.idle.connect(lambda: QTimer.singleShot(200, snap))

    def start_loading() -> None:
        if args.demo or not (args.model or args.data):
            window.load_model(args.model or "demo")
            window.load_data(args.data or "demo")
        else:
            if args.model:
                window.load_model(args.model)
            if args.data:
                window.load_data(args.data)

    QTimer.singleShot(0, start_loading)
    app.exec()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
