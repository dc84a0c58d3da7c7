"""The simulated market: deterministic, realistic, coherent scenarios on an injected clock."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise

import pytest

from adapters.market.simulated import STORYLINES, Scenario, SimulatedMarket
from application.ports.market import MarketDataSource
from domain.market import MarketField, MarketPhase
from domain.phases import classify_phase
from tests.contracts.market import MarketDataContract
from tests.fakes.market import MovableClock

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
SEEDS = [1, 7, 42, 2024]


def market(scenario: Scenario = Scenario.FULL_CYCLE, seed: int = 7, **kw: float) -> SimulatedMarket:
    return SimulatedMarket(clock=MovableClock(T0), scenario=scenario, seed=seed, **kw)


def cycle_length(scenario: Scenario) -> int:
    return sum(length for _, length in STORYLINES[scenario].schedule)


class TestSimulatedMarketContract(MarketDataContract):
    @pytest.fixture(params=list(Scenario), ids=[s.value for s in Scenario])
    def market(self, request: pytest.FixtureRequest) -> MarketDataSource:
        simulated = SimulatedMarket(clock=MovableClock(T0), scenario=request.param, seed=3)
        simulated.advance(45)
        return simulated


def test_the_same_seed_gives_the_same_path_and_another_seed_another() -> None:
    assert market(seed=11).history(400) == market(seed=11).history(400)
    assert market(seed=11).history(400) != market(seed=12).history(400)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_full_cycle_is_realistic_and_passes_through_every_phase(seed: int) -> None:
    days = market(seed=seed).history(cycle_length(Scenario.FULL_CYCLE))
    btc = [d.btc_price for d in days]
    z = [d.mvrv_z_score for d in days if d.mvrv_z_score is not None]
    funding = [d.funding_rate for d in days if d.funding_rate is not None]
    fear_greed = [d.fear_greed for d in days if d.fear_greed is not None]
    assert Decimal(8_000) < min(btc) < Decimal(30_000)
    assert Decimal(60_000) < max(btc) < Decimal(250_000)
    assert Decimal("-1.5") <= min(z) < Decimal(0)
    assert Decimal("3.5") < max(z) <= Decimal(10)
    assert Decimal("-0.0005") <= min(funding) < 0 < max(funding) <= Decimal("0.001")
    assert min(fear_greed) < 25
    assert max(fear_greed) > 75
    phases = Counter(classify_phase(d.mvrv_z_score, d.fear_greed, d.funding_rate) for d in days)
    assert set(phases) == set(MarketPhase)


@pytest.mark.parametrize("seed", SEEDS)
def test_mvrv_peaks_in_the_top_and_bottoms_in_the_bear(seed: int) -> None:
    days = market(seed=seed).history(cycle_length(Scenario.FULL_CYCLE))
    z = [d.mvrv_z_score or Decimal(0) for d in days]
    peak = z.index(max(z))
    trough = z.index(min(z[peak:]), peak)
    assert 400 < peak < 620  # late euphoria or the top
    assert trough > 620  # in the bear
    assert days[peak].btc_price > 2 * days[trough].btc_price  # a bear of more than -50 %


@pytest.mark.parametrize("seed", SEEDS)
def test_the_crash_scenario_has_a_day_falling_more_than_20_percent(seed: int) -> None:
    simulated = market(Scenario.CRASH, seed=seed)
    changes = [simulated.day(i).btc_change_24h for i in range(120)]
    worst = min(changes)
    assert worst < Decimal("-0.20")
    crash_day = changes.index(worst)
    assert crash_day == 30
    after = simulated.day(crash_day).observation
    before = simulated.day(crash_day - 1).observation
    assert after.fear_greed is not None
    assert before.fear_greed is not None
    assert after.fear_greed < before.fear_greed
    assert after.fear_greed <= 25


def test_bull_to_top_ends_in_the_top_phase_and_sideways_stays_calm() -> None:
    bull = market(Scenario.BULL_TO_TOP).history(cycle_length(Scenario.BULL_TO_TOP))
    top_days = [d for d in bull[-60:] if d.mvrv_z_score and d.mvrv_z_score > Decimal("3.5")]
    assert len(top_days) > 30
    calm = market(Scenario.SIDEWAYS).history(365)
    changes = [abs(b.btc_price / a.btc_price - 1) for a, b in pairwise(calm)]
    assert max(changes) < Decimal("0.08")


async def test_accelerated_time_serves_one_simulated_day_per_n_clock_seconds() -> None:
    clock = MovableClock(T0)
    simulated = SimulatedMarket(clock=clock, seconds_per_day=10)
    day0 = await simulated.fetch()
    clock.advance(9.9)
    assert (await simulated.fetch()).btc_price == day0.btc_price
    clock.advance(25)
    day3 = await simulated.fetch()
    assert day3.btc_price == simulated.history(4)[3].btc_price
    assert day3.timestamp == clock.now()


async def test_advance_moves_the_market_and_current_prices_follow_it() -> None:
    simulated = market()
    simulated.advance(200)
    data = await simulated.fetch()
    assert simulated.current_prices() == {"BTC": data.btc_price, "ETH": data.eth_price}
    assert data.btc_change_24h == simulated.day(200).btc_change_24h
    with pytest.raises(ValueError, match="back in time"):
        simulated.advance(-1)


async def test_fetched_data_names_the_scenario_in_every_fields_freshness() -> None:
    data = await market(Scenario.CRASH).fetch()
    assert {f.source for f in data.freshness.values()} == {"simulated:crash"}
    assert set(data.freshness) == set(MarketField)
    health = await market(Scenario.CRASH).health()
    assert health[0].source == "simulated:crash"
