"""Grid sweeps are counted, never built whole: a huge grid is refused at once, a normal one is generated lazily."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.pipeline import sweep as sweep_mod
from core.app.executors import Executor
from core.app.sources import DataSource, ModelSource
from core.app import sweep as sweep_service
from core.app.sweep import run_sweep
from core.pipeline.sweep import MAX_GRID_TRIALS, SweepError, parse_sweep
from core.app.trial import TrialResult

STEPS = '''[[step]]
technique = "prune.structured"
[[step]]
technique = "finetune"
'''


def _huge_grid() -> str:
    """The campaign's grid: 5 axes, 120 × 150 × 100 × 100 × 100 = 1.8e10 points."""
    ratio = [round(0.9 * i / 119, 6) for i in range(120)]
    lr = [round(1e-4 * (i + 1), 6) for i in range(100)]
    wd = [round(0.001 * i, 6) for i in range(100)]
    return (f'name = "huge"\nmode = "grid"\n{STEPS}[grid]\n"prune.structured.ratio" = {ratio}\n'
            f'"finetune.epochs" = {list(range(1, 151))}\n"finetune.lr" = {lr}\n'
            f'"finetune.batch_size" = {list(range(1, 101))}\n"finetune.weight_decay" = {wd}\n')


def test_a_huge_grid_is_refused_with_its_count_and_a_hint(monkeypatch):
    def no_product(*_a, **_k):
        raise AssertionError("the grid was enumerated")

    monkeypatch.setattr(sweep_mod.itertools, "product", no_product)
    with pytest.raises(SweepError) as err:
        parse_sweep(_huge_grid(), Path("."), source="huge.toml")
    text = str(err.value)
    assert "18,000,000,000 combinations" in text and "120 × 150 × 100 × 100 × 100" in text
    assert f"{MAX_GRID_TRIALS:,}" in text and 'mode = "optuna"' in text and "fewer values" in text


def test_the_limit_is_inclusive_and_optuna_ranges_are_not_limited():
    ratios = str([round(0.9 * i / 99, 6) for i in range(100)])

    def grid(epochs: int) -> str:
        return f'{STEPS}[grid]\n"prune.structured.ratio" = {ratios}\n"finetune.epochs" = {list(range(1, epochs + 1))}\n'

    assert parse_sweep(grid(100), Path(".")).size() == MAX_GRID_TRIALS
    with pytest.raises(SweepError, match="10,100 combinations"):
        parse_sweep(grid(101), Path("."))
    search = f'mode = "optuna"\ntrials = 5\n{STEPS}[search]\n"finetune.lr" = {{ min = 0.0001, max = 0.01 }}\n'
    assert parse_sweep(search, Path(".")).size() == 5


def test_size_is_counted_without_enumerating(monkeypatch):
    sweep = parse_sweep(f'{STEPS}[grid]\n"prune.structured.ratio" = [0.1, 0.2, 0.3]\n"finetune.epochs" = [1, 2]\n', Path("."))

    def no_product(*_a, **_k):
        raise AssertionError("the grid was enumerated")

    monkeypatch.setattr(sweep_mod.itertools, "product", no_product)
    assert sweep.size() == 6 and sweep.grid_size() == 6


class _OneTrialExecutor(Executor):
    """Takes one item from what run_sweep hands over, records what it got, and stops."""

    def __init__(self) -> None:
        self.items = None
        self.built = None

    def describe(self) -> str:
        return "probe"

    def run_all(self, items, workspace, on_done, cancel=None) -> None:
        self.items = items
        number, point, _request = next(iter(items))
        self.built = sweep_service.apply_point.calls  # type: ignore[attr-defined]
        on_done(TrialResult(number, point, None, "failed", error="probe"))


def test_run_sweep_builds_each_trial_only_when_the_executor_asks(tmp_path, monkeypatch):
    sweep = parse_sweep(f'{STEPS}[grid]\n"prune.structured.ratio" = {[0.1 * i for i in range(1, 9)]}\n'
                        f'"finetune.epochs" = [1, 2, 3, 4, 5]\n', Path("."))
    real = sweep_service.apply_point

    def counting(*a, **k):
        counting.calls += 1
        return real(*a, **k)

    counting.calls = 0
    monkeypatch.setattr(sweep_service, "apply_point", counting)
    ex = _OneTrialExecutor()
    run_sweep(sweep, tmp_path / "ws", ModelSource("demo"), DataSource("demo"), executor=ex)
    assert not isinstance(ex.items, list)  # an iterator, not 40 requests built up front
    assert ex.built == 1  # only the first trial's recipe was made before it ran


def test_every_on_off_combination_must_leave_a_step():
    text = f'{STEPS}[grid]\n"prune.structured" = ["on", "off"]\n"finetune" = ["off", "on"]\n'
    with pytest.raises(SweepError, match=r"prune.structured = 'off', finetune = 'off': the recipe has no enabled steps"):
        parse_sweep(text, Path("."))
