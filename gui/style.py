"""The app's look: one style sheet, so every page shares spacing, cards and the invalid-field mark."""

from __future__ import annotations

ERROR_COLOUR = "#b3261e"
GOOD_COLOUR = "#1e7a34"
MUTED_COLOUR = "#5f6b76"

STYLE_SHEET = f"""
QListWidget#sidebar {{
    outline: 0; background: #eef2f6; border: none; border-right: 1px solid #d5dce3; padding-top: 8px; font-size: 10.5pt;
}}
QListWidget#sidebar::item {{ padding: 9px 8px; margin: 1px 6px; border-radius: 6px; color: #1f2d3a; }}
QListWidget#sidebar::item:selected {{ background: #d3e3f3; color: #0d2f52; font-weight: 600; }}
QListWidget#sidebar::item:hover:!selected {{ background: #e2e9f0; }}
QFrame#card {{ background: #fbfcfd; border: 1px solid #d5dce3; border-radius: 6px; }}
QGroupBox {{ font-weight: 600; border: 1px solid #d5dce3; border-radius: 6px; margin-top: 10px; padding: 8px 6px 6px 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; }}
QLabel#pageTitle {{ font-size: 14pt; font-weight: 600; color: #1f2d3a; }}
QLabel#muted, QLabel[muted="true"] {{ color: {MUTED_COLOUR}; }}
QLabel#error, QLabel[role="error"] {{ color: {ERROR_COLOUR}; }}
QLabel#notice {{ background: #fff8e1; border: 1px solid #f0d58c; border-radius: 4px; padding: 6px; }}
*[invalid="true"] {{ border: 1px solid {ERROR_COLOUR}; background: #fff1f0; border-radius: 3px; }}
QPlainTextEdit#log {{ font-family: monospace; font-size: 9pt; background: #fbfcfd; }}
QPushButton#primary {{ background: #2f5d8a; color: white; border: 1px solid #254b70; border-radius: 4px; padding: 5px 16px; font-weight: 600; }}
QPushButton#primary:disabled {{ background: #a9b9c9; border-color: #a9b9c9; }}
QPushButton#primary:hover:!disabled {{ background: #386b9c; }}
"""


def set_invalid(widget, invalid: bool) -> None:
    """Mark or unmark a field (the style sheet's ``[invalid="true"]`` rule) and repaint it."""
    if bool(widget.property("invalid")) == invalid:
        return
    widget.setProperty("invalid", invalid)
    widget.style().unpolish(widget)
    widget.style().polish(widget)
    widget.update()
