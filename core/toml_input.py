"""Reading TOML a user wrote: a leading byte-order mark is accepted, absurd nesting is an error, not a crash.

Editors on Windows often save UTF-8 with a BOM, which ``tomllib`` rejects as
"Invalid statement (at line 1, column 1)" without naming it; the BOM carries no
meaning, so it is dropped. ``tomllib`` parses nested arrays recursively, so a
file nesting them 100,000 deep raised ``RecursionError`` — an internal error;
here it is :class:`TomlTooDeep`, which the recipe, sweep and profile readers
report with the file's name.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

BOM = "\ufeff"


class TomlTooDeep(ValueError):
    """Arrays or inline tables nested deeper than the parser can follow."""

    def __init__(self) -> None:
        super().__init__("arrays or inline tables are nested too deeply to read (hundreds of levels or more)")


def strip_bom(text: str) -> str:
    """``text`` without a leading UTF-8 byte-order mark."""
    return text[1:] if text.startswith(BOM) else text


def loads(text: str) -> dict:
    """``tomllib.loads`` for user files; raises ``tomllib.TOMLDecodeError`` or :class:`TomlTooDeep`."""
    try:
        return tomllib.loads(strip_bom(text))
    except RecursionError:
        raise TomlTooDeep() from None
