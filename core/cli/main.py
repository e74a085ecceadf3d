"""``edgeslim-cli``: the parser, the entry point and the one place errors become exit codes.

Every command has ``--help``. Input problems exit with status 2 and one line
naming the problem and the fix; unexpected failures exit 1 with one line and
the path of a log holding the traceback. ``--json`` prints exactly one JSON
object on stdout; progress goes to stderr. Each command group is a module that
registers its sub-commands (``add_commands``) and imports only ``common``.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Optional, Sequence

from core import __version__
import core.cli.basic as basic
import core.cli.classes as classes
import core.cli.devices as devices
import core.cli.export as export
import core.cli.run as run
import core.cli.runs as runs
import core.cli.sensitivity as sensitivity
import core.cli.sweep as sweep
from core.cli.common import _fresh_line
from core.errors import EdgeSlimError

EXIT_USAGE = 2
EXIT_INTERNAL = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeslim-cli",
        description="Compress computer-vision models for embedded devices: inspect, evaluate, run recipes, train the demo.",
    )
    parser.add_argument("--version", action="version", version=f"edgeslim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in (basic, run, sweep, runs, classes, sensitivity, export, devices):
        group.add_commands(sub)
    return parser


def _log_crash() -> Optional[Path]:
    """The traceback in a new file of its own (None when nothing could be written; never raises)."""
    from core.crash_log import write_crash_log

    return write_crash_log(traceback.format_exc())


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EdgeSlimError as exc:
        sys.stderr.write(f"{_fresh_line()}edgeslim-cli: error: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into `head` and the reader left: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        sys.stderr.write(f"{_fresh_line()}edgeslim-cli: interrupted\n")
        return 130
    except Exception as exc:  # last resort: one line, traceback in a log; reporting never fails in turn
        from core.crash_log import describe
        from core.store.disk_faults import as_user_error

        disk = as_user_error(exc)  # a disk that filled up or is read-only mid-command: the user's to fix, not a bug
        if disk is not None:
            sys.stderr.write(f"{_fresh_line()}edgeslim-cli: error: {disk}\n")
            return EXIT_USAGE

        log = _log_crash()
        where = f"details in {log}" if log else "the details could not be saved: no writable folder for a crash log"
        try:
            sys.stderr.write(f"{_fresh_line()}edgeslim-cli: internal error: {describe(exc)} ({where}; please report it)\n")
        except Exception:  # noqa: BLE001 - stderr closed or broken: the exit code still says it
            pass
        return EXIT_INTERNAL
