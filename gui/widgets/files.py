"""File dialogs shared by the pages: one place that decides how a chosen name becomes a path."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtWidgets import QFileDialog, QWidget


def ask_save_toml(parent: QWidget, title: str, start: Path, file_filter: str) -> Optional[Path]:
    """Ask where to save a TOML file (recipe, sweep); ``.toml`` is added when the name has no suffix. None if cancelled."""
    chosen, _ = QFileDialog.getSaveFileName(parent, title, str(start), file_filter)
    if not chosen:
        return None
    return Path(chosen if chosen.endswith(".toml") else chosen + ".toml")
