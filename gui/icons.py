"""Icons shipped in ``resources/icons`` (SVG, drawn for this app).

An icon may also have bitmaps rendered from its SVG (``app-16.png`` …
``app-512.png``, made by ``packaging/render_icons.py``): they are added to
the QIcon, so window managers and task bars that ask for a bitmap of one size
get a sharp one, and the window keeps its icon even where Qt's SVG plugin is
missing.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtGui import QIcon

from core.paths import RESOURCES_DIR

ICONS_DIR = RESOURCES_DIR / "icons"


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    """``icon("model")`` -> the icon in ``resources/icons/model.svg`` plus its PNG sizes (null when missing)."""
    path = ICONS_DIR / f"{name}.svg"
    result = QIcon(str(path)) if path.is_file() else QIcon()
    for png in sorted(ICONS_DIR.glob(f"{name}-[0-9]*.png")):
        result.addFile(str(png))
    return result
