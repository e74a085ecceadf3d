"""Explore page: the runs stored in the workspace, with the size / accuracy front marked.

Trade-off plots come with a later version of this page; until then it lists
every stored run (read straight from the workspace) so results can be compared
and found again.
"""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core import fmt
from gui.widgets.table import DataTable

COLUMNS = ("Run", "Name", "Status", "Steps", "Top-1", "Δ pt", "ONNX file", "Size ×", "MACs", "Latency", "Speed-up", "Front", "Finished")


def _when(stamp: Optional[str]) -> str:
    """'2025-05-14T18:45:02+00:00' -> '05-14 18:45' (local time)."""
    if not stamp:
        return "—"
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%m-%d %H:%M")
    except ValueError:
        return stamp


class ExplorePage(QWidget):
    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        title = QLabel("Explore")
        title.setObjectName("pageTitle")
        note = QLabel(
            "Every run stored in the workspace, newest last. <b>Front</b> marks the runs that no other run beats on both "
            "file size and accuracy. Interactive trade-off plots (accuracy against size, MACs and latency) will appear "
            "on this page; meanwhile <code>edgeslim-cli runs pareto --workspace WORKSPACE</code> prints the front over any "
            "two or three objectives."
        )
        note.setObjectName("notice")
        note.setWordWrap(True)
        self.caption = QLabel("Runs")
        self.refresh_button = QPushButton("Refresh")
        head = QHBoxLayout()
        head.addWidget(self.caption)
        head.addStretch(1)
        head.addWidget(self.refresh_button)
        self.table = DataTable(COLUMNS)
        self.table.filter.setPlaceholderText("Filter runs (name, status, technique, …)")
        self.empty = QLabel("No runs in this workspace yet: build a recipe on the Compress page and press Run.")
        self.empty.setObjectName("muted")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(note)
        layout.addLayout(head)
        layout.addWidget(self.empty)
        layout.addWidget(self.table, 1)
        self.workspace: Any = None
        self.refresh_button.clicked.connect(self.refresh)

    def set_workspace(self, workspace: Any) -> None:
        self.workspace = workspace
        self.refresh()

    def refresh(self) -> None:
        runs = self.workspace.list_runs() if self.workspace is not None else []
        from core.pipeline.pareto import pareto_indices

        done = [r for r in runs if r.status == "done" and r.final]
        try:
            front = {done[i].id for i in pareto_indices([r.final for r in done], ["size", "accuracy"])} if done else set()
        except Exception:  # a front needs comparable metrics; without them the column stays empty
            front = set()
        rows = []
        for r in runs:
            f, b = r.final or {}, r.baseline or {}
            acc, acc0 = f.get("accuracy"), b.get("accuracy")
            delta = None if acc is None or acc0 is None else 100 * (acc - acc0)
            ratios = f.get("ratios") or {}
            lat = (f.get("latency_ms") or {}).get("onnxruntime")
            rows.append([
                (f"#{r.id}", r.id), (r.name, r.name), (r.status, r.status),
                (" → ".join(r.techniques), " ".join(r.techniques)),
                ("—" if acc is None else f"{100 * acc:.2f} %", acc if acc is not None else -1.0),
                ("—" if delta is None else f"{delta:+.2f}", delta if delta is not None else -1e9),
                (fmt.size(f.get("size_bytes")), f.get("size_bytes") or 0),
                ("—" if not ratios.get("size") else f"{ratios['size']:.2f}×", ratios.get("size") or 0.0),
                (fmt.si(f.get("macs")), f.get("macs") or 0),
                ("—" if lat is None else f"{lat:.3f} ms", lat if lat is not None else 1e9),
                ("—" if not ratios.get("speedup_onnxruntime") else f"{ratios['speedup_onnxruntime']:.2f}×", ratios.get("speedup_onnxruntime") or 0.0),
                ("★" if r.id in front else "", 1 if r.id in front else 0),
                (_when(r.finished), r.finished or ""),
            ])
        self.table.set_rows(rows)
        steps_col = COLUMNS.index("Steps")
        for i in range(self.table.model.rowCount()):
            item = self.table.model.item(i, steps_col)
            item.setToolTip(item.text())
        view = self.table.view
        view.setColumnWidth(steps_col, min(view.columnWidth(steps_col), 180))  # long chains are elided; the tooltip has them
        self.caption.setText(f"<b>Runs</b> ({len(runs)}) in <code>{self.workspace.path if self.workspace else '—'}</code>")
        self.empty.setVisible(not runs)
