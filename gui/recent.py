"""The File ▸ Recent list: models, datasets and workspaces opened lately, kept in the window's settings."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

from gui.job_bar import short_path

RECENT_MAX = 12
RECENT_KINDS = {"model": "Model", "data": "Dataset", "workspace": "Workspace"}


class RecentFiles:
    def __init__(self, settings: QSettings, persist: bool = True) -> None:
        self.settings, self.persist = settings, persist

    def entries(self) -> list[tuple[str, str]]:
        raw = self.settings.value("recent") or []
        if isinstance(raw, str):
            raw = [raw]
        out = []
        for entry in raw:
            kind, _, path = str(entry).partition("\t")
            if kind in RECENT_KINDS and path:
                out.append((kind, path))
        return out

    def add(self, kind: str, path: str) -> None:
        if not self.persist or path == "demo":
            return
        entries = [(k, p) for k, p in self.entries() if (k, p) != (kind, path)]
        entries.insert(0, (kind, path))
        self.settings.setValue("recent", [f"{k}\t{p}" for k, p in entries[:RECENT_MAX]])

    def clear(self) -> None:
        self.settings.setValue("recent", [])

    def fill(self, menu: QMenu, open_entry: Callable[[str, str], None]) -> None:
        """Put the entries into ``menu``; choosing one calls ``open_entry(kind, path)``."""
        menu.clear()
        entries = self.entries()
        if not entries:
            menu.addAction("(nothing yet)").setEnabled(False)
            return
        for kind, path in entries:
            menu.addAction(f"{RECENT_KINDS.get(kind, kind)}: {short_path(path, 60)}", lambda k=kind, p=path: open_entry(k, p))
        menu.addSeparator()
        menu.addAction("Clear the list", self.clear)
