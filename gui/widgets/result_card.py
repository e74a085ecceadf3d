"""Before / after card of a stored run: accuracy, size, MACs, latency and the ratios between them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core import fmt
from gui.pages.compress_model import clock, fp32_layers, step_notes
from gui.style import ERROR_COLOUR, GOOD_COLOUR, MUTED_COLOUR

EMPTY_TEXT = (
    "No result yet. Press <b>Run</b> to apply the recipe: the model before and after, measured the same way, "
    "appears here, and the run is stored in the workspace."
)


def _pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:.2f} %"


def _ms(x: Optional[float]) -> str:
    return "—" if x is None else f"{x:.3f} ms"


OPPOSITE = {"fewer": "more", "smaller": "larger", "faster": "slower"}


def change_text(ratio: Optional[float], word: str) -> str:
    """before/after ratio (above 1 = better) in words: '2.50× fewer', 'same', '1.05× more'."""
    if ratio is None or ratio <= 0:
        return "—"
    if abs(ratio - 1) < 0.005:
        return "same"
    return f"{ratio:.2f}× {word}" if ratio > 1 else f"{1 / ratio:.2f}× {OPPOSITE.get(word, word)}"


def rows_for(before: dict, after: dict) -> list[tuple[str, str, str, str, Optional[bool]]]:
    """(metric, before, after, change, better?) for a baseline and final metrics dict from the store."""
    ratios = after.get("ratios") or {}
    rows: list[tuple[str, str, str, str, Optional[bool]]] = []
    a0, a1 = before.get("accuracy"), after.get("accuracy")
    if a0 is not None or a1 is not None:
        delta = None if a0 is None or a1 is None else 100 * (a1 - a0)
        rows.append(("Top-1 accuracy", _pct(a0), _pct(a1), "—" if delta is None else f"{delta:+.2f} pt",
                     None if delta is None or abs(delta) < 0.005 else delta > 0))
    if after.get("agreement") is not None:
        rows.append(("Agreement", _pct(1.0), _pct(after.get("agreement")), "", None))

    def ratio_row(label: str, key: str, text, ratio_key: Optional[str], word: str, exact: bool = False) -> None:
        b, a = before.get(key), after.get(key)
        r = ratios.get(ratio_key) if ratio_key else (b / a if b and a else None)
        change = change_text(r, word)
        if exact and change == "same" and b != a and b is not None and a is not None:  # counts: "same" only when equal
            change = f"{fmt.si(abs(a - b))} {'more' if a > b else word}"
        rows.append((label, text(b), text(a), change, None if r is None or abs(r - 1) < 0.005 else r > 1))

    ratio_row("Parameters", "params", fmt.si, None, "fewer", exact=True)
    if before.get("nonzero_params") != after.get("nonzero_params") and after.get("nonzero_params") != after.get("params"):
        ratio_row("Non-zero parameters", "nonzero_params", fmt.si, None, "fewer", exact=True)
    ratio_row("MACs", "macs", fmt.si, "macs", "fewer", exact=True)
    ratio_row("ONNX file", "size_bytes", fmt.size, "size", "smaller")
    ratio_row("Zipped", "zip_bytes", fmt.size, "zip", "smaller")
    lb = (before.get("latency_ms") or {}).get("onnxruntime")
    la = (after.get("latency_ms") or {}).get("onnxruntime")
    speed = ratios.get("speedup_onnxruntime") or (lb / la if lb and la else None)
    rows.append(("ORT latency", _ms(lb), _ms(la), change_text(speed, "faster"),
                 None if speed is None or abs(speed - 1) < 0.02 else speed > 1))
    return rows


def breakable(path: str) -> str:
    """A path that a word-wrapping label may break after each separator (long paths must not widen the card)."""
    return str(path).replace("/", "/\u200b").replace("\\", "\\\u200b")


class ResultCard(QFrame):
    """The latest run's outcome; ``show_row(RunRow, reused)`` fills it, ``clear()`` empties it."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.title = QLabel("<b>Result</b>")
        self.title.setWordWrap(True)
        self.status = QLabel(EMPTY_TEXT)
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 4, 0, 4)
        self.grid.setHorizontalSpacing(8)
        self.grid.setVerticalSpacing(3)
        self.steps = QLabel()
        self.steps.setWordWrap(True)
        self.steps.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.artifact = QLabel()
        self.artifact.setWordWrap(True)
        self.artifact.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open run folder")
        self.open_button.clicked.connect(self._open_folder)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.title)
        layout.addWidget(self.status)
        layout.addWidget(self.grid_host)
        layout.addWidget(self.steps)
        layout.addWidget(self.artifact)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.row: Any = None
        self.values: dict[str, tuple[str, str, str]] = {}  # metric -> (before, after, change), for tests
        self.clear()

    def clear(self) -> None:
        self.row = None
        self.values = {}
        self.title.setText("<b>Result</b>")
        self.status.setText(EMPTY_TEXT)
        self._fill_grid([])
        self.steps.setText("")
        self.steps.setVisible(False)
        self.artifact.setVisible(False)
        self.open_button.setVisible(False)

    def show_message(self, title: str, text: str) -> None:
        """A run that left no stored metrics (e.g. it failed before the baseline)."""
        self.clear()
        self.title.setText(f"<b>{title}</b>")
        self.status.setText(text)

    def show_row(self, row, reused: bool = False, note: str = "") -> None:
        self.row = row
        status = row.status
        seconds = f" in {clock(row.seconds)}" if row.seconds else ""  # the run box says "Took" the same
        heading = {"done": f"Run #{row.id} finished{seconds}", "cancelled": f"Run #{row.id} cancelled{seconds}",
                   "failed": f"Run #{row.id} failed", "interrupted": f"Run #{row.id} interrupted"}.get(status, f"Run #{row.id}: {status}")
        self.title.setText(f"<b>{heading}</b> — {row.name}")
        lines = [note] if note else []
        if reused:
            lines.append(f"An identical run was already stored in this workspace; showing run #{row.id} instead of running again.")
        if status == "cancelled":
            done = len(row.steps or [])
            lines.append(f"Stopped by the user after {done} step{'s' if done != 1 else ''}; what finished is stored.")
        if row.error and status != "cancelled":
            lines.append(f"<span style='color:{ERROR_COLOUR}'>{row.error}</span>")
        final = row.final or {}
        base = row.baseline or {}
        self._fill_grid(rows_for(base, final) if base and final and (row.steps or status == "done") else [])
        if not self.values and not lines:
            lines.append("No measurements were stored for this run.")
        self.status.setText("<br>".join(lines))
        self.status.setVisible(bool(lines))
        summaries = [f"{s.get('index', i)}. <b>{s.get('technique')}</b>: {s.get('summary', '')}" for i, s in enumerate(row.steps or [], start=1)]
        notes = [f"<span style='color:{MUTED_COLOUR}'>note: {n}</span>" for n in step_notes(row.steps or [])]
        fp32 = [f"<b>fp32:</b> {line}" for line in fp32_layers(row.steps or [])]
        self.steps.setText("<br>".join(summaries + fp32 + notes[:4]))
        self.steps.setVisible(bool(summaries))
        artifact = (row.artifacts or {}).get("onnx") or (row.artifacts or {}).get("pt2")
        if artifact:
            self.artifact.setText(f"Model file: <code>{breakable(artifact)}</code>")
        self.artifact.setVisible(bool(artifact))
        self.open_button.setVisible(bool(row.artifacts))

    def _fill_grid(self, rows) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.values = {}
        self.grid_host.setVisible(bool(rows))
        if not rows:
            return
        for col, head in enumerate(("", "Before", "After", "Change")):
            label = QLabel(f"<b>{head}</b>")
            label.setAlignment(Qt.AlignmentFlag.AlignRight if col else Qt.AlignmentFlag.AlignLeft)
            self.grid.addWidget(label, 0, col)
        for r, (metric, before, after, change, better) in enumerate(rows, start=1):
            self.values[metric] = (before, after, change)
            colour = "" if better is None else (GOOD_COLOUR if better else ERROR_COLOUR)
            cells = (metric, before, after, f"<span style='color:{colour}'>{change}</span>" if colour else change)
            for col, text in enumerate(cells):
                label = QLabel(text)
                label.setAlignment(Qt.AlignmentFlag.AlignRight if col else Qt.AlignmentFlag.AlignLeft)
                self.grid.addWidget(label, r, col)
        self.grid.setColumnStretch(0, 1)

    def _open_folder(self) -> None:
        if self.row is None:
            return
        result = (self.row.artifacts or {}).get("result") or (self.row.artifacts or {}).get("onnx")
        if result:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(result).parent)))
