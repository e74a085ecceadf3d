"""A sensitivity report (``SensitivityReport.to_dict()``) as the view shows it: bars, table rows, words.

Plain functions over the report's plain data, so the view only places what
they return; nothing here measures or decides which layers are sensitive.
"""

from __future__ import annotations

from typing import Any

from gui.widgets.layer_bars import Bar

PRUNE = "prune.structured"
AXIS_LABELS = {"drop_pt": "accuracy drop (points)", "recovered_pt": "accuracy won back by keeping the layer fp32 (points)",
               "lost_db": "signal-to-noise lost in int8 (dB)"}
SORT_COLUMN = {"drop_pt": "Drop pt", "recovered_pt": "Won back pt", "lost_db": "Lost dB"}

Cell = tuple[str, Any]  # (text, sort key), as gui.widgets.table.DataTable takes them


def kept_layers(report: dict) -> list[str]:
    """The layers the suggested step leaves alone (pruning) or keeps in fp32 (int8)."""
    sug = report.get("suggestion", {})
    return list(sug.get("ignore_layers") or sug.get("exclude_nodes") or [])


def chart_bars(report: dict) -> list[Bar]:
    """One bar per measured unit, most sensitive first: a coupled pruning group is one bar, named by its first layer."""
    key, kept = report["key"], set(kept_layers(report))
    bars: list[Bar] = []
    seen: set[tuple] = set()
    for r in report["rows"]:  # already most sensitive first
        if r.get(key) is None:
            continue
        group = tuple(r.get("group") or [r["layer"]])
        if group in seen:
            continue
        seen.add(group)
        label = group[0] + (f" (+{len(group) - 1} coupled)" if len(group) > 1 else "")
        bars.append(Bar(label, float(r[key]), marked=bool(kept & set(group))))
    return bars


def table(report: dict) -> tuple[list[str], list[list[Cell]], str]:
    """(headers, rows, the header to sort by, most sensitive first) for the method's columns."""
    key, kept = report["key"], set(kept_layers(report))
    rows = report["rows"]
    if report["technique"] == PRUNE:
        headers = ["Layer", "Type", "Coupled with", "Params", "MACs removed", "Top-1", "Drop pt", "Agreement", "Suggested", "Note"]
        cells = [[_text(r["layer"]), _text(r["type"]), _text(", ".join(n for n in r["group"] if n != r["layer"]) or "—"),
                  _pct(r["params_share"]), _pct(r.get("macs_removed_share"), 0), _pct(r["accuracy"], 2),
                  _num(r["drop_pt"], "+.2f"), _num(r["agreement"], ".3f"),
                  _text("leave alone" if r["layer"] in kept else "prune"), _text(r.get("reason") or "")] for r in rows]
    elif report["method"] == "error":
        headers = ["Layer", "Op", "Params", "Input SQNR dB", "Output SQNR dB", "Lost dB", "Suggested"]
        cells = [[_text(r["layer"]), _text(r["op_type"]), _pct(r["params_share"]), _num(r["input_sqnr_db"]),
                  _num(r["output_sqnr_db"]), _num(r["lost_db"], "+.2f"), _int8(r, kept)] for r in rows]
    else:
        headers = ["Layer", "Op", "Params", "Top-1", SORT_COLUMN[key], "Agreement", "Suggested"]
        cells = [[_text(r["layer"]), _text(r["op_type"]), _pct(r["params_share"]), _pct(r["accuracy"], 2),
                  _num(r[key], "+.2f"), _num(r["agreement"], ".3f"), _int8(r, kept)] for r in rows]
    return headers, cells, SORT_COLUMN[key]


def suggestion_text(report: dict) -> str:
    """The suggested step in words (rich text)."""
    sug = report.get("suggestion", {})
    kept = kept_layers(report)
    names = ", ".join(f"<code>{n}</code>" for n in kept[:8]) + (f" and {len(kept) - 8} more" if len(kept) > 8 else "")
    threshold = report.get("settings", {}).get("threshold", 1.0)
    if report["technique"] == PRUNE:
        head = f"Prune {100 * sug.get('ratio', 0):.0f} % of the channels ({sug.get('importance')})"
        if kept:
            return f"{head}, leaving alone {names}: pruned alone, each loses more than {_points(threshold)}."
        return f"{head} in every layer: none loses more than {_points(threshold)} on its own."
    if kept:
        return f"Quantize to int8, keeping {names} in fp32: the layers int8 hurts most."
    return "Quantize every layer to int8: no layer needs to stay fp32."


def chart_note(report: dict, shown: int, total: int, threshold_line: bool) -> str:
    """What the chart shows and how to read its colours."""
    unit = "groups" if report["technique"] == PRUNE else "layers"
    parts = [f"The {shown} most sensitive of {total} {unit}; the table has every layer." if total > shown
             else f"{total} {unit}, most sensitive first."]
    unscored = sum(1 for r in report["rows"] if r.get(report["key"]) is None)
    if unscored:
        parts.append(f"{unscored} layer(s) could not be measured alone (see the table's note).")
    parts.append("Red: left alone by the suggestion." + (" Dashed: the threshold." if threshold_line else ""))
    return " ".join(parts)


def _num(v: Any, spec: str = ".2f") -> Cell:
    return ("—", float("-inf")) if v is None else (format(v, spec), v)


def _pct(v: Any, digits: int = 1) -> Cell:
    return ("—", float("-inf")) if v is None else (f"{100 * v:.{digits}f} %", v)


def _text(text: str) -> Cell:
    """A text cell (sorted as text, aligned left)."""
    return text, text


def _int8(row: dict, kept: set) -> Cell:
    return _text("keep fp32" if row["layer"] in kept or row.get("node") in kept else "int8")


def _points(x: float) -> str:
    return f"{x:g} point" + ("" if x == 1 else "s")
