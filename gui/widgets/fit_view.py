"""The fit check card: the verdict, flash/storage and RAM as bars, precision, latency, ops, and what to do.

It renders an ``ExportPreview.to_dict()`` from the worker next to the target
profile it was checked against, and what that profile's boards measured
(:func:`gui.pages.export_model.device_figures_for`); it computes nothing. ``values`` keeps the
shown texts by row name for tests.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QFrame, QGridLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from core import fmt
from core.controls import for_app
from core.app.device_figures import DeviceFigures
from gui.pages.export_model import measured_lines
from gui.style import ERROR_COLOUR, GOOD_COLOUR
from gui.widgets.export_text import (
    latency_text,
    ops_text,
    precision_text,
    share_level,
    share_text,
)

WARN_COLOUR = "#9a5b00"
BAR_COLOURS = {"ok": "#3f8f5a", "tight": "#d08a1a", "over": ERROR_COLOUR}
LEVEL_COLOURS = {"ok": "", "warn": WARN_COLOUR, "error": ERROR_COLOUR}


def _label(text: str = "", muted: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if muted:
        label.setObjectName("muted")
    return label


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ShareBar(QWidget):
    """A budget: a bar filled to the share used (green, amber when tight, red when over) and 'need of budget · %'."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(12)
        self.text = QLabel("—")
        self.text.setMinimumWidth(190)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(10)
        layout.addWidget(self.bar, 0, 0)
        layout.addWidget(self.text, 0, 1)
        layout.setColumnStretch(0, 1)
        self.level = "ok"

    def set_share(self, need: Optional[int], budget: int, share: Optional[float]) -> None:
        self.level = share_level(share)
        value = 0 if share is None else int(1000 * min(share, 1.0))
        self.bar.setValue(max(value, 4) if share else 0)  # a sliver, so a tiny share still reads as a bar
        self.bar.setStyleSheet(
            f"QProgressBar {{ border: 1px solid #c9d2db; border-radius: 5px; background: #eef2f6; }}"
            f"QProgressBar::chunk {{ background: {BAR_COLOURS[self.level]}; border-radius: 4px; }}")
        colour = {"tight": WARN_COLOUR, "over": ERROR_COLOUR}.get(self.level)
        text = share_text(need, budget)
        self.text.setText(f"<span style='color:{colour}'>{text}</span>" if colour else text)


