"""The live aggregate over scripted sources: fields, freshness, phase, manual MVRV fallback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.market.aggregate import LiveMarketData
from adapters.market.cache import Reading, SourceCache
from adapters.market.coingecko import SpotPrices
from adapters.market.coinglass import FundingRates
from adapters.market.deribit import OptionsMarket
from adapters.market.errors import SourceAuthFailed, SourceHttpError, SourceTimedOut
from application.errors import MarketDataUnavailable
from application.ports.market import SourceStatus
from domain.market import MarketField, MarketPhase
from tests.fakes.market import InMemoryManualMvrv, MovableClock

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
D = Decimal


class Source:
    """One scripted source: a value observed `lag` seconds ago, or an error."""

    def __init__(self, clock: MovableClock, name: str, value: object, lag: float = 0) -> None:
        self.clock = clock
        self.name = name
        self.value = value
        self.lag = lag
        self.error: MarketDataUnavailable | None = None

    async def read(self) -> Reading[object]:
        if self.error is not None:
            raise self.error
        return Reading(value=self.value, observed_at=self.clock.now() - timedelta(seconds=self.lag))


class World:
    def __init__(self) -> None:
        self.clock = MovableClock(T0)
        self.prices = Source(
            self.clock,
            "coingecko",
            SpotPrices(
                btc_usd=D("67187.34"),
                eth_usd=D("3514.82"),
                btc_change_24h=D("0.0364"),
                eth_change_24h=D("-0.012"),
            ),
            lag=30,
        )
        self.mvrv = Source(self.clock, "glassnode", D("2.7791"), lag=36 * 3600)
        self.funding = Source(
            self.clock,
            "coinglass",
            FundingRates(average=D("0.00004294"), per_coin={"BTC": D("0.00004294")}, contracts=3),
        )
        self.fng = Source(self.clock, "alternative.me", 40, lag=3600)
        self.options = Source(
            self.clock,
            "deribit",
            OptionsMarket(
                implied_volatility={"BTC": D("52.3"), "ETH": D("68.4")},
                iv_change_24h={"BTC": D("0.05"), "ETH": None},
                put_call_per_coin={"BTC": D("0.62"), "ETH": D("0.71")},
            ),
            lag=60,
        )
        self.store = InMemoryManualMvrv()

    def cache(self, source: Source) -> SourceCache[object]:
        return SourceCache(source.name, source.read, clock=self.clock, ttl_s=300, max_stale_s=3600)

    def market(self, *, glassnode: bool = True, store: bool = True) -> LiveMarketData:
        return LiveMarketData(
            prices=self.cache(self.prices),  # type: ignore[arg-type]
            mvrv=self.cache(self.mvrv) if glassnode else None,  # type: ignore[arg-type]
            funding=self.cache(self.funding),  # type: ignore[arg-type]
            fear_greed=self.cache(self.fng),  # type: ignore[arg-type]
            options=self.cache(self.options),  # type: ignore[arg-type]
            clock=self.clock,
            manual_mvrv=self.store if store else None,
        )


@pytest.fixture
def world() -> World:
    return World()


async def test_all_sources_fill_every_field_with_its_freshness_and_the_phase(
    world: World,
) -> None:
    data = await world.market().fetch()
    assert data.btc_price == D("67187.34")
    assert data.eth_price == D("3514.82")
    assert data.btc_change_24h == D("0.0364")
    assert data.mvrv_z_score == D("2.7791")
    assert data.funding_rate == D("0.00004294")
    assert data.fear_greed_index == 40
    assert data.market_phase is MarketPhase.EUPHORIA
    assert data.timestamp == T0
    assert data.missing_fields() == ()
    assert data.freshness[MarketField.MVRV_Z_SCORE].source == "glassnode"
    assert data.freshness[MarketField.MVRV_Z_SCORE].age_seconds == D(36 * 3600)
    assert data.freshness[MarketField.BTC_PRICE].source == "coingecko"
    assert data.freshness[MarketField.FEAR_GREED_INDEX].observed_at == T0 - timedelta(hours=1)
    assert not any(f.stale or f.manual for f in data.freshness.values())


async def test_one_failing_source_leaves_the_others_intact(world: World) -> None:
    world.funding.error = SourceTimedOut("coinglass", 4)
    market = world.market()
    data = await market.fetch()
    assert data.funding_rate is None
    assert data.missing_fields() == (MarketField.FUNDING_RATE,)
    assert data.btc_price is not None
    assert MarketField.FUNDING_RATE not in data.freshness
    health = {h.source: h for h in await market.health()}
    assert health["coinglass"].status is SourceStatus.DOWN
    assert health["coinglass"].last_error == "coinglass: no answer within 4.0 s"
    assert health["coingecko"].status is SourceStatus.OK


async def test_a_source_failing_after_a_success_is_served_stale_and_flagged(
    world: World,
) -> None:
    market = world.market()
    await market.fetch()
    world.clock.advance(301)
    world.prices.error = SourceHttpError("coingecko", 502)
    data = await market.fetch()
    assert data.btc_price == D("67187.34")
    assert data.stale_fields() == (MarketField.BTC_PRICE, MarketField.ETH_PRICE)
    assert data.freshness[MarketField.BTC_PRICE].age_seconds == D(331)
    assert {h.source: h.status for h in await market.health()}["coingecko"] is (
        SourceStatus.DEGRADED
    )


async def test_without_glassnode_the_manual_mvrv_is_used_and_flagged(world: World) -> None:
    set_at = T0 - timedelta(hours=5)
    await world.store.set_manual_mvrv(D("2.4"), set_at, "cli:ops")
    market = world.market(glassnode=False)
    data = await market.fetch()
    assert data.mvrv_z_score == D("2.4")
    info = data.freshness[MarketField.MVRV_Z_SCORE]
    assert info.manual
    assert info.source == "manual"
    assert info.observed_at == set_at
    assert info.age_seconds == D(5 * 3600)
    glassnode = {h.source: h for h in await market.health()}["glassnode"]
    assert glassnode.status is SourceStatus.DEGRADED
    assert "not configured" in (glassnode.last_error or "")


async def test_a_failing_glassnode_with_nothing_cached_falls_back_to_the_manual_value(
    world: World,
) -> None:
    world.mvrv.error = SourceAuthFailed("glassnode", 403, "plan lacks this metric")
    await world.store.set_manual_mvrv(D("5.1"), T0 - timedelta(days=1), "cli:ops")
    data = await world.market().fetch()
    assert data.mvrv_z_score == D("5.1")
    assert data.freshness[MarketField.MVRV_Z_SCORE].manual
    assert data.market_phase is MarketPhase.TOP


async def test_a_stale_glassnode_value_beats_an_older_manual_one(world: World) -> None:
    await world.store.set_manual_mvrv(D("1.0"), T0 - timedelta(days=3), "cli:ops")
    market = world.market()
    await market.fetch()
    world.clock.advance(400)
    world.mvrv.error = SourceHttpError("glassnode", 500)
    data = await market.fetch()
    assert data.mvrv_z_score == D("2.7791")
    assert MarketField.MVRV_Z_SCORE in data.stale_fields()


async def test_a_manual_value_newer_than_the_stale_glassnode_point_wins(world: World) -> None:
    market = world.market()
    await market.fetch()
    world.clock.advance(400)
    world.mvrv.error = SourceHttpError("glassnode", 500)
    await world.store.set_manual_mvrv(D("3.9"), world.clock.now(), "cli:ops")
    data = await market.fetch()
    assert data.mvrv_z_score == D("3.9")
    assert data.freshness[MarketField.MVRV_Z_SCORE].manual


async def test_a_manual_value_older_than_a_week_is_not_used(world: World) -> None:
    await world.store.set_manual_mvrv(D("2.4"), T0 - timedelta(days=8), "cli:ops")
    data = await world.market(glassnode=False).fetch()
    assert data.mvrv_z_score is None
    assert MarketField.MVRV_Z_SCORE in data.missing_fields()


async def test_an_unreachable_manual_store_costs_only_the_mvrv_field(world: World) -> None:
    world.store.down = True
    data = await world.market(glassnode=False).fetch()
    assert data.mvrv_z_score is None
    assert data.btc_price is not None
    assert data.fear_greed_index == 40


async def test_with_every_source_down_the_fetch_raises_naming_them(world: World) -> None:
    for source in (world.prices, world.funding, world.fng):
        source.error = SourceHttpError(source.name, 503)
    with pytest.raises(MarketDataUnavailable, match="no source could be read") as caught:
        await world.market(glassnode=False).fetch()
    message = str(caught.value)
    for name in ("coingecko", "coinglass", "alternative.me", "glassnode"):
        assert name in message


async def test_health_before_any_fetch_probes_the_sources_once(world: World) -> None:
    report = await world.market().health()
    assert [h.source for h in report] == [
        "coingecko",
        "glassnode",
        "coinglass",
        "alternative.me",
        "deribit",
    ]
    assert all(h.status is SourceStatus.OK for h in report)


async def test_deribit_fills_dvol_its_change_and_the_mean_put_call_ratio_with_freshness(
    world: World,
) -> None:
    data = await world.market().fetch()
    assert data.btc_implied_volatility == D("52.3")
    assert data.eth_implied_volatility == D("68.4")
    assert data.btc_iv_change_24h == D("0.05")
    assert data.eth_iv_change_24h is None
    assert data.put_call_ratio == D("0.665")
    info = data.freshness[MarketField.PUT_CALL_RATIO]
    assert (info.source, info.age_seconds, info.stale) == ("deribit", D(60), False)
    assert data.freshness[MarketField.ETH_IMPLIED_VOLATILITY] == info


async def test_deribit_failing_leaves_its_fields_unknown_and_everything_else_intact(
    world: World,
) -> None:
    world.options.error = SourceHttpError("deribit", 503)
    market = world.market()
    data = await market.fetch()
    assert data.missing_fields() == (
        MarketField.BTC_IMPLIED_VOLATILITY,
        MarketField.ETH_IMPLIED_VOLATILITY,
        MarketField.PUT_CALL_RATIO,
    )
    assert data.btc_iv_change_24h is None
    assert data.btc_price == D("67187.34")
    assert data.fear_greed_index == 40
    health = {h.source: h for h in await market.health()}
    assert health["deribit"].status is SourceStatus.DOWN
    assert health["deribit"].last_error == "deribit: HTTP 503"


async def test_deribit_alone_does_not_make_market_data(world: World) -> None:
    for source in (world.prices, world.mvrv, world.funding, world.fng):
        source.error = SourceHttpError(source.name, 503)
    with pytest.raises(MarketDataUnavailable, match="no source could be read"):
        await world.market(store=False).fetch()
