"""Costs charged at fill time, the ETH split, the last-day edge, and refused settings."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from domain.backtest import BacktestConfig, BacktestCosts, OrderOutcome, run_backtest
from domain.errors import InvalidValue
from domain.market import MarketPhase
from tests.unit.backtest.series import free_config, history


def test_gas_is_flat_per_transaction_and_the_swap_fee_is_taken_from_what_arrives() -> None:
    # Day 1 fills 3 deposits at $10 gas each: equity $99,970 (no BTC on day 0: MVRV, a day
    # late, is not yet known). Day 2 fills the BTC swap, 24 % x $99,970 = $23,992.80, for $10 of
    # gas and a 0.1 % fee of $23.9928: equity $99,936.0072, BTC worth $23,968.8072.
    base = free_config()
    config = replace(
        base, costs=replace(base.costs, gas_usd_per_tx=Decimal(10), swap_fee=Decimal("0.001"))
    )

    result = run_backtest(history([10_000] * 4), config)

    assert result.gas_paid_usd == Decimal(40)
    assert result.slippage_paid_usd == Decimal("23.9928")
    assert result.equity[1] == Decimal(99_970)
    assert result.equity[2] == Decimal("99936.0072")
    assert result.volatile_usd[2] == Decimal("23968.8072")


def test_with_eth_prices_on_every_day_the_tactical_sleeve_splits_btc_and_eth() -> None:
    rows = [replace(o, eth_price=Decimal(1_000)) for o in history([10_000] * 4)]

    result = run_backtest(rows, free_config())

    assert result.tactical_assets == ("WBTC", "WETH")
    assert result.volatile_usd[2] == Decimal(24_000)
    assert {f.to_asset for f in result.fills if f.to_asset.startswith("W")} == {"WBTC", "WETH"}


def test_a_plan_whose_approval_would_land_after_the_history_ends_is_reported_as_waiting() -> None:
    result = run_backtest(history([10_000, 10_000]), free_config(400_000, approval_delay_days=1))

    assert [d.outcome for d in result.decisions] == [OrderOutcome.AWAITING_APPROVAL]
    assert not result.fills


def test_progress_is_reported_once_per_day_and_phases_are_counted() -> None:
    seen: list[tuple[int, int]] = []

    result = run_backtest(
        history([10_000] * 3, ["-1", "-1", "-1"]),
        free_config(),
        on_day=lambda done, total: seen.append((done, total)),
    )

    assert seen == [(1, 3), (2, 3), (3, 3)]
    # Day 1 has no MVRV yet (published a day late): euphoria; then accumulation.
    assert result.phase_days()[MarketPhase.EUPHORIA] == 1
    assert result.phase_days()[MarketPhase.ACCUMULATION] == 2


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: BacktestConfig(capital=Decimal(0)), id="no-capital"),
        pytest.param(
            lambda: BacktestConfig(capital=Decimal(1), approval_delay_days=-1), id="delay"
        ),
        pytest.param(lambda: BacktestConfig(capital=Decimal(1), mvrv_lag_days=-1), id="lag"),
        pytest.param(
            lambda: BacktestCosts(protocol_apy={"aave": Decimal(-1)}), id="apy-below-minus-100"
        ),
        pytest.param(lambda: BacktestCosts(gas_usd_per_tx=Decimal(-1)), id="negative-gas"),
    ],
)
def test_impossible_settings_are_refused(build: object) -> None:
    with pytest.raises(InvalidValue):
        build()  # type: ignore[operator]
