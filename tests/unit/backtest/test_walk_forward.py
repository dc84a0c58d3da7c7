"""Walk-forward: every variant runs on both windows; the choice reads the tuning window only."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from application.walk_forward import WalkForwardWindows, run_walk_forward
from domain.errors import InvalidValue
from domain.walk_forward import PolicyVariant, variant_of
from tests.unit.backtest.series import START, free_config, history

D = Decimal
WAVES = [100, 104, 99, 108, 113, 97, 93, 120, 134, 127, 90, 88, 140, 152, 149, 161]
ZS = ["-0.5", "0.5", "1", "2", "3", "4", "5", "6", "7", "8", "9", "6", "4", "2", "0", "-1"]
ROWS = history(WAVES * 6, ZS * 6)
WINDOWS = WalkForwardWindows(
    tune_from=START,
    tune_to=START + timedelta(days=47),
    test_from=START + timedelta(days=48),
    test_to=START + timedelta(days=95),
)
CONFIG = free_config(apy="0.065", static_apy="0.065")
GRID = (
    variant_of(CONFIG.strategy),
    PolicyVariant(
        ladder_shift=D(-1),
        drift_band=D("0.1"),
        euphoria_exposure=D("0.8"),
        black_swan_drop=D("0.3"),
    ),
    PolicyVariant(
        ladder_shift=D(1),
        drift_band=D("0.05"),
        euphoria_exposure=D("0.6"),
        black_swan_drop=D("0.2"),
    ),
)


def test_every_variant_runs_on_both_windows_and_the_first_is_the_default() -> None:
    result = run_walk_forward(ROWS, CONFIG, WINDOWS, grid=GRID)

    assert [r.variant for r in result.runs] == list(GRID)
    assert result.default.variant == GRID[0]
    for run in result.runs:
        assert (run.tuning.first_day, run.tuning.last_day) == (WINDOWS.tune_from, WINDOWS.tune_to)
        assert (run.test.first_day, run.test.last_day) == (WINDOWS.test_from, WINDOWS.test_to)
    assert result.chosen in result.runs


def test_the_choice_does_not_change_when_the_test_window_s_data_changes() -> None:
    before = run_walk_forward(ROWS, CONFIG, WINDOWS, grid=GRID)
    scrambled = [
        replace(o, btc_price=o.btc_price * D(3) if i % 2 else o.btc_price / D(2))
        if o.day >= WINDOWS.test_from
        else o
        for i, o in enumerate(ROWS)
    ]

    after = run_walk_forward(scrambled, CONFIG, WINDOWS, grid=GRID)

    assert after.chosen.variant == before.chosen.variant
    assert [r.tuning for r in after.runs] == [r.tuning for r in before.runs]
    assert [r.test for r in after.runs] != [r.test for r in before.runs]


def test_windows_that_overlap_are_refused() -> None:
    with pytest.raises(InvalidValue):
        WalkForwardWindows(
            tune_from=START,
            tune_to=START + timedelta(days=50),
            test_from=START + timedelta(days=50),
            test_to=START + timedelta(days=90),
        )
