"""The live market adapter against the five fake services on a real loopback socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from adapters.market.aggregate import LiveMarketData
from application.ports.market import MarketDataSource, SourceStatus
from domain.market import MarketField
from tests.contracts.market import MarketDataContract
from tests.fakes.market import InMemoryManualMvrv, MovableClock
from tests.integration.market.conftest import KEYS
from tests.integration.market.fake_services import (
    COINGECKO,
    COINGLASS,
    DERIBIT,
    FEAR_GREED,
    GLASSNODE,
    FakeMarketServices,
)

MakeMarket = Callable[..., LiveMarketData]
FIELDS_OF = {
    COINGECKO: (MarketField.BTC_PRICE, MarketField.ETH_PRICE),
    GLASSNODE: (MarketField.MVRV_Z_SCORE,),
    COINGLASS: (MarketField.FUNDING_RATE,),
    FEAR_GREED: (MarketField.FEAR_GREED_INDEX,),
    DERIBIT: (
        MarketField.BTC_IMPLIED_VOLATILITY,
        MarketField.ETH_IMPLIED_VOLATILITY,
        MarketField.PUT_CALL_RATIO,
    ),
}
# One Deribit read asks for DVOL and the option book of BTC and of ETH.
REQUESTS_PER_READ = {COINGECKO: 1, GLASSNODE: 1, COINGLASS: 1, FEAR_GREED: 1, DERIBIT: 4}


class TestLiveMarketContract(MarketDataContract):
    @pytest.fixture
    def market(self, make_market: MakeMarket) -> MarketDataSource:
        return make_market()


async def test_all_five_services_fill_market_data_from_their_documented_shapes(
    make_market: MakeMarket, services: FakeMarketServices
) -> None:
    market = make_market()
    data = await market.fetch()
    assert data.btc_price == Decimal("67187.3358936566")
    assert data.eth_price == Decimal("3514.82")
    assert data.mvrv_z_score == Decimal("2.7791")
    assert data.fear_greed_index == 40
    btc = (Decimal("0.007343") + Decimal("0.00736901950628") + Decimal("-0.001829")) / 3 / 100
    eth = (Decimal("0.0051") * 2 + Decimal("-0.001829")) / 3 / 100
    assert data.funding_rate is not None
    assert abs(data.funding_rate - (btc + eth) / 2) < Decimal("1e-15")
    assert data.missing_fields() == ()
    assert data.freshness[MarketField.MVRV_Z_SCORE].age_seconds > 86_400 - 1
    assert {h.source: h.status for h in await market.health()} == {
        COINGECKO: SourceStatus.OK,
        GLASSNODE: SourceStatus.OK,
        COINGLASS: SourceStatus.OK,
        FEAR_GREED: SourceStatus.OK,
        DERIBIT: SourceStatus.OK,
    }


async def test_four_sources_each_delayed_300ms_are_fetched_together_in_under_500ms(
    make_market: MakeMarket, services: FakeMarketServices
) -> None:
    for knobs in services.knobs.values():
        knobs.delay_s = 0.3
    market = make_market()
    started = time.perf_counter()
    data = await market.fetch()
    elapsed = time.perf_counter() - started
    assert data.missing_fields() == ()
    assert 0.3 <= elapsed < 0.5, f"took {elapsed:.3f} s"


async def test_fifty_concurrent_callers_inside_the_ttl_cause_one_request_per_source(
    make_market: MakeMarket, services: FakeMarketServices
) -> None:
    for knobs in services.knobs.values():
        knobs.delay_s = 0.1
    market = make_market()
    results = await asyncio.gather(*(market.fetch() for _ in range(50)))
    again = await market.fetch()
    assert services.requests() == REQUESTS_PER_READ
    assert {r.btc_price for r in [*results, again]} == {Decimal("67187.3358936566")}


async def test_a_source_failing_after_a_success_is_served_stale_and_flagged(
    make_market: MakeMarket, services: FakeMarketServices, clock: MovableClock
) -> None:
    # The default 4 s budget always leaves room for three attempts and their back-off.
    market = make_market(source_timeout_s=4.0)
    await market.fetch()
    clock.advance(301)  # past the 5-minute TTL
    services.knobs[COINGECKO].status = 500
    data = await market.fetch()
    assert services.knobs[COINGECKO].requests == 4  # the first, then three attempts
    assert data.btc_price == Decimal("67187.3358936566")
    assert data.stale_fields() == (MarketField.BTC_PRICE, MarketField.ETH_PRICE)
    assert data.freshness[MarketField.BTC_PRICE].stale
    assert data.freshness[MarketField.BTC_PRICE].age_seconds >= 301
    health = {h.source: h for h in await market.health()}
    assert health[COINGECKO].status is SourceStatus.DEGRADED
    assert health[COINGECKO].last_error == "coingecko: HTTP 500: scripted failure"
    assert health[COINGLASS].status is SourceStatus.OK


async def test_a_hung_source_does_not_hold_the_others_past_the_timeout(
    make_market: MakeMarket, services: FakeMarketServices
) -> None:
    services.knobs[GLASSNODE].hang = True
    market = make_market(source_timeout_s=1.0)
    started = time.perf_counter()
    data = await market.fetch()
    elapsed = time.perf_counter() - started
    assert elapsed < 1.3, f"took {elapsed:.3f} s"
    assert data.missing_fields() == (MarketField.MVRV_Z_SCORE,)
    glassnode = {h.source: h for h in await market.health()}[GLASSNODE]
    assert glassnode.status is SourceStatus.DOWN
    assert glassnode.last_error == "glassnode: no answer within 1.0 s"


async def test_with_the_default_4s_budget_a_hung_source_keeps_the_fetch_under_5s(
    make_market: MakeMarket, services: FakeMarketServices, store: InMemoryManualMvrv
) -> None:
    services.knobs[COINGLASS].hang = True
    market = make_market(source_timeout_s=4.0)
    started = time.perf_counter()
    data = await market.fetch()
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, f"took {elapsed:.3f} s"
    assert data.missing_fields() == (MarketField.FUNDING_RATE,)


async def test_a_429_with_a_long_retry_after_is_not_retried_and_the_source_is_left_alone(
    make_market: MakeMarket, services: FakeMarketServices, clock: MovableClock
) -> None:
    services.knobs[FEAR_GREED].status = 429
    services.knobs[FEAR_GREED].retry_after = "120"
    market = make_market()
    data = await market.fetch()
    assert data.fear_greed_index is None
    clock.advance(60)
    await market.fetch()
    assert services.knobs[FEAR_GREED].requests == 1
    health = {h.source: h for h in await market.health()}[FEAR_GREED]
    assert health.last_error is not None
    assert "HTTP 429" in health.last_error
    assert "retry after 120 s" in health.last_error


@pytest.mark.parametrize("service", [COINGECKO, GLASSNODE, COINGLASS, FEAR_GREED, DERIBIT])
@pytest.mark.parametrize("fault", ["malformed", "drop_field", "status_401"])
async def test_one_bad_source_costs_only_its_own_fields(
    make_market: MakeMarket, services: FakeMarketServices, service: str, fault: str
) -> None:
    knobs = services.knobs[service]
    if fault == "status_401" and service in KEYS:
        knobs.api_key = "a-key-we-do-not-have"  # our key is refused
    elif fault == "status_401":
        knobs.status = 401  # alternative.me has no key; answer 401 anyway
    else:
        setattr(knobs, fault, True)
    market = make_market()
    data = await market.fetch()
    assert set(data.missing_fields()) == set(FIELDS_OF[service])
    assert knobs.requests == REQUESTS_PER_READ[service]  # permanent failures are not retried
    health = {h.source: h for h in await market.health()}
    assert health[service].status is SourceStatus.DOWN
    assert health[service].last_error is not None
    assert health[service].last_error.startswith(f"{service}: ")
    for key in KEYS.values():
        assert key not in health[service].last_error


async def test_without_a_glassnode_key_the_manual_value_is_used_and_glassnode_not_called(
    make_market: MakeMarket, services: FakeMarketServices, store: InMemoryManualMvrv
) -> None:
    await store.set_manual_mvrv(Decimal("2.4"), MovableClock().now(), "cli:ops")
    market = make_market(glassnode_api_key=None)
    data = await market.fetch()
    assert data.mvrv_z_score == Decimal("2.4")
    assert data.freshness[MarketField.MVRV_Z_SCORE].manual
    assert services.knobs[GLASSNODE].requests == 0


async def test_deribit_gives_dvol_and_the_put_call_open_interest_ratio_with_freshness(
    make_market: MakeMarket, services: FakeMarketServices
) -> None:
    data = await make_market().fetch()
    # The documented DVOL example's latest close, for both coins (the fake serves it for each).
    assert data.btc_implied_volatility == Decimal("0.212992597")
    assert data.eth_implied_volatility == Decimal("0.212992597")
    # Its three candles span two minutes: no candle 24 h older, so the change is unknown.
    assert data.btc_iv_change_24h is None
    # BTC puts 569.7 over calls 121.8; the ETH records hold no call, so ETH has no ratio.
    assert data.put_call_ratio == (Decimal("569.7") / Decimal("121.8")).quantize(Decimal("0.0001"))
    info = data.freshness[MarketField.PUT_CALL_RATIO]
    assert info.source == DERIBIT
    assert not info.stale
    assert 59 <= info.age_seconds < 120  # the latest candle is a minute old


async def test_deribit_down_leaves_every_other_field_and_its_own_fields_null_and_unfreshed(
    make_market: MakeMarket, services: FakeMarketServices
) -> None:
    services.knobs[DERIBIT].status = 503
    market = make_market()
    data = await market.fetch()
    assert data.btc_price is not None
    assert data.mvrv_z_score is not None
    assert data.funding_rate is not None
    assert data.fear_greed_index is not None
    assert data.btc_implied_volatility is None
    assert data.eth_implied_volatility is None
    assert data.put_call_ratio is None
    assert set(data.missing_fields()) == set(FIELDS_OF[DERIBIT])
    assert not set(FIELDS_OF[DERIBIT]) & set(data.freshness)
    health = {h.source: h for h in await market.health()}
    assert health[DERIBIT].status is SourceStatus.DOWN
    assert health[DERIBIT].last_error == "deribit: HTTP 503: scripted failure"


async def test_deribit_failing_after_a_success_is_served_stale_and_flagged(
    make_market: MakeMarket, services: FakeMarketServices, clock: MovableClock
) -> None:
    market = make_market(source_timeout_s=4.0)
    first = await market.fetch()
    clock.advance(301)
    services.knobs[DERIBIT].status = 500
    data = await market.fetch()
    assert data.put_call_ratio == first.put_call_ratio
    assert MarketField.PUT_CALL_RATIO in data.stale_fields()
    assert data.freshness[MarketField.BTC_IMPLIED_VOLATILITY].stale
