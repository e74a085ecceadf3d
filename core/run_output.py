"""``run --out DIR``: a result folder that never overwrites an input and is never half old, half new.

The run writes into a fresh hidden folder beside ``DIR`` and the folder is
moved into place whole when the run ends. ``DIR`` may not hold (or be inside)
the model or the data the run reads; an earlier result in ``DIR`` is replaced
only with ``--force``, and then completely; a folder of other files never is.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from core.controls import ask
from core.errors import EdgeSlimError
from core.staging import clean_stale_partials, partial_dir, swap_into_place
from core.writable import check_writable

RESULT_NAME = "result.json"

OUT = ask("out", action=False)  # the result folder, named as each front-end names it


def is_result(folder: Path) -> bool:
    """Whether ``folder`` holds a result EdgeSlim's ``run --out`` wrote (its result.json has a recipe and a status)."""
    try:
        data = json.loads((folder / RESULT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "recipe" in data and "status" in data


def input_paths(specs: Iterable[Optional[str]]) -> list[Path]:
    """The files and folders named by model / weights / data specs (``cifar10:PATH`` counts as PATH)."""
    found: list[Path] = []
    for spec in specs:
        if not spec or spec == "demo" or spec.startswith("torchvision:"):
            continue  # built in: no file of the user's
        for text in {spec, spec.split(":", 1)[-1]}:
            path = Path(text).expanduser()
            if path.exists():
                found.append(path.resolve())
    return found


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass
class RunOutput:
    """Where a run's files go, checked before any work (see the module docstring)."""

    out: Path
    force: bool = False

    @classmethod
    def check(cls, out: Path | str, inputs: Iterable[Path], force: bool) -> "RunOutput":
        """Refuse, before anything is loaded, an ``--out`` that would destroy an input or an earlier result."""
        out = Path(out).expanduser().absolute()
        real = out.resolve()
        for path in inputs:
            if _inside(path, real):
                raise EdgeSlimError(f"{OUT} {out} holds the run's input {path}, which the result would replace",
                                    f"choose another folder for {OUT} (a new one, or an earlier result's)")
            if path.is_dir() and _inside(real, path):
                raise EdgeSlimError(f"{OUT} {out} is inside the input folder {path}, so the result would become part of it",
                                    f"choose a folder for {OUT} outside the data and model folders")
        if out.exists() and not out.is_dir():
            raise EdgeSlimError(f"{OUT} {out} is a file", f"give a folder path for {OUT}")
        if out.is_dir() and any(out.iterdir()):
            if not is_result(out):
                raise EdgeSlimError(f"{OUT} {out} holds files that are not an EdgeSlim run result, so the run will not write there"
                                    + (f" even with {ask('force', action=False)}" if force else ""), f"choose a new or empty folder for {OUT}")
            if not force:
                raise EdgeSlimError(f"{OUT} {out} already holds an earlier result",
                                    f"{ask('force')} to replace it (completely), or choose another folder for {OUT}")
        check_writable(out, OUT)  # read-only, full, or under a file: now, not after minutes of work
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgeSlimError(f"cannot create {out.parent} ({exc.strerror})", "choose a folder you can write to") from None
        return cls(out, force)

    def run(self, work: Callable[[Path], Any]) -> tuple[Any, dict]:
        """Call ``work(folder)`` on a fresh hidden folder, then move it into place.

        Returns what ``work`` returned and the result.json as it reads at
        ``out`` (its paths pointing there). If ``work`` raises (a failed step,
        Ctrl-C), a first result is kept as the record of what was done, and an
        earlier result stays as it was.
        """
        clean_stale_partials(self.out)
        staging = partial_dir(self.out)
        try:
            value = work(staging)
        except BaseException:
            earlier = self.out.is_dir() and any(self.out.iterdir())
            if not earlier and (staging / RESULT_NAME).is_file():
                self._place(staging)  # what was done before the failure or Ctrl-C, where a first result would have been
            else:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        return value, self._place(staging)

    def _place(self, staging: Path) -> dict:
        record = _relocate(staging, self.out)
        if self.out.is_dir() and any(self.out.iterdir()) and not is_result(self.out):
            shutil.rmtree(staging, ignore_errors=True)  # someone filled the folder meanwhile: never replace their files
            raise EdgeSlimError(f"{OUT} {self.out} was filled with other files during the run, so the result was not written",
                                f"choose a new or empty folder for {OUT} and run again")
        swap_into_place(staging, self.out)
        return record


def _relocate(staging: Path, out: Path) -> dict:
    """Rewrite result.json so its paths name ``out`` rather than the hidden folder."""
    path = staging / RESULT_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    old, new = str(staging), str(out)

    def fix(value: Any) -> Any:
        if isinstance(value, str) and (value == old or value.startswith(old + os.sep)):
            return new + value[len(old):]
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    data = fix(data)
    from core.fileio import atomic_write_json

    atomic_write_json(path, data)
    return data