class FitView(QFrame):
    """``show_preview(preview, target)`` after a check; ``show_busy`` / ``show_message`` / ``show_failure`` otherwise."""

    ROWS = ("Precision", "Latency", "Measured", "Work", "Ops")

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        self.detail = _label(muted=True)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setFixedHeight(6)
        self.busy.setTextVisible(False)
        self.storage = ShareBar()
        self.ram = ShareBar()
        self.storage_name = QLabel("Storage")
        self.ram_name = QLabel("RAM")
        bars = QGridLayout()
        bars.setHorizontalSpacing(12)
        bars.setVerticalSpacing(6)
        bars.addWidget(self.storage_name, 0, 0)
        bars.addWidget(self.storage, 0, 1)
        bars.addWidget(self.ram_name, 1, 0)
        bars.addWidget(self.ram, 1, 1)
        bars.setColumnStretch(1, 1)
        self.bars_host = QWidget()
        self.bars_host.setLayout(bars)
        bars.setContentsMargins(0, 4, 0, 4)
        self.rows: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(5)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        for name in self.ROWS:
            self.rows[name] = _label()
            form.addRow(QLabel(f"{name}:"), self.rows[name])
        self.rows_host = QWidget()
        self.rows_host.setLayout(form)
        form.setContentsMargins(0, 0, 0, 0)
        self.form = form
        self.rows["Measured"].setToolTip("The run's latest timing on each board registered with this profile "
                                         "(edgeslim-cli measure), for the file named")
        self.problems = _label()
        self.warnings = _label()
        self.notes = _label(muted=True)
        self.layers = _label()
        self.layers.setToolTip("The estimated latency summed per op type, and whether compute or memory traffic limits it")
        self.basis = _label(muted=True)
        self.caveats = _label(muted=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 12)
        layout.setSpacing(6)
        layout.addWidget(self.verdict)
        layout.addWidget(self.detail)
        layout.addWidget(self.busy)
        layout.addWidget(self.bars_host)
        layout.addWidget(self.rows_host)
        layout.addWidget(self.problems)
        layout.addWidget(self.warnings)
        layout.addWidget(self.notes)
        layout.addWidget(self.layers)
        layout.addWidget(self.basis)
        layout.addWidget(self.caveats)
        layout.addStretch(1)
        self.state = "empty"  # empty | busy | done | failed
        self.values: dict[str, str] = {}
        self.show_message("Fit check", "Pick a model and a target: the check runs by itself.")

    # ------------------------------------------------------------------ states

    def _only_header(self) -> None:
        self.values = {}
        for w in (self.bars_host, self.rows_host, self.problems, self.warnings, self.notes, self.layers, self.basis, self.caveats,
                  self.busy):
            w.setVisible(False)

    def show_message(self, title: str, text: str) -> None:
        self._only_header()
        self.state = "empty"
        self.verdict.setText(f"<span style='font-size:12pt; font-weight:600'>{title}</span>")
        self.detail.setText(text)

    def show_busy(self, text: str) -> None:
        if self.state != "busy":
            self._only_header()
            self.verdict.setText("<span style='font-size:12pt; font-weight:600'>Checking the fit…</span>")
        self.state = "busy"
        self.busy.setVisible(True)
        self.detail.setText(text)

    def show_failure(self, message: str) -> None:
        self._only_header()
        self.state = "failed"
        self.verdict.setText(f"<span style='font-size:12pt; font-weight:600; color:{ERROR_COLOUR}'>✖ Cannot be exported like this</span>")
        self.detail.setText(_html(for_app(message)))
        self.values = {"verdict": "cannot be exported", "problems": message}

    def show_preview(self, preview: dict, target, figures: Optional[DeviceFigures] = None) -> None:
        """Render ``ExportPreview.to_dict()`` checked against ``target`` (a TargetProfile), with its boards' ``figures``."""
        self.state = "done"
        self.busy.setVisible(False)
        fit, est = preview.get("fit") or {}, preview.get("estimate") or {}
        fits = bool(fit.get("fits"))
        mark, colour, word = ("✔", GOOD_COLOUR, "Fits") if fits else ("✖", ERROR_COLOUR, "Does not fit")
        self.verdict.setText(f"<span style='font-size:12pt; font-weight:600; color:{colour}'>{mark} {word} {_html(target.label)}</span>")
        size = f" · model file {fmt.size(preview['file_bytes'])}" if preview.get("file_bytes") is not None else ""
        self.detail.setText(f"{preview.get('format')} · {preview.get('precision')}{size} · checked on the file the export writes")
        self.values = {"verdict": "fits" if fits else "does not fit"}

        word_storage = (fit.get("storage_word") or "storage").capitalize()
        self.storage_name.setText(word_storage)
        have_est = bool(est)
        self.bars_host.setVisible(have_est)
        if have_est:
            self.storage.set_share(est.get("storage_bytes"), target.memory.storage_bytes, fit.get("storage_share"))
            self.ram.set_share(est.get("ram_bytes"), target.memory.ram_bytes, fit.get("ram_share"))
            self.values[word_storage] = self.storage.text.text()
            self.values["RAM"] = self.ram.text.text()
            ram_parts = [f"peak activations {fmt.size(est.get('peak_activation_bytes'))}"]
            ram_parts.append(f"weights {fmt.size(est.get('weight_bytes'))} " + ("in RAM" if target.weights_in_ram else "read from flash"))
            self.ram.setToolTip("RAM: " + ", ".join(ram_parts))
            self.storage.setToolTip(f"{word_storage}: the model file as the target stores it")

        self.rows_host.setVisible(have_est)
        ops, level = ops_text(preview, target)
        texts = {
            "Precision": precision_text(preview, target),
            "Latency": "\n".join(t for t in (latency_text(preview, target.label), figures and figures.calibrated_text) if t),
            "Measured": "\n".join(measured_lines(figures)),
            "Work": (f"{fmt.si(est.get('macs'))} MACs per image · peak activations {fmt.size(est.get('peak_activation_bytes'))}"
                     + (f" (at {est.get('peak_at')})" if est.get("peak_at") else "")) if have_est else "—",
            "Ops": ops,
        }
        for name, text in texts.items():
            colour = LEVEL_COLOURS.get(level, "") if name == "Ops" else ""
            html = "<br>".join(_emphasis(name, i, line) for i, line in enumerate(text.split("\n")))
            self.rows[name].setText(f"<span style='color:{colour}'>{html}</span>" if colour else html)
            self.values[name] = text
        self.form.setRowVisible(self.rows["Measured"], bool(texts["Measured"]))
        self.rows["Latency"].setToolTip("Assumptions of the estimate:\n• " + "\n• ".join(est.get("assumptions", [])) if have_est else "")

        problems = [p["message"] for p in fit.get("problems", [])]
        self.values["problems"] = "\n".join(problems)
        if problems:
            items = "".join(f"<li>{_html(for_app(m))}</li>" for m in problems)
            self.problems.setText(f"<b style='color:{ERROR_COLOUR}'>What does not fit, and what to do:</b>"
                                  f"<ul style='margin-top:2px; margin-left:-18px; color:{ERROR_COLOUR}'>{items}</ul>")
        self.problems.setVisible(bool(problems))
        warnings = [w for w in fit.get("warnings", []) if w != fit.get("ops_warning")]  # shown on the ops row
        self.values["warnings"] = "\n".join(warnings)
        if warnings:
            items = "".join(f"<li>{_html(w)}</li>" for w in warnings)
            self.warnings.setText(f"<span style='color:{WARN_COLOUR}'><b>Tight:</b><ul style='margin-top:2px; margin-left:-18px'>{items}</ul></span>")
        self.warnings.setVisible(bool(warnings))
        notes = [for_app(n) for n in preview.get("notes", [])][:3]
        self.notes.setText("<b>Made for the target:</b><ul style='margin-top:2px; margin-left:-18px'>"
                           + "".join(f"<li>{_html(n)}</li>" for n in notes) + "</ul>")
        self.notes.setVisible(bool(notes))
        self._show_layers(preview)
        caveats = list(target.notes)
        self.caveats.setText("<b>Keep in mind</b> (from the profile):<ul style='margin-top:2px; margin-left:-18px'>"
                             + "".join(f"<li>{_html(n)}</li>" for n in caveats) + "</ul>")
        self.caveats.setVisible(bool(caveats))

    def _show_layers(self, preview: dict) -> None:
        """Where the estimated time goes, by op type, and what the estimate rests on."""
        est = preview.get("estimate") or {}
        ops = [t for t in preview.get("time_by_op") or [] if t["share"] >= 0.005][:5]
        if ops:
            cells = ["<tr><td><b>Where the time goes</b>&nbsp;&nbsp;</td><td align=right><b>time</b>&nbsp;&nbsp;</td>"
                     "<td align=right><b>share</b>&nbsp;&nbsp;</td><td><b>bound by</b></td></tr>"]
            for t in ops:
                cells.append(f"<tr><td>{_html(t['op_type'])}</td><td align=right>{_duration(t['ms'])}&nbsp;&nbsp;</td>"
                             f"<td align=right>{100 * t['share']:.0f} %&nbsp;&nbsp;</td><td>{t['bound']}</td></tr>")
            self.layers.setText(f"<table cellspacing=0 cellpadding=1>{''.join(cells)}</table>")
        self.layers.setVisible(bool(ops))
        assumptions = est.get("assumptions") or []
        if assumptions:
            self.basis.setText(f"How this is estimated: {_html(assumptions[0])}; each layer takes the slower of its compute "
                               "at the profile's peak and its memory traffic at peak bandwidth, so real kernels are slower. "
                               "Point at the latency for every assumption.")
        self.basis.setVisible(bool(assumptions))


def _emphasis(row: str, index: int, line: str) -> str:
    """The calibrated estimate (the latency's second line) and each board's figure in bold: what the eye looks for."""
    if row == "Latency" and index:
        return f"<b>{_html(line)}</b>"
    if row == "Measured":
        figure, sep, rest = line.partition(" · ")
        return f"<b>{_html(figure)}</b>{sep}{_html(rest)}"
    return _html(line)


def _duration(ms: float) -> str:
    return f"{ms:.2f} ms" if ms >= 1 else f"{1000 * ms:.0f} µs" if ms >= 0.001 else f"{1000 * ms:.2f} µs"
