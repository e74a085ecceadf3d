"""Explore page: every run of the workspace as a point on accuracy-vs-cost plots and a row in a table.

The page reads the workspace (never the worker) and redraws whenever the
database changes — a run finishing in the window, a sweep trial, or another
process such as ``edgeslim-cli`` — by polling SQLite's ``data_version``, a
counter that costs one query. Which runs are listed and plotted, which fit the
target and its accuracy floor, and which are on the front is decided by the
Qt-free :class:`gui.pages.explore_model.ExploreModel` (from core's rules); the
page only draws it and routes actions (details, compare, re-run, export,
delete) to dialogs, the worker or the window.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core import fmt
from core.pipeline.pareto import DEFAULT_FLOOR_PT
from core.store.run_summary import Budgets, RunSummary, run_tooltip
from gui.pages.explore_model import ALL, ExploreModel
from gui.pages.sweep_analysis_model import availability
from gui.widgets.table import SORT_ROLE, DataTable

# what decides a trade-off first, so "Fits target" and "Front" are on screen at 1024 px
COLUMNS = ("Run", "Name", "Top-1", "Δ pt", "ONNX file", "Latency", "Fits target", "Front", "Techniques", "Status", "Size ×",
           "MACs", "Speed-up", "Finished")
AXIS_CHOICES = (("size", "File size"), ("latency", "Latency"), ("macs", "MACs"))
POLL_MS = 1000


def _with_board(items: list, board_item) -> list:
    """``items`` (one per column of COLUMNS) with the board-latency column after "Latency" when a board is plotted."""
    if board_item is None:
        return items
    at = COLUMNS.index("Latency") + 1
    return [*items[:at], board_item, *items[at:]]


def _when(stamp: Optional[str]) -> str:
    """'2025-05-14T18:45:02+00:00' -> '05-14 18:45' (local time)."""
    if not stamp:
        return "—"
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%m-%d %H:%M")
    except ValueError:
        return stamp


def _swept_label(key: str) -> str:
    """A swept key as a column title: the parameter of ``technique.param``, the whole key of a step toggle."""
    return key.rpartition(".")[2] if key.count(".") >= 2 else key


def _cells(s: RunSummary) -> list[tuple[str, Any]]:
    def num(v: Optional[float], text: str, missing: float = -1e18) -> tuple[str, Any]:
        return ("—", missing) if v is None else (text, v)

    fits = {True: ("yes", "yes"), False: ("no: " + "; ".join(s.misfit), "no"), None: ("—", "—")}[s.fits]
    return [
        (f"#{s.id}", s.id), (s.name, s.name),
        num(s.accuracy, f"{100 * (s.accuracy or 0):.2f} %"),
        num(s.delta_pt, f"{s.delta_pt or 0:+.2f}"),
        num(s.size_bytes, fmt.size(s.size_bytes), 1e18), num(s.latency_ms, f"{s.latency_ms or 0:.3f} ms", 1e18),
        fits, ("★" if s.on_front else "", 1 if s.on_front else 0),
        (" → ".join(s.techniques), " ".join(s.techniques)), (s.status, s.status),
        num(s.size_ratio, f"{s.size_ratio or 0:.2f}×"), num(s.macs, fmt.si(s.macs), 1e18),
        num(s.speedup, f"{s.speedup or 0:.2f}×"), (_when(s.finished), s.finished or ""),
    ]


class ExplorePage(QWidget):
    """Trade-off plots and the runs table; a Sensitivity tab is added by the window (``add_tab``)."""

    export_requested = Signal(object)  # RunRow
    compare_requested = Signal(object, object)  # RunRow, RunRow
    details_requested = Signal(object)  # RunRow
    classes_requested = Signal(int)  # run id: per-class accuracy before and after
    rerun_requested = Signal(object)  # RunRow
    sweep_requested = Signal()
    target_changed = Signal(object)  # Budgets

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        title = QLabel("Explore")
        title.setObjectName("pageTitle")
        self.caption = QLabel()
        self.caption.setObjectName("muted")
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.x_combo = QComboBox()
        for key, label in AXIS_CHOICES:
            self.x_combo.addItem(label, key)
        self.x_combo.setToolTip("What accuracy is plotted against")
        self.log_check = QCheckBox("Log scale")
        self.log_check.setToolTip("A log axis spreads runs that differ by orders of magnitude (int8 files next to fp32 ones)")
        self.target_combo = QComboBox()
        self.target_combo.setMinimumWidth(150)
        self.target_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.target_combo.setMinimumContentsLength(14)
        self.target_combo.setToolTip("The device whose storage budget is drawn on the size plot and checked in the table")
        self.latency_budget = QDoubleSpinBox()
        self.latency_budget.setRange(0.0, 100_000.0)
        self.latency_budget.setDecimals(3)
        self.latency_budget.setSingleStep(0.05)
        self.latency_budget.setSuffix(" ms")
        self.latency_budget.setSpecialValueText("none")
        self.latency_budget.setToolTip("Latency budget per image, compared with the latency measured on this machine "
                                       "(ONNX Runtime, batch 1). 0 = no budget. The Export page estimates the target's own.")
        self.floor = QDoubleSpinBox()
        self.floor.setRange(-1.0, 100.0)
        self.floor.setDecimals(1)
        self.floor.setSingleStep(0.5)
        self.floor.setSuffix(" %")
        self.floor.setSpecialValueText(f"base − {DEFAULT_FLOOR_PT:g} pt")
        self.floor.setValue(-1.0)
        self.floor.setToolTip(f"Accuracy floor: runs below it do not fit the target and are not on the front. Default: each "
                              f"run's baseline less {DEFAULT_FLOOR_PT:g} points (step below 0 to go back to it)")
        self.model_filter = QComboBox()
        self.model_filter.setToolTip("Show the runs of one model only")
        self.data_filter = QComboBox()
        self.data_filter.setToolTip("Show the runs on one dataset only")
        for combo in (self.model_filter, self.data_filter):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        self.stopped_check = QCheckBox("Failed/cancelled")
        self.stopped_check.setToolTip("List and plot failed, cancelled and interrupted runs too (hidden by default)")
        self.delete_stopped_button = QPushButton("Delete failed…")
        self.delete_stopped_button.setToolTip("Delete every failed, cancelled and interrupted run and its files")
        self.sweep_button = QPushButton("New sweep…")
        self.sweep_button.setToolTip("Run the current recipe over a grid or an Optuna search of its parameters")
        self.analyse_button = QPushButton("Analyse…")  # parallel coordinates and parameter importance
        self.refresh_button = QPushButton("Refresh")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Accuracy vs"))
        controls.addWidget(self.x_combo)
        controls.addWidget(self.log_check)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Target"))
        controls.addWidget(self.target_combo, 1)
        controls.addWidget(QLabel("Latency ≤"))
        controls.addWidget(self.latency_budget)
        controls.addWidget(QLabel("Accuracy ≥"))
        controls.addWidget(self.floor)
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Model"))
        filters.addWidget(self.model_filter, 1)
        filters.addWidget(QLabel("Data"))
        filters.addWidget(self.data_filter, 1)
        filters.addWidget(self.stopped_check)
        filters.addWidget(self.delete_stopped_button)
        filters.addStretch(0)
        filters.addWidget(self.sweep_button)
        filters.addWidget(self.analyse_button)
        filters.addWidget(self.refresh_button)

        self._plot = None  # TradeoffPlot, built on first use: pyqtgraph's import costs ~0.3 s of start-up
        self.plot_slot = QWidget()
        self.plot_slot.setMinimumHeight(240)
        self.table = DataTable(COLUMNS)
        self.table.filter.setPlaceholderText("Filter runs (name, status, technique, …)")
        self.table.view.setSelectionMode(QTableView.SelectionMode.ExtendedSelection)
        self.table.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.empty = QLabel("No runs in this workspace yet: build a recipe on the Compress page and press Run, "
                            "or start a sweep with <b>New sweep…</b>. Each finished run appears here as a point.")
        self.empty.setObjectName("notice")
        self.empty.setWordWrap(True)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plot_slot)
        self.split = split
        split.addWidget(self.table)
        split.setChildrenCollapsible(False)
        split.setSizes([380, 300])  # the plot a little taller than the table
        tradeoffs = QWidget()
        tl = QVBoxLayout(tradeoffs)
        tl.setContentsMargins(0, 6, 0, 0)
        tl.addLayout(controls)
        tl.addLayout(filters)
        tl.addWidget(self.empty)
        tl.addWidget(split, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(tradeoffs, "Trade-offs")
        head = QHBoxLayout()
        head.addWidget(title)
        head.addSpacing(12)
        head.addWidget(self.caption, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.tabs, 1)

        self.workspace: Any = None
        self.model = ExploreModel()  # the state and the rules; this widget draws them
        self.targets: list = []
        self.rows: dict[int, Any] = {}  # run id -> RunRow, the listed runs
        self.analysable = availability([])  # which listed sweeps "Analyse sweep…" offers, set by _show
        self._axes_cache: dict[int, list[str]] = {}  # sweep id -> its swept keys
        self.version: Optional[int] = None
        self.dirty = False
        self.confirm: Callable[[str], bool] = self._confirm  # tests replace it (no modal box offscreen)
        self.poll = QTimer(self)
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self._poll)
        self.poll.start()
        self._load_targets()
        self.x_combo.currentIndexChanged.connect(lambda _: self._axis_changed())
        self.log_check.toggled.connect(lambda on: self._changed(log_x=on))
        self.target_combo.currentIndexChanged.connect(lambda _: self._budgets_changed())
        self.latency_budget.valueChanged.connect(lambda _: self._budgets_changed())
        self.floor.valueChanged.connect(lambda v: self._changed(floor_pct=None if v < 0 else v))
        self.model_filter.currentIndexChanged.connect(lambda _: self._changed(model=self.model_filter.currentData() or ALL))
        self.data_filter.currentIndexChanged.connect(lambda _: self._changed(data=self.data_filter.currentData() or ALL))
        self.stopped_check.toggled.connect(lambda on: self._changed(show_stopped=on))
        self.delete_stopped_button.clicked.connect(self.delete_stopped)
        self.refresh_button.clicked.connect(self.refresh)
        self.sweep_button.clicked.connect(self.sweep_requested.emit)
        self.analyse_button.clicked.connect(self.analyse_sweep)
        self.table.view.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.table.view.customContextMenuRequested.connect(self._context_menu)
        self.table.view.doubleClicked.connect(lambda _: self._with_selected(self.details_requested.emit))

    # ------------------------------------------------------------------ inputs

    def add_tab(self, widget: QWidget, title: str) -> None:
        self.tabs.addTab(widget, title)

    def set_families(self, families: dict[str, str]) -> None:
        """Technique name -> family, from the loaded registry (colours plug-in techniques correctly)."""
        self.model.families = dict(families)
        self.refresh()

    @property
    def budgets(self) -> Budgets:
        return self.model.state.budgets

    @property
    def summaries(self) -> list[RunSummary]:
        return self.model.summaries

    def _changed(self, **changes) -> None:
        for key, value in changes.items():
            setattr(self.model.state, key, value)  # the model recomputes in _show
        self._show()

    def _load_targets(self) -> None:
        from core.export.targets import list_targets

        try:
            self.targets = list_targets()
        except Exception as exc:  # a broken user profile must not take the page down; the Export page names it
            self.targets = []
            self.caption.setText(f"Target profiles could not be read: {exc}")
        self.target_combo.blockSignals(True)
        self.target_combo.clear()
        self.target_combo.addItem("No target", None)
        for t in self.targets:
            self.target_combo.addItem(t.label, t.name)
        self.target_combo.blockSignals(False)

    def set_target(self, name: Optional[str]) -> None:
        index = self.target_combo.findData(name)
        self.target_combo.setCurrentIndex(max(index, 0))

    def _budgets_changed(self) -> None:
        name = self.target_combo.currentData()
        latency = self.latency_budget.value() or None
        profile = next((t for t in self.targets if t.name == name), None)
        self.model.state.budgets = Budgets.for_target(profile, latency) if profile else Budgets("", None, latency)
        self.target_changed.emit(self.budgets)
        self._show()

    @property
    def x_axis(self) -> str:
        """``size``, ``latency``, ``macs`` or ``device`` (then :attr:`device` names the board)."""
        return str(self.x_combo.currentData()).partition(":")[0]

    @property
    def device(self) -> str:
        return str(self.x_combo.currentData()).partition(":")[2]

    def _axis_changed(self) -> None:
        self._changed(x_axis=self.x_axis, device=self.device)

    def _load_measurements(self) -> None:
        """The boards runs were measured on (core.devices): one "Latency on BOARD" axis each."""
        from core.devices.measurements import device_latencies, measured_devices

        measured: dict = {}
        try:
            for device in measured_devices(self.workspace) if self.workspace is not None else []:
                runs, bases = (device_latencies(self.workspace, device, role) for role in ("run", "baseline"))
                measured[device] = ({k: m["latency_ms"]["median"] for k, m in runs.items()},
                                    {k: m["latency_ms"]["median"] for k, m in bases.items()})
        except Exception:  # an unreadable measurements table must not take the page down
            measured = {}
        self.model.measured = measured
        current = self.x_combo.currentData()
        self.x_combo.blockSignals(True)
        while self.x_combo.count() > len(AXIS_CHOICES):
            self.x_combo.removeItem(self.x_combo.count() - 1)
        for device in measured:
            self.x_combo.addItem(f"Latency on {device} (measured)", f"device:{device}")
        self.x_combo.setCurrentIndex(max(self.x_combo.findData(current), 0))
        self.x_combo.blockSignals(False)
        self.model.state.x_axis, self.model.state.device = self.x_axis, self.device

    # ------------------------------------------------------------------ workspace and refresh

    def set_workspace(self, workspace: Any) -> None:
        self.workspace = workspace
        self._axes_cache = {}
        self.version = None
        self.refresh()

    def _poll(self) -> None:
        """Redraw when another process (the worker, a sweep, the CLI) has committed to the workspace."""
        self.refresh_if_changed(only_visible=True)

    def refresh_if_changed(self, only_visible: bool = False) -> None:
        """Redraw once per change another process committed (a sweep's trial event and the poll share one redraw)."""
        if self.workspace is None:
            return
        try:
            version = self.workspace.data_version()
        except Exception:  # the workspace was closed under us: the next set_workspace fixes it
            return
        if version != self.version:
            self.version = version
            if self.isVisible() or not only_visible:
                self.refresh()
            else:
                self.dirty = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self.dirty:
            self.refresh()
        else:
            _ = self.plot  # built (and drawn) the first time the page is seen

    @property
    def plot(self):
        """The trade-off plot (a :class:`gui.widgets.tradeoff_plot.TradeoffPlot`), created and drawn on first use."""
        if self._plot is None:
            from gui.widgets.tradeoff_plot import TradeoffPlot

            plot = TradeoffPlot()
            plot.point_clicked.connect(self.select_run)
            self.split.replaceWidget(0, plot)
            self.plot_slot.deleteLater()
            self._plot = plot
            self._draw_plot()
            self._selection_changed()
        return self._plot

    def build_plot(self) -> None:
        """Create the plot now (the window calls this once it is on screen, so the page opens without a pause)."""
        _ = self.plot

    def _draw_plot(self) -> None:
        self.plot.set_data(self.model)

    def refresh(self) -> None:
        """Read the workspace again and redraw."""
        self.dirty = False
        rows = self.workspace.list_runs() if self.workspace is not None else []
        self.model.all_rows, self.model.sweep_axes = rows, self._sweep_axes(rows)
        self._load_measurements()
        self._fill_filter(self.model_filter, "All models", self.model.models(), self.model.state.model)
        self._fill_filter(self.data_filter, "All datasets", self.model.datasets(), self.model.state.data)
        self._show()

    def _sweep_axes(self, rows: list) -> dict[int, list[str]]:
        """Sweep id -> the keys it varies, read once per sweep (they never change)."""
        known = self._axes_cache
        for sweep_id in {r.sweep_id for r in rows if r.sweep_id is not None} - set(known):
            try:
                known[sweep_id] = list((self.workspace.get_sweep(sweep_id).get("info") or {}).get("axes") or [])
            except Exception:  # a sweep row removed under us: its trials show no swept columns
                known[sweep_id] = []
        self._axes_cache = known
        return known

    def _fill_filter(self, combo: QComboBox, everything: str, values: list[str], current: str) -> None:
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(everything, ALL)
        for v in values:
            combo.addItem(v, v)
            combo.setItemData(combo.count() - 1, v, Qt.ItemDataRole.ToolTipRole)
        combo.setCurrentIndex(max(0, combo.findData(current)))
        combo.blockSignals(False)

    def _show(self) -> None:
        """Recompute the page model and draw it: the plot, the table, the caption."""
        self.model.recompute()
        rows = self.model.rows
        self.rows = {r.id: r for r in rows}
        selected = self.selected_ids()
        if self._plot is not None or self.isVisible():
            self._draw_plot()
        swept = self.model.swept_keys()
        board = self.model.state.device if self.model.state.x_axis == "device" else ""
        cols = _with_board(list(COLUMNS), f"On {board}" if board else None)
        headers = [*cols[:2], *swept, *cols[2:]]  # swept values next to the name, as optuna-dashboard shows them
        if headers != self.table.headers:
            self.table.headers = headers
            self.table.model.setColumnCount(len(headers))
            self.table.model.setHorizontalHeaderLabels([_swept_label(h) if h in swept else h for h in headers])
            for i, h in enumerate(headers):
                self.table.model.horizontalHeaderItem(i).setToolTip(h)
        cells = []
        for s in self.summaries:
            values = self.model.swept_values(self.rows[s.id])
            ms = s.device_latency_ms
            row = _with_board(_cells(s), (f"{ms:.3f} ms" if ms is not None else "—", ms if ms is not None else 1e18) if board else None)
            cells.append([*row[:2], *((values.get(k, "—"), values.get(k, "")) for k in swept), *row[2:]])
        self.table.set_rows(cells)
        self.table.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)  # newest first
        model = self.table.model
        for i, s in enumerate(self.summaries):
            tip = run_tooltip(s) + (f"\n{s.error}" if s.error else "")
            for col in range(len(self.table.headers)):
                model.item(i, col).setToolTip(tip)
        view = self.table.view
        for name, widest in (("Name", 160), ("Techniques", 180), ("Fits target", 110)):
            col = self.table.headers.index(name)
            view.setColumnWidth(col, min(view.columnWidth(col), widest))
        for run_id in selected:
            self.select_run(run_id, add=True)
        plotted = len(self.model.plotted)
        where = self.workspace.path if self.workspace is not None else "—"
        hidden = self.model.hidden_stopped
        more = f", {hidden} failed/cancelled hidden" if hidden else ""
        if self.model.state.x_axis == "device" and self.model.not_measured:
            more += f", {self.model.not_measured} not measured on {self.model.state.device}"
        self.caption.setText(f"{len(rows)} run{'s' if len(rows) != 1 else ''} ({plotted} measured{more}) in <code>{where}</code>")
        self.caption.setToolTip(str(where))
        self.empty.setVisible(not self.model.all_rows)
        self.delete_stopped_button.setEnabled(bool(self.model.stopped_ids()))
        self.analysable = availability(self.model.rows)
        self.analyse_button.setEnabled(self.analysable.enabled)
        self.analyse_button.setToolTip(self.analysable.reason)

    # ------------------------------------------------------------------ selection

    def _source_row(self, run_id: int) -> Optional[int]:
        model = self.table.model
        for i in range(model.rowCount()):
            if model.item(i, 0).data(SORT_ROLE) == run_id:
                return i
        return None

    def select_run(self, run_id: int, add: bool = False) -> bool:
        """Select ``run_id``'s row (and ring its point); False when the run is not listed (filtered out or gone)."""
        i = self._source_row(run_id)
        if i is None:
            return False
        index = self.table.proxy.mapFromSource(self.table.model.index(i, 0))
        if not index.isValid():
            return False
        flags = QItemSelectionModel.SelectionFlag.Rows | (
            QItemSelectionModel.SelectionFlag.Select if add else QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.table.view.selectionModel().select(index, flags)
        self.table.view.scrollTo(index)
        return True

    def selected_ids(self) -> list[int]:
        rows = self.table.view.selectionModel().selectedRows(0) if self.table.view.selectionModel() else []
        return [int(self.table.proxy.data(i, SORT_ROLE)) for i in rows]

    def selected_rows(self) -> list:
        return [self.rows[i] for i in self.selected_ids() if i in self.rows]

    def _selection_changed(self) -> None:
        ids = self.selected_ids()
        if self._plot is not None:
            self._plot.highlight(ids[-1] if ids else None)

    def _with_selected(self, fn: Callable[[Any], None]) -> None:
        rows = self.selected_rows()
        if rows:
            fn(rows[-1])

    # ------------------------------------------------------------------ actions

    def _context_menu(self, pos) -> None:
        rows = self.selected_rows()
        if not rows:
            return
        menu = self.build_menu(rows)
        menu.exec(self.table.view.viewport().mapToGlobal(pos))

    def build_menu(self, rows: list) -> QMenu:
        """The table's context menu for the selected ``rows`` (built separately so tests can trigger its actions)."""
        menu = QMenu(self)
        row = rows[-1]
        menu.addAction("Show details…", lambda: self.details_requested.emit(row))
        if len(rows) == 2:
            menu.addAction(f"Compare #{rows[0].id} and #{rows[1].id}…", lambda: self.compare_requested.emit(rows[0], rows[1]))
        else:
            sub = menu.addMenu("Compare with")
            others = [r for r in self.rows.values() if r.id != row.id][-25:]
            for other in reversed(others):
                sub.addAction(f"#{other.id} {other.name}", lambda o=other: self.compare_requested.emit(row, o))
            sub.setEnabled(bool(others))
        menu.addSeparator()
        rerun = menu.addAction("Run again", lambda: self.rerun_requested.emit(row))
        rerun.setToolTip("Run the same recipe on the same model and data again (nothing is reused)")
        export = menu.addAction("Export…", lambda: self.export_requested.emit(row))
        export.setEnabled(row.status == "done")
        classes = menu.addAction("Per-class accuracy…", lambda: self.classes_requested.emit(row.id))
        classes.setEnabled(row.status == "done")
        menu.addSeparator()
        label = f"Delete {len(rows)} runs…" if len(rows) > 1 else f"Delete run #{row.id}…"
        delete = menu.addAction(label, lambda: self.delete_runs([r.id for r in rows]))
        delete.setEnabled(all(r.status != "running" for r in rows))
        return menu

    def _confirm(self, text: str) -> bool:
        answer = QMessageBox.question(self, "EdgeSlim", text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def delete_runs(self, ids: list[int]) -> bool:
        """Delete runs (their rows and files) after the user confirms."""
        names = ", ".join(f"#{i}" for i in ids)
        if not self.confirm(f"Delete run{'s' if len(ids) > 1 else ''} {names} and {'their' if len(ids) > 1 else 'its'} files? "
                            "This cannot be undone."):
            return False
        for run_id in ids:
            self.workspace.delete_run(run_id)
        self.refresh()
        return True

    def delete_stopped(self) -> bool:
        """Delete every failed, cancelled and interrupted run (after the user confirms)."""
        ids = self.model.stopped_ids()
        return bool(ids) and self.delete_runs(ids)

    def analyse_sweep(self) -> None:
        """Open the sweep-analysis dialog on the listed sweeps that have trials to compare."""
        from gui.dialogs.sweep_analysis_dialog import SweepAnalysisDialog

        if getattr(self, "analysis_dialog", None) is not None:
            self.analysis_dialog.close()  # one at a time: a second click opens it afresh on the current runs
        self.analysis_dialog = SweepAnalysisDialog(self.workspace, self.analysable.sweeps, self,
                                                   jobs=getattr(self.window(), "jobs", None))
        self.analysis_dialog.show()

    def stop(self) -> None:
        self.poll.stop()

