"""Words on screen that must match what they describe (issue 17, item 7): the plot legend's marker shapes."""

from __future__ import annotations

from types import SimpleNamespace

from core.store.run_summary import Budgets


def test_the_legend_draws_each_status_with_the_marker_the_plot_uses(qtbot):
    from gui.widgets.tradeoff_plot import STATUS_SYMBOLS, STATUS_WORDS, TradeoffPlot

    plot = TradeoffPlot()
    qtbot.addWidget(plot)
    shown = [SimpleNamespace(family="Pruning", status=st, on_front=False) for st in ("done", "failed", "cancelled")]
    plot._legend(shown, baseline=False, budgets=Budgets())
    text = plot.legend.text()
    assert STATUS_SYMBOLS["failed"] == "s" and "■ failed" in text and "● failed" not in text  # square markers
    assert f"{STATUS_WORDS[STATUS_SYMBOLS['cancelled']]} cancelled" in text and "● done" in text
