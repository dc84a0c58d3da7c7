"""Past decisions cannot depend on future rows: perturb the future and compare the past."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from domain.backtest import BacktestConfig, BacktestResult, run_backtest
from domain.history import DailyObservation
from tests.unit.backtest.series import history

DAYS = 240


def _wavy_history() -> list[DailyObservation]:
    # A deterministic up-and-down market with MVRV Z swinging through the ladder's rungs.
    prices = []
    zs = []
    price = Decimal(20_000)
    for i in range(DAYS):
        step = Decimal((i * 37) % 11 - 5) / 100  # -5 % .. +5 % a day
        price = (price * (1 + step)).quantize(Decimal("0.01"))
        prices.append(str(price))
        zs.append(str(Decimal((i * 13) % 100 - 20) / 10))  # -2 .. 7.9
    return history(prices, zs)


def _perturbed_from(rows: list[DailyObservation], cut: int) -> list[DailyObservation]:
    return rows[:cut] + [
        replace(
            o,
            btc_price=o.btc_price * Decimal("1.7"),
            mvrv_z_score=Decimal(9) - (o.mvrv_z_score or 0),
            fear_greed=5,
            funding_rate=Decimal("-0.001"),
        )
        for o in rows[cut:]
    ]


def _decided_before(result: BacktestResult, cut_day: object) -> list[object]:
    return [d for d in result.decisions if d.day < cut_day]  # type: ignore[operator]


@pytest.mark.parametrize("cut", [1, 40, 120, 239])
def test_changing_every_row_from_a_day_on_leaves_all_earlier_decisions_and_equity_alone(
    cut: int,
) -> None:
    rows = _wavy_history()
    config = BacktestConfig(capital=Decimal(400_000))
    original = run_backtest(rows, config)
    changed = run_backtest(_perturbed_from(rows, cut), config)
    cut_day = rows[cut].day

    assert original.decisions  # the series does make decisions
    assert _decided_before(original, cut_day) == _decided_before(changed, cut_day)
    assert original.equity[:cut] == changed.equity[:cut]
    assert original.phases[:cut] == changed.phases[:cut]
    assert [f for f in original.fills if f.day < cut_day] == [
        f for f in changed.fills if f.day < cut_day
    ]
    assert original.equity[cut:] != changed.equity[cut:]  # the perturbation did bite


def test_a_day_s_own_mvrv_is_not_used_until_the_next_day_as_glassnode_publishes_it() -> None:
    rows = _wavy_history()
    config = BacktestConfig(capital=Decimal(400_000))
    cut = 100
    bumped = list(rows)
    bumped[cut] = replace(rows[cut], mvrv_z_score=Decimal(12))
    original = run_backtest(rows, config)
    changed = run_backtest(bumped, config)

    assert original.phases[: cut + 1] == changed.phases[: cut + 1]
    assert original.exposures[: cut + 1] == changed.exposures[: cut + 1]
    assert original.phases[cut + 1] != changed.phases[cut + 1]
