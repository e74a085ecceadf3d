"""Issue 17 #11: the Compress page's editor and result share the height so both are usable at the promised sizes."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QScrollArea

from tests.gui.layout_check import show_at

RECIPE = Path(__file__).resolve().parents[2] / "resources" / "recipes" / "prune-finetune-int8.toml"


def _whole_form_rows(page) -> int:
    """How many of the step form's rows are entirely in sight without scrolling."""
    form = page.form
    area = form.parentWidget()
    while area is not None and not isinstance(area, QScrollArea):
        area = area.parentWidget()
    viewport = area.viewport()
    layout = form.form
    seen = 0
    for row in range(layout.rowCount()):
        item = layout.itemAt(row, layout.ItemRole.FieldRole)
        if item is None or item.widget() is None or not item.widget().isVisible():
            continue
        field = item.widget()
        top = field.mapTo(viewport, QPoint(0, 0)).y()
        seen += 0 <= top and top + field.height() <= viewport.height()
    return seen


def test_the_step_form_shows_five_fields_at_1024x640_and_the_result_card_fits_at_1280x800(demo_window, qtbot):
    win = demo_window
    page = win.compress_page
    assert page.open_recipe(RECIPE)
    win.show_page("compress")
    show_at(win, 1024, 640)
    qtbot.wait(50)
    assert _whole_form_rows(page) >= 4, "the step form is a slot of three fields between two scrollbars"

    show_at(win, 1280, 800)
    qtbot.wait(50)
    assert _whole_form_rows(page) >= 5
    tab = page.run_area.result_tab
    card = page.card
    assert tab.viewport().height() >= 330, "the result card's table and step lines need about 330 px"

    # a user's drag of the handle is kept through later resizes
    split = page.split
    split.moveSplitter(200, 1)
    split.splitterMoved.emit(200, 1)
    show_at(win, 1024, 640)
    qtbot.wait(50)
    assert split.user_sized
    assert card is page.card
