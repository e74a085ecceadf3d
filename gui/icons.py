"""Icons shipped in ``resources/icons`` (SVG, drawn for this app)."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtGui import QIcon

from core.paths import RESOURCES_DIR

ICONS_DIR = RESOURCES_DIR / "icons"


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    """``icon("model")`` -> the icon in ``resources/icons/model.svg`` (a null icon when missing)."""
    path = ICONS_DIR / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()
