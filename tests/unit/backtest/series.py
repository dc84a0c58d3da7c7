"""Small synthetic histories and a cost-free configuration whose results can be worked by hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from domain.backtest import BacktestConfig, BacktestCosts
from domain.history import DailyObservation
from domain.money import ONE
from domain.planner import DEFAULT_VENUES, PlannerConfig
from domain.strategy import StrategyConfig

START = date(2024, 1, 1)
SPREAD = (Decimal("0.34"), Decimal("0.33"), Decimal("0.33"))


def history(
    prices: Sequence[int | str],
    mvrv: Sequence[str | None] | None = None,
    *,
    start: date = START,
) -> list[DailyObservation]:
    """One observation per day from `start`, BTC only, with the given prices and MVRV Z."""
    zs = list(mvrv) if mvrv is not None else ["1"] * len(prices)
    return [
        DailyObservation(
            day=start + timedelta(days=i),
            btc_price=Decimal(str(p)),
            mvrv_z_score=None if z is None else Decimal(z),
        )
        for i, (p, z) in enumerate(zip(prices, zs, strict=True))
    ]


def free_config(
    capital: int = 100_000,
    *,
    apy: str = "0",
    static_apy: str = "0",
    approval_delay_days: int = 0,
    deny_approvals: bool = False,
    venue_weights: tuple[Decimal, Decimal, Decimal] | None = None,
    sweep: bool = False,
) -> BacktestConfig:
    """No gas, no swap fee, no entry slippage, no yield: every figure is plain arithmetic.

    The cash sweep is off unless `sweep` (a buffer of the whole treasury), so that the idle
    tactical cash of these hand-worked series stays in the wallet; `sweep=True` keeps the
    default 1 % buffer.

    Approvals are granted without delay unless told otherwise: deploying $100,000 trades more
    than the $50,000 approval limit in total, and these series are about arithmetic, so every
    plan fills at the next day's price whether or not a human had to approve it.
    """
    venues = DEFAULT_VENUES
    if venue_weights is not None:
        venues = tuple(
            replace(v, weight=w) for v, w in zip(DEFAULT_VENUES, venue_weights, strict=True)
        )
    planner = PlannerConfig(
        protocol_slippage={}, venues=venues, cash_buffer_share=Decimal("0.01") if sweep else ONE
    )
    return BacktestConfig(
        capital=Decimal(capital),
        strategy=StrategyConfig(planner=planner),
        costs=BacktestCosts(
            gas_usd_per_tx=Decimal(0),
            swap_fee=Decimal(0),
            swap_impact_per_million_usd=Decimal(0),
            protocol_apy={p: Decimal(apy) for p in ("aave", "pendle", "curve")},
        ),
        approval_delay_days=approval_delay_days,
        deny_approvals=deny_approvals,
        static_apy=Decimal(static_apy),
    )
