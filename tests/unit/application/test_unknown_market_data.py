"""Unknown market data never causes a trade through the decision cycle."""

from __future__ import annotations

from decimal import Decimal

from application.cycle import CycleCommand, CycleOutcome
from tests.unit.application.conftest import Treasury, build_treasury

D = Decimal


async def test_missing_mvrv_after_an_accumulation_cycle_sells_nothing() -> None:
    cheap = build_treasury(
        cash=0,
        holdings={
            ("aave", "USDC"): D(96_000),
            ("pendle", "PT-USDC"): D(72_000),
            ("curve", "3CRV"): D(72_000),
            ("wallet", "WBTC"): D(78_000),
            ("wallet", "WETH"): D(78_000),
        },
    )
    cheap.market.set(mvrv_z_score=D("-0.5"), fear_greed_index=20, funding_rate=D("-0.0001"))
    first = await cheap.cycle.execute(CycleCommand())
    assert first.signal.target_allocations.tactical == D("0.4")
    held = cheap.book.state().volatile_value()
    cheap.market.set(mvrv_z_score=None)
    second = await cheap.cycle.execute(CycleCommand())
    assert second.outcome is CycleOutcome.HELD, second.plan and second.plan.required_transactions
    assert cheap.book.state().volatile_value() == held


async def test_missing_mvrv_with_no_history_buys_no_btc_or_eth(all_cash: Treasury) -> None:
    all_cash.market.set(mvrv_z_score=None)
    result = await all_cash.cycle.execute(CycleCommand(force=True))
    assert not any(
        t.to_asset in ("WBTC", "WETH")
        for t in (result.plan.required_transactions if result.plan else ())
    )
    assert all_cash.book.state().volatile_value() == 0
