"""Every page at 1024×640 (the smallest window the README promises) and 1280×800: no button or label cut."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.gui.layout_check import SIZES, cut_widgets, show_at

RECIPE = Path(__file__).resolve().parents[2] / "resources" / "recipes" / "prune-finetune-int8.toml"


@pytest.mark.parametrize("page", ["model", "data", "compress", "explore", "export"])
def test_the_page_reads_without_anything_cut(page, demo_window, qtbot, tmp_path):
    win = demo_window
    if page == "compress":
        assert win.compress_page.open_recipe(RECIPE)
    win.show_page(page)
    widget = win.stack.currentWidget()
    folder = Path(os.environ.get("EDGESLIM_SHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    for w, h in SIZES:
        show_at(win, w, h)
        qtbot.wait(50)
        problems = cut_widgets(widget)
        assert not problems, f"{page} at {w}x{h}:\n" + "\n".join(problems)
        assert win.grab().save(str(folder / f"{page}-{w}x{h}.png"))
