"""The export result card: where the bundle is, its parity per file in words, and buttons to open it.

``show_result`` renders an ``ExportResult.to_dict()`` from the worker;
``show_failure`` explains a refused or failed export with the fix core gave.
``values`` keeps the shown texts for tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core import fmt
from core.controls import for_app
from gui.style import ERROR_COLOUR, GOOD_COLOUR, MUTED_COLOUR
from gui.widgets.export_text import parity_meaning
from gui.widgets.result_card import breakable

EMPTY_TEXT = ("<b>Export</b> writes the bundle — the model file in the target's format, <code>model.json</code>, "
              "<code>infer.py</code>, a README for the device and <code>report.html</code> — then loads the written file "
              "back and compares it with the model on validation images. The parity results appear here.")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def open_path(path: Path) -> bool:
    """Open a file or folder with the desktop's default application."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


class BundleView(QFrame):
    """The outcome of the latest export on this page."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 4, 0, 4)
        self.grid.setHorizontalSpacing(14)
        self.grid.setVerticalSpacing(3)
        self.measured = QLabel()
        self.measured.setWordWrap(True)
        self.measured.setObjectName("muted")
        self.open_folder_button = QPushButton("Open folder")
        self.open_folder_button.clicked.connect(lambda: self.folder and open_path(self.folder))
        self.open_report_button = QPushButton("Open report")
        self.open_report_button.setToolTip("report.html: the model card, the fit, the estimate and the parity check")
        self.open_report_button.clicked.connect(lambda: self.report and open_path(self.report))
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_folder_button)
        buttons.addWidget(self.open_report_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 12)
        layout.setSpacing(6)
        layout.addWidget(self.title)
        layout.addWidget(self.status)
        layout.addWidget(self.grid_host)
        layout.addWidget(self.measured)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.folder: Optional[Path] = None
        self.report: Optional[Path] = None
        self.result: Optional[dict] = None
        self.values: dict[str, str] = {}
        self.clear()

    def clear(self, text: str = EMPTY_TEXT) -> None:
        self.folder = self.report = None
        self.result = None
        self.values = {}
        self.title.setText("<span style='font-size:11pt; font-weight:600'>Bundle</span>")
        self.status.setText(text)
        self._fill_grid([])
        self.measured.setVisible(False)
        self._buttons()

    def _buttons(self) -> None:
        for button, path in ((self.open_folder_button, self.folder), (self.open_report_button, self.report)):
            button.setVisible(path is not None)
            button.setEnabled(path is not None and path.exists())

    def show_failure(self, title: str, message: str) -> None:
        self.clear()
        self.title.setText(f"<span style='font-size:11pt; font-weight:600; color:{ERROR_COLOUR}'>✖ {_html(title)}</span>")
        self.status.setText(_html(for_app(message)))
        self.values = {"title": title, "message": message}

    def show_cancelled(self) -> None:
        self.clear()
        self.title.setText("<span style='font-size:11pt; font-weight:600'>Export cancelled</span>")
        self.status.setText("Nothing was written: the bundle appears only when it is complete, and a bundle already in "
                            "the folder is as it was.")
        self.values = {"title": "cancelled"}

    def show_result(self, result: dict) -> None:
        """Render ``ExportResult.to_dict()`` (plus ``report`` and ``seconds``) from the worker."""
        self.result = result
        self.folder = Path(result["out"])
        self.report = Path(result.get("report") or self.folder / "report.html")
        parity = result.get("parity") or []
        passed = bool(parity) and all(p.get("passed") for p in parity)
        fits = (result.get("fit") or {}).get("fits", True)
        mark, colour = ("✔", GOOD_COLOUR) if passed else ("✖", ERROR_COLOUR)
        head = "Bundle written, parity passed" if passed else "Bundle written, parity failed"
        self.title.setText(f"<span style='font-size:11pt; font-weight:600; color:{colour}'>{mark} {head}</span>")
        files = result.get("files") or []
        took = f" in {result['seconds']:.1f} s" if result.get("seconds") is not None else ""
        shipped = ", ".join(f"{f['path']} ({fmt.size(f['bytes'])})" for f in files)
        target = _html(result.get("target_label") or result.get("target", ""))
        lines = [f"<code>{breakable(_html(str(self.folder)))}</code>",
                 f"{shipped}, model.json, infer.py, README.md, report.html · {result.get('format')} for {target}{took}"]
        if not fits:
            fit = result.get("fit") or {}
            words = {"storage": fit.get("storage_word") or "storage", "ram": "RAM", "op": "ops"}
            problems = list(dict.fromkeys(words.get(p.get("kind"), p.get("kind", "")) for p in fit.get("problems", [])))
            lines.append(f"<span style='color:{ERROR_COLOUR}'>Written although it does not fit ({', '.join(problems)}): "
                         "“Export anyway” was ticked. The verdict is recorded in model.json and the README.</span>")
        self.status.setText("<br>".join(lines))
        self.values = {"title": head, "folder": str(self.folder)}
        self._fill_grid(parity)
        measured = ((result.get("latency_ms") or {}).get("measured")) or None
        estimated = ((result.get("latency_ms") or {}).get("estimated")) or {}
        if measured:
            text = (f"Measured on this computer: {measured['median_ms']:.3g} ms per image (ONNX Runtime, "
                    f"{measured.get('threads')} threads, batch 1) — not the target")
            if estimated.get("ms") is not None:
                text += f"; on {result.get('target_label') or estimated.get('target')}: ≥ {estimated['ms']:.3g} ms (estimate)"
            self.measured.setText(text + ".")
            self.values["measured"] = text
        self.measured.setVisible(bool(measured))
        self._buttons()

    def _fill_grid(self, parity: list[dict]) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.grid_host.setVisible(bool(parity))
        if not parity:
            return
        heads = ("File", "Top-1 agreement", "Max |Δlogit|", "Parity")
        for col, head in enumerate(heads):
            label = QLabel(f"<b>{head}</b>")
            label.setAlignment(Qt.AlignmentFlag.AlignRight if col else Qt.AlignmentFlag.AlignLeft)
            self.grid.addWidget(label, 0, col)
        row = 1
        for p in parity:
            tol = p.get("tolerance") or {}
            ok = bool(p.get("passed"))
            cells = (
                p.get("file", "?"),
                f"{100 * p.get('agreement', 0):.2f} %",
                f"{p.get('max_abs_diff', 0):.3g}",
                f"<span style='color:{GOOD_COLOUR if ok else ERROR_COLOUR}'><b>{'✔ pass' if ok else '✖ fail'}</b></span>",
            )
            tips = ("", f"needs ≥ {100 * tol.get('min_agreement', 0):g} % on {p.get('samples')} images",
                    f"{p.get('max_rel_diff', 0):.3g} of the logit scale; allowed {tol.get('max_rel_diff', 0):g}", p.get("summary", ""))
            for col, (text, tip) in enumerate(zip(cells, tips)):
                label = QLabel(text)
                label.setAlignment(Qt.AlignmentFlag.AlignRight if col else Qt.AlignmentFlag.AlignLeft)
                label.setToolTip(tip)
                self.grid.addWidget(label, row, col)
            meaning = QLabel(f"<span style='color:{MUTED_COLOUR}'>{_html(parity_meaning(p))} "
                             f"Compared with {_html(p.get('reference', 'the model'))}.</span>")
            meaning.setWordWrap(True)
            meaning.setTextFormat(Qt.TextFormat.RichText)
            self.grid.addWidget(meaning, row + 1, 0, 1, len(heads))
            self.values[f"parity {p.get('file')}"] = parity_meaning(p)
            row += 2
        self.grid.setColumnStretch(0, 1)
