"""Baselines (static yield, buy and hold), the drawdown curve and snapshot flows, by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.baselines import (
    STATIC_YIELD_APY,
    PricePoint,
    buy_and_hold_curve,
    static_yield_curve,
)
from domain.errors import InvalidValue
from domain.performance import (
    DrawdownPoint,
    EquityPoint,
    drawdown_curve,
    max_drawdown,
    time_weighted_return,
)
from domain.portfolio import PortfolioState
from tests.unit.domain.builders import portfolio, position

D = Decimal
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def point(days: float, value: int | str, flow: int | str = 0) -> EquityPoint:
    return EquityPoint(at=at(days), value_usd=D(value), net_flow_usd=D(flow))


def values(curve: tuple[EquityPoint, ...] | None) -> list[Decimal]:
    assert curve is not None
    return [p.value_usd for p in curve]


# --- static yield ----------------------------------------------------------------------------


def test_static_yield_grows_the_first_value_by_the_rate_over_a_year() -> None:
    curve = static_yield_curve([point(0, 100_000), point(365, 90_000)])
    assert values(curve) == [D(100_000), D(106_500)]
    assert [p.at for p in curve] == [at(0), at(365)]
    assert D("0.065") == STATIC_YIELD_APY


def test_static_yield_compounds_within_the_year_and_ignores_the_treasurys_values() -> None:
    # Half a year at 21 %: 1.21 ** 0.5 = 1.1 exactly; a quarter then a quarter chains the same.
    curve = static_yield_curve(
        [point(0, 1_000), point(91.25, 5), point(182.5, 7)], annual_rate=D("0.21")
    )
    assert values(curve)[-1] == D(1_100)
    assert curve[1].value_usd == pytest.approx(D(1_000) * D("1.21") ** D("0.25"), rel=D("1e-25"))


def test_baselines_receive_the_treasurys_flows_when_they_arrive() -> None:
    # $1,000 for a year at 10 % -> $1,100, plus a $500 deposit -> $1,600; a year more -> $1,760.
    series = [point(0, 1_000), point(365, 1_700, 500), point(730, 1_900)]
    curve = static_yield_curve(series, annual_rate=D("0.10"))
    assert values(curve) == [D(1_000), D(1_600), D(1_760)]
    assert [p.net_flow_usd for p in curve] == [D(0), D(500), D(0)]
    # The baseline's own time-weighted return is the rate, whatever the flows.
    assert time_weighted_return(curve) == D("0.21")


def test_a_withdrawal_larger_than_the_baseline_empties_it() -> None:
    curve = static_yield_curve(
        [point(0, 1_000), point(1, 5_000, 4_500), point(2, 100, -4_900)], annual_rate=D(0)
    )
    assert values(curve) == [D(1_000), D(5_500), D(600)]
    emptied = static_yield_curve(
        [point(0, 1_000), point(1, 2_000, -1_500), point(2, 2_000)], annual_rate=D(0)
    )
    assert values(emptied) == [D(1_000), D(0), D(0)]


def test_the_baselines_take_points_in_time_order() -> None:
    curve = static_yield_curve([point(365, 5), point(0, 200)], annual_rate=D("0.5"))
    assert values(curve) == [D(200), D(300)]
    assert static_yield_curve([]) == ()


@pytest.mark.parametrize(
    "rate",
    [
        pytest.param(D(-1), id="minus-100pct"),
        pytest.param(D("NaN"), id="nan"),
        pytest.param(0.065, id="float"),
    ],
)
def test_static_yield_refuses_a_rate_that_is_not_a_finite_decimal_above_minus_one(
    rate: object,
) -> None:
    with pytest.raises(InvalidValue):
        static_yield_curve([point(0, 1)], annual_rate=rate)  # type: ignore[arg-type]


# --- buy and hold ----------------------------------------------------------------------------


def test_buy_and_hold_scales_the_first_value_by_the_price_ratio() -> None:
    prices = [PricePoint(at=at(0), price=D(50_000)), PricePoint(at=at(1), price=D(40_000))]
    curve = buy_and_hold_curve([point(0, 100_000), point(1, 99_000)], prices)
    assert values(curve) == [D(100_000), D(80_000)]


def test_buy_and_hold_prices_each_point_at_the_last_observation_at_or_before_it() -> None:
    prices = [
        PricePoint(at=at(2.5), price=D(30)),  # after the last point: never used
        PricePoint(at=at(-1), price=D(10)),
        PricePoint(at=at(0.5), price=D(20)),
    ]
    curve = buy_and_hold_curve([point(0, 100), point(1, 100), point(2, 100)], prices)
    assert values(curve) == [D(100), D(200), D(200)]


def test_buy_and_hold_buys_more_with_a_deposit_at_the_price_of_the_day() -> None:
    # 1 unit at $100; the price doubles and $300 arrives: $200 + $300 = $500, 2.5 units;
    # the price halves: $250.
    prices = [
        PricePoint(at=at(0), price=D(100)),
        PricePoint(at=at(1), price=D(200)),
        PricePoint(at=at(2), price=D(100)),
    ]
    curve = buy_and_hold_curve([point(0, 100), point(1, 400, 300), point(2, 400)], prices)
    assert values(curve) == [D(100), D(500), D(250)]


def test_buy_and_hold_without_a_starting_price_is_none() -> None:
    later = [PricePoint(at=at(1), price=D(100))]
    assert buy_and_hold_curve([point(0, 100), point(1, 100)], later) is None
    assert buy_and_hold_curve([point(0, 100)], []) is None
    assert buy_and_hold_curve([], later) == ()


@pytest.mark.parametrize(
    "price",
    [pytest.param(D(0), id="zero"), pytest.param(D("Infinity"), id="infinite"), 3.0],
)
def test_a_price_must_be_a_positive_finite_decimal(price: object) -> None:
    with pytest.raises(InvalidValue):
        PricePoint(at=T0, price=price)  # type: ignore[arg-type]


# --- drawdown curve --------------------------------------------------------------------------


def test_the_drawdown_curve_measures_each_point_against_the_running_peak() -> None:
    series = [point(0, 100), point(1, 120), point(2, 90), point(3, 108), point(4, 130)]
    curve = drawdown_curve(series)
    assert [p.depth for p in curve] == [D(0), D(0), D("0.25"), D("0.1"), D(0)]
    assert [p.at for p in curve] == [at(d) for d in range(5)]
    worst = max_drawdown(series)
    assert worst is not None
    assert max(p.depth for p in curve) == worst.depth


def test_a_withdrawal_is_not_a_drawdown_and_a_total_loss_is_one() -> None:
    assert [p.depth for p in drawdown_curve([point(0, 100), point(1, 50, -50)])] == [D(0), D(0)]
    assert [p.depth for p in drawdown_curve([point(0, 100), point(1, 0), point(2, 0)])] == [
        D(0),
        D(1),
        D(1),
    ]
    assert drawdown_curve([]) == ()


def test_a_drawdown_point_is_a_fraction_at_an_aware_time() -> None:
    with pytest.raises(InvalidValue):
        DrawdownPoint(at=T0, depth=D("1.5"))


# --- snapshot flows --------------------------------------------------------------------------


def test_a_snapshot_carries_the_outside_money_that_arrived_with_it() -> None:
    state = PortfolioState.build(
        positions=(position("aave", "USDC", 600),), cash_balance=D(400), net_flow_usd=D(250)
    )
    assert state.net_flow_usd == D(250)
    assert portfolio(cash=10).net_flow_usd == 0


@pytest.mark.parametrize(
    "flow",
    [pytest.param(D("1000.01"), id="deposit-above-total"), pytest.param(D("NaN"), id="nan")],
)
def test_a_snapshot_flow_must_be_finite_and_within_the_total(flow: Decimal) -> None:
    with pytest.raises(InvalidValue):
        PortfolioState.build(positions=(), cash_balance=D(1_000), net_flow_usd=flow)
