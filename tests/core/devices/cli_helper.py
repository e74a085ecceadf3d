"""Run the devices/measure commands in-process, through the real CLI when it registers them.

Until ``core.cli.main`` registers :mod:`core.cli.devices`, a parser with just
that group and the same error handling (EdgeSlimError -> exit 2, one line) stands in.
"""

from __future__ import annotations

import argparse
import sys

from core.errors import EdgeSlimError


def _registered() -> bool:
    from core.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return "measure" in sub.choices


def devices_cli(capsys, *argv: str) -> tuple[int, str, str]:
    if _registered():
        from core.cli.main import main

        code = main(list(argv))
    else:
        from core.cli import devices

        parser = argparse.ArgumentParser(prog="edgeslim-cli")
        devices.add_commands(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(list(argv))
        try:
            code = int(args.func(args) or 0)
        except EdgeSlimError as exc:
            sys.stderr.write(f"edgeslim-cli: error: {exc}\n")
            code = 2
    out, err = capsys.readouterr()
    return code, out, err
