"""The MarketDataSource contract: one suite every market adapter must pass.

Subclasses provide a `market` fixture: a MarketDataSource ready to answer (the simulated and
replay markets in unit tests, the live aggregate against loopback fake services in integration
tests).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from application.ports.market import MarketDataSource, SourceStatus
from domain.market import MarketData, MarketField
from domain.phases import classify_phase


class MarketDataContract:
    """Behaviour the strategy relies on, whatever the adapter."""

    async def test_fetch_gives_timestamped_data_whose_phase_follows_its_fields(
        self, market: MarketDataSource
    ) -> None:
        data = await market.fetch()
        assert data.timestamp.tzinfo is not None
        assert data.market_phase == classify_phase(
            data.mvrv_z_score, data.fear_greed_index, data.funding_rate
        )

    async def test_every_present_field_says_where_it_came_from_and_when(
        self, market: MarketDataSource
    ) -> None:
        data = await market.fetch()
        present = [f for f in MarketField if getattr(data, f.value) is not None]
        assert present, "a healthy source produces at least one field"
        for field in present:
            info = data.freshness[field]
            assert info.source
            assert info.observed_at.tzinfo is not None
            assert info.age_seconds >= 0
            assert info.observed_at <= data.timestamp

    async def test_values_are_realistic(self, market: MarketDataSource) -> None:
        data = await market.fetch()
        if data.btc_price is not None:
            assert Decimal(1_000) < data.btc_price < Decimal(1_000_000)
        if data.eth_price is not None:
            assert Decimal(50) < data.eth_price < Decimal(50_000)
        if data.funding_rate is not None:
            assert Decimal("-0.01") < data.funding_rate < Decimal("0.01")
        if data.mvrv_z_score is not None:
            assert Decimal(-5) < data.mvrv_z_score < Decimal(20)
        if data.fear_greed_index is not None:
            assert 0 <= data.fear_greed_index <= 100
        for iv in (data.btc_implied_volatility, data.eth_implied_volatility):
            if iv is not None:
                assert Decimal(0) < iv < Decimal(500)
        if data.put_call_ratio is not None:
            assert Decimal(0) <= data.put_call_ratio < Decimal(20)

    async def test_concurrent_fetches_agree(self, market: MarketDataSource) -> None:
        results = await asyncio.gather(*(market.fetch() for _ in range(10)))
        assert len({(r.btc_price, r.mvrv_z_score, r.fear_greed_index) for r in results}) == 1

    async def test_health_reports_each_source_after_a_fetch(self, market: MarketDataSource) -> None:
        await market.fetch()
        report = await market.health()
        assert report
        assert all(h.status in SourceStatus for h in report)
        assert any(h.status is SourceStatus.OK and h.last_success is not None for h in report)

    async def test_fetch_with_a_caller_cancelled_midway_still_serves_others(
        self, market: MarketDataSource
    ) -> None:
        first = asyncio.ensure_future(market.fetch())
        second = asyncio.ensure_future(market.fetch())
        await asyncio.sleep(0)
        first.cancel()
        data = await second
        assert data.btc_price is not None
        (outcome,) = await asyncio.gather(first, return_exceptions=True)
        assert isinstance(outcome, asyncio.CancelledError | MarketData)
