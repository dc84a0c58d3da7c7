"""Domain speed: one signal + plan + safety verdict, the heart of every decision cycle."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal

from tests.unit.domain.builders import market

from domain.planner import PlanningPrices
from domain.portfolio import PortfolioState, Position
from domain.safety import SafetyContext
from domain.signals import generate_signal
from domain.strategy import planning_prices, propose
from domain.tactical import RatchetState

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _portfolio() -> PortfolioState:
    def pos(protocol: str, asset: str, value: int, price: int = 1) -> Position:
        return Position(
            protocol=protocol,
            asset=asset,
            amount=Decimal(value) / price,
            value_usd=Decimal(value),
            apy=Decimal("0.05"),
            entered_at=NOW,
        )

    return PortfolioState.build(
        positions=(
            pos("aave", "USDC", 120_000),
            pos("curve", "3CRV", 60_000),
            pos("wallet", "WBTC", 90_000, 60_000),
            pos("wallet", "WETH", 70_000, 3_000),
        ),
        cash_balance=Decimal(60_000),
    )


def main() -> int:
    """Time 2,000 decision steps and print p50/p95 in microseconds."""
    portfolio = _portfolio()
    data = market(mvrv="5.2", fng=80, funding="0.0003")
    tvl = {"aave": Decimal(10**10), "curve": Decimal(10**9), "pendle": Decimal(10**9)}
    context = SafetyContext(now=NOW, protocol_tvl_usd=tvl, base_fee_gwei=Decimal(20))
    prices: PlanningPrices = planning_prices(data, Decimal(20))
    samples = []
    for _ in range(2_000):
        started = time.perf_counter()
        signal, _ = generate_signal(data, RatchetState(), NOW)
        propose(
            portfolio, signal.target_allocations, data, context, prices=prices, plan_id="b", now=NOW
        )
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    p50 = statistics.median(samples)
    p95 = samples[int(len(samples) * 0.95)]
    print(f"   signal + plan + safety verdict: p50 {p50:.0f} us, p95 {p95:.0f} us (2,000 runs)")
    return 0
