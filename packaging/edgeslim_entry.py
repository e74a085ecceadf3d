"""Entry point of the frozen desktop app (PyInstaller runs this file as ``__main__``).

The GUI runs recipes in a child process started with multiprocessing's
"spawn": in a frozen app that child is this same executable, started with
``--multiprocessing-fork`` (or, for the resource tracker, ``-c ...``).
``freeze_support()`` must therefore run before anything else — before
argparse sees those arguments and before Qt opens a second window — so that
the child becomes a worker and never a GUI.

One executable serves both commands: started through the ``edgeslim-cli``
link beside it, it is the command line (a second executable would carry a
second copy of the 60 MB Python archive).
"""

from __future__ import annotations

import multiprocessing
import os
import sys

CLI_NAME = "edgeslim-cli"


def main() -> int:
    multiprocessing.freeze_support()  # returns only in the parent; a spawned worker runs and exits inside it
    if os.path.basename(sys.argv[0]).startswith(CLI_NAME):
        from core.cli import main as cli_main

        return cli_main(sys.argv[1:])
    from PySide6.QtGui import QGuiApplication

    # ties the window to edgeslim.desktop, so docks and task bars show its icon and name
    QGuiApplication.setDesktopFileName("edgeslim")
    from gui.app import main as gui_main

    return gui_main()


if __name__ == "__main__":
    sys.exit(main())
