"""Render the application icon's PNG sizes from ``resources/icons/app.svg``.

Desktops pick a bitmap of the exact size they draw (menus 16–48 px, docks and
launchers 128–512 px), and some window managers ignore SVG window icons, so
the SVG is the source and ``app-N.png`` files are rendered from it with Qt's
own SVG renderer. Run after changing the SVG; the packaging test checks that
every size exists.

    QT_QPA_PLATFORM=offscreen python packaging/render_icons.py
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer


def _config():
    """bundle_config without making packaging/ a package (it would shadow PyPI's ``packaging``)."""
    spec = importlib.util.spec_from_file_location("bundle_config", Path(__file__).with_name("bundle_config.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(svg: Path, out_dir: Path, sizes: tuple[int, ...], stem: str = "app") -> list[Path]:
    """Write ``{stem}-{size}.png`` for every size; returns the files written."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"render_icons: cannot read {svg}")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        path = out_dir / f"{stem}-{size}.png"
        if not image.save(str(path), "PNG"):
            raise SystemExit(f"render_icons: cannot write {path}")
        written.append(path)
    return written


def main() -> int:
    cfg = _config()
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # QImage/QPainter need a GUI application
    icons = cfg.RESOURCES / "icons"
    for path in render(icons / "app.svg", icons, cfg.ICON_SIZES):
        print(path.relative_to(cfg.ROOT))
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
