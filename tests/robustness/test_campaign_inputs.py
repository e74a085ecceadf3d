"""The campaign's inputs that must now *work* (issue 15, items 8–10): a row is a command line, what is on disk
first, the exit status, fragments its output must hold, and checks on what it printed.

The rows that must fail with one clear line are in ``test_campaign.py``; these succeed, and what matters is
that they say what they skipped or created and that the numbers are right (no silent wrong result).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from core.cli import main
from tests.robustness.inputs import image_folder, odd_image, wide_digits


def top1_at_least(limit: float) -> Callable[[str], None]:
    def check(out: str) -> None:
        m = re.search(r"top-1 accuracy\s+([0-9.]+)", out)
        assert m and float(m.group(1)) >= limit, out

    return check


def no_note(out: str) -> None:
    assert "note:" not in out, out


@dataclass(frozen=True)
class Row:
    """One input that must work: the command, what is on disk first, the exit status and what it must say."""

    name: str
    argv: tuple[str, ...]
    code: int
    stderr: tuple[str, ...] = ()  # fragments stderr must hold
    stdout: tuple[str, ...] = ()  # fragments stdout must hold
    setup: tuple[Callable[[Path], None], ...] = ()
    checks: tuple[Callable[[str], None], ...] = ()  # on stdout


ROWS: list[Row] = [
    # items 8 and 9: 16-bit PNGs and float TIFFs read at their real brightness; a bomb and a NaN image skipped
    # with a note (before: internal error on the bomb; without it, top-1 ≈ 0.1 as the digits read white or black)
    Row("wide-digits-with-a-bomb-and-a-nan-image",
        ("evaluate", "demo", "--data", "{tmp}/digits", "--preset", "as-is", "--repeats", "1", "--threads", "1", "--quiet"), 0,
        stdout=("note: unreadable image 3/bomb.png (196,000,000 pixels, over Pillow's decompression-bomb limit",
                "note: unreadable image 5/nan.tif (floating-point pixels include NaN"),
        setup=(wide_digits("digits"),), checks=(top1_at_least(0.6),)),
    # item 10: a mistyped --workspace path is created, and said so
    Row("runs-list-in-a-mistyped-workspace", ("runs", "list", "--workspace", "{tmp}/wrokspace"), 0,
        stderr=("edgeslim-cli: created new workspace at {tmp}/wrokspace",)),
]

# The campaign's odd images that already loaded before issue 15 (a note where one is skipped or resized): kept as rows.
EVALUATE = ("evaluate", "demo", "--data", "{tmp}/imgs", "--preset", "as-is", "--repeats", "1", "--threads", "1", "--quiet")
ROWS += [
    Row("data-with-a-corrupt-png", EVALUATE, 0, stdout=("note: unreadable image 3/bad.png (cannot identify image file)",
                                                          "(10 validation images)"),
        setup=(image_folder("imgs"), odd_image("imgs/3/bad.png", "corrupt"))),
    Row("data-of-cmyk-jpegs", EVALUATE, 0, stdout=("(10 validation images)",), setup=(image_folder("imgs", cmyk=True),),
        checks=(no_note,)),
    Row("data-with-a-1x1-image-resized", (*EVALUATE, "--image-size", "28"), 0,
        stdout=("note: images come in 2 sizes (28×28 (20 images), 1×1 (1 image))",),
        setup=(image_folder("imgs"), odd_image("imgs/3/one.png", "1x1"))),
    Row("data-with-a-symlink-loop", EVALUATE, 0, stdout=("(10 validation images)",), checks=(no_note,),
        setup=(image_folder("imgs"), odd_image("imgs/3/loop", "loop"))),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_input_works_and_says_what_it_did(row: Row, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for setup in row.setup:
        setup(tmp_path)
    code = main([a.replace("{tmp}", str(tmp_path)) for a in row.argv])
    out, err = capsys.readouterr()
    assert code == row.code, err
    assert "Traceback" not in err and "internal error" not in err
    for fragment in row.stderr:
        assert fragment.replace("{tmp}", str(tmp_path)) in err, err
    for fragment in row.stdout:
        assert fragment.replace("{tmp}", str(tmp_path)) in out, out
    for check in row.checks:
        check(out)


def test_the_row_names_are_unique():
    assert len({r.name for r in ROWS}) == len(ROWS)
