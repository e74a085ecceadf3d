"""A sweep file's name and number of trials, known before it runs (the window's job title says "3/12 trials")."""

from __future__ import annotations

from pathlib import Path
from typing import Union


def sweep_name_and_size(sweep_toml: str, base_dir: Union[str, Path] = ".") -> tuple[str, int]:
    """(name, trials) of a sweep file, read by core's own parser; ("sweep", 0) when it cannot be read yet.

    The sweep itself reports the file's problems when it runs; here a title is
    all that is at stake, so a bad file is not an error.
    """
    from core.errors import EdgeSlimError
    from core.pipeline.sweep import parse_sweep

    try:
        spec = parse_sweep(sweep_toml, Path(base_dir), source="sweep")
    except EdgeSlimError:
        return "sweep", 0
    return spec.name, spec.size()
