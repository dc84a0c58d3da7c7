"""The simulated market's options picture: plausible DVOL and put/call ratios in every
scenario, an implied-volatility spike on the crash day, and paper data that carries them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.market.simulated import Scenario, SimulatedMarket
from domain.market import MarketField
from domain.safety import SafetyLimits, detect_black_swan
from tests.fakes.market import MovableClock

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 400


@pytest.mark.parametrize("scenario", list(Scenario))
def test_every_scenario_gives_plausible_dvol_and_put_call_ratios(scenario: Scenario) -> None:
    market = SimulatedMarket(clock=MovableClock(START), scenario=scenario)
    days = [market.day(i) for i in range(DAYS)]
    for day in days:
        assert day.btc_implied_volatility is not None
        assert day.eth_implied_volatility is not None
        assert day.put_call_ratio is not None
        assert Decimal(15) <= day.btc_implied_volatility <= Decimal(250)
        assert Decimal(15) <= day.eth_implied_volatility <= Decimal(250)
        assert Decimal("0.25") <= day.put_call_ratio <= Decimal(2)
    # ETH's implied volatility runs above BTC's on most days, as on Deribit
    above = sum(
        1
        for d in days
        if d.eth_implied_volatility is not None
        and d.btc_implied_volatility is not None
        and d.eth_implied_volatility > d.btc_implied_volatility
    )
    assert above > DAYS * 0.9
    assert days[0].btc_iv_change_24h is None
    assert all(d.btc_iv_change_24h is not None for d in days[1:])


def test_the_crash_day_spikes_implied_volatility_and_the_opt_in_warning_sees_it() -> None:
    clock = MovableClock(START)
    market = SimulatedMarket(clock=clock, scenario=Scenario.CRASH)
    crash = next(i for i in range(60) if market.day(i).regime == "black-swan")
    day = market.day(crash)
    assert day.btc_iv_change_24h is not None
    assert day.btc_iv_change_24h > Decimal(1)  # DVOL more than doubles
    assert day.put_call_ratio is not None
    assert day.put_call_ratio > market.day(crash - 1).put_call_ratio  # type: ignore[operator]
    calm = market.day(crash - 1)
    assert calm.btc_iv_change_24h is not None
    assert abs(calm.btc_iv_change_24h) < Decimal("0.5")


async def test_paper_market_data_carries_the_options_fields_with_freshness() -> None:
    market = SimulatedMarket(clock=MovableClock(START), scenario=Scenario.CRASH)
    market.advance(30)
    data = await market.fetch()
    assert data.btc_implied_volatility is not None
    assert data.put_call_ratio is not None
    assert data.freshness[MarketField.PUT_CALL_RATIO].source == "simulated:crash"
    limits = SafetyLimits(black_swan_iv_spike_24h=Decimal("0.5"))
    found = detect_black_swan(data, limits)
    assert found is not None
    assert any("implied volatility" in reason for reason in found.reasons)
