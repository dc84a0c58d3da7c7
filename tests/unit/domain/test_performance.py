"""Performance mathematics against hand-computed figures, flows, boundaries and invariants.

The reference series (`SMALL`) is five daily closes with daily returns +2 %, -1 %, +3 %, 0 %:

    day        value                       growth
    Jan 1      100
    Jan 2      102        = 100 * 1.02     1.02
    Jan 3      100.98     = 102 * 0.99     0.99
    Jan 4      104.0094   = 100.98 * 1.03  1.03
    Jan 5      104.0094                    1.00

    TWR = 1.02 * 0.99 * 1.03 * 1 - 1 = 1.040094 - 1 = 0.040094
    mean daily return   = (0.02 - 0.01 + 0.03 + 0) / 4 = 0.01
    deviations          = 0.01, -0.02, 0.02, -0.01; squares sum 0.0001+0.0004+0.0004+0.0001 = 0.001
    sample variance     = 0.001 / 3;  stdev = sqrt(0.001 / 3)
    volatility          = sqrt(0.001 / 3) * sqrt(365) = sqrt(0.365 / 3)          ≈ 0.34881
    Sharpe (rf 0)       = 0.01 / sqrt(0.001 / 3) * sqrt(365) = sqrt(1e-4 * 3000 * 365)
                        = sqrt(109.5)                                            ≈ 10.4642
    downside (rf 0)     = sqrt((0 + 0.01² + 0 + 0) / 4) = sqrt(0.000025) = 0.005
    Sortino (rf 0)      = 0.01 / 0.005 * sqrt(365) = 2 * sqrt(365) = sqrt(1460)  ≈ 38.2099
    drawdown            = index peaks at 1.02 (Jan 2), falls to 1.0098 (Jan 3): 1 - 1.0098/1.02
                        = 0.01; back above 1.02 on Jan 4 (1.040094)
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, Overflow, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError, InvalidValue, NaiveDatetime, NegativeAmount
from domain.performance import (
    DailyReturn,
    EquityPoint,
    InsufficientHistory,
    MaxDrawdown,
    PerformanceReport,
    StandardWindows,
    TradeRecord,
    TradeStatistics,
    annualise,
    annualised_volatility,
    daily_returns,
    daily_risk_free,
    max_drawdown,
    performance_report,
    returns_over,
    risk_adjusted,
    sharpe_ratio,
    sortino_ratio,
    standard_windows,
    time_weighted_return,
    trade_statistics,
)

D = Decimal
TOLERANCE = D("1e-20")


def jan(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


def point(at: datetime, value: str | int, flow: str | int = 0) -> EquityPoint:
    return EquityPoint(at=at, value_usd=D(value), net_flow_usd=D(flow))


def close_to(actual: Decimal | None, expected: Decimal) -> bool:
    return actual is not None and abs(actual - expected) < TOLERANCE


SMALL = [
    point(jan(1), "100"),
    point(jan(2), "102"),
    point(jan(3), "100.98"),
    point(jan(4), "104.0094"),
    point(jan(5), "104.0094"),
]
SMALL_DAILY = [D("0.02"), D("-0.01"), D("0.03"), D("0")]

# The same returns with a 50 USD deposit arriving on Jan 3 (after that day's -1 %):
# Jan 3 value = 100.98 + 50 = 150.98; Jan 4 = 150.98 * 1.03 = 155.5094; Jan 5 unchanged.
# Growth on Jan 3 = (150.98 - 50) / 102 = 0.99, so the TWR is still 0.040094.
WITH_DEPOSIT = [
    point(jan(1), "100"),
    point(jan(2), "102"),
    point(jan(3), "150.98", "50"),
    point(jan(4), "155.5094"),
    point(jan(5), "155.5094"),
]

# The same returns with 40 USD withdrawn on Jan 2 (after that day's +2 %):
# Jan 2 value = 102 - 40 = 62; Jan 3 = 62 * 0.99 = 61.38; Jan 4 = 61.38 * 1.03 = 63.2214.
WITH_WITHDRAWAL = [
    point(jan(1), "100"),
    point(jan(2), "62", "-40"),
    point(jan(3), "61.38"),
    point(jan(4), "63.2214"),
    point(jan(5), "63.2214"),
]


# --- Hand-computed figures on the small series ---------------------------------------------


def test_time_weighted_return_of_the_small_series_is_the_product_of_daily_growth() -> None:
    assert time_weighted_return(SMALL) == D("0.040094")


def test_daily_returns_of_the_small_series_are_the_close_to_close_moves() -> None:
    assert daily_returns(SMALL) == tuple(
        DailyReturn(day=date(2026, 1, d), value=r)
        for d, r in zip(range(2, 6), SMALL_DAILY, strict=True)
    )


def test_volatility_is_the_sample_deviation_annualised_over_365_days() -> None:
    assert close_to(annualised_volatility(SMALL_DAILY), (D("0.365") / 3).sqrt())
    assert str(annualised_volatility(SMALL_DAILY))[:7] == "0.34880"


def test_sharpe_with_no_risk_free_rate_is_the_square_root_of_109_5() -> None:
    sharpe = sharpe_ratio(SMALL_DAILY)
    assert close_to(sharpe, D("109.5").sqrt())
    assert sharpe is not None
    assert D("10.4642") < sharpe < D("10.4643")


def test_sortino_with_no_risk_free_rate_is_twice_the_root_of_365() -> None:
    sortino = sortino_ratio(SMALL_DAILY)
    assert close_to(sortino, 2 * D(365).sqrt())
    assert sortino is not None
    assert D("38.2099") < sortino < D("38.2100")


def test_a_risk_free_rate_is_compounded_to_a_daily_rate_and_subtracted() -> None:
    # rf such that the daily rate is exactly 0.0001: rf = 1.0001 ** 365 - 1.
    rf = D("1.0001") ** 365 - 1
    assert close_to(daily_risk_free(rf), D("0.0001"))
    # Sharpe = (0.01 - 0.0001) / sqrt(0.001 / 3) * sqrt(365) = 0.0099 * sqrt(3000 * 365)
    assert close_to(sharpe_ratio(SMALL_DAILY, rf), D("0.0099") * D(1_095_000).sqrt())
    # Shortfalls below 0.0001: Jan 3 -0.0101 and now Jan 5 too (0 - 0.0001 = -0.0001).
    # DD = sqrt((0.0101² + 0.0001²) / 4) = sqrt((0.00010201 + 0.00000001) / 4) = sqrt(0.000025505)
    downside = D("0.000025505").sqrt()
    assert close_to(sortino_ratio(SMALL_DAILY, rf), D("0.0099") / downside * D(365).sqrt())


def test_max_drawdown_of_the_small_series_is_one_percent_and_recovers() -> None:
    assert max_drawdown(SMALL) == MaxDrawdown(
        depth=D("0.01"), peak_at=jan(2), trough_at=jan(3), recovered_at=jan(4)
    )


@pytest.mark.parametrize(
    ("total_return", "elapsed", "expected"),
    [
        pytest.param("0.1", timedelta(days=182, hours=12), "0.21", id="half-year-10pc-is-21pc"),
        pytest.param("0.21", timedelta(days=730), "0.1", id="two-years-21pc-is-10pc"),
        pytest.param("0.05", timedelta(days=365), "0.05", id="one-year-unchanged"),
        pytest.param("0", timedelta(hours=1), "0", id="flat-stays-flat"),
        pytest.param("-1", timedelta(days=10), "-1", id="total-loss-stays-total"),
        # 0.01 % over 1/5 of a year (73 days): 1.0001 ** 5 - 1 = 0.0005001000100005
        pytest.param("0.0001", timedelta(days=73), "0.00050010001000050001", id="73-days"),
    ],
)
def test_apy_compounds_the_return_over_365_days(
    total_return: str, elapsed: timedelta, expected: str
) -> None:
    assert close_to(annualise(D(total_return), elapsed), D(expected))


def test_apy_of_the_small_series_matches_an_independent_float_computation() -> None:
    # 4 days: 1.040094 ** (365 / 4) - 1 = 1.040094 ** 91.25 - 1 ≈ 35.1305
    apy = annualise(D("0.040094"), timedelta(days=4))
    independent = math.pow(1.040094, 91.25) - 1
    assert apy is not None
    assert abs(float(apy) - independent) < 1e-9 * independent


def test_apy_uses_fractional_days() -> None:
    # 6 hours = 0.25 day; 365 / 0.25 = 1460 periods: 1.0001 ** 1460 - 1.
    assert close_to(annualise(D("0.0001"), timedelta(hours=6)), D("1.0001") ** 1460 - 1)


def test_performance_report_of_the_small_series_gathers_every_figure() -> None:
    report = performance_report(SMALL, [], jan(1), jan(5))
    assert report.measured_from == jan(1)
    assert report.measured_to == jan(5)
    assert report.start_value_usd == D(100)
    assert report.end_value_usd == D("104.0094")
    assert report.net_flows_usd == 0
    assert report.pnl_usd == D("4.0094")
    assert report.time_weighted_return == D("0.040094")
    assert report.apy == annualise(D("0.040094"), timedelta(days=4))
    assert close_to(report.volatility, (D("0.365") / 3).sqrt())
    assert close_to(report.sharpe, D("109.5").sqrt())
    assert close_to(report.sortino, D(1460).sqrt())
    assert report.risk_free_rate == 0
    assert report.daily_return_count == 4
    assert report.max_drawdown.depth == D("0.01")
    assert report.trades.count == 0


# --- Flows are not performance -------------------------------------------------------------


@pytest.mark.parametrize(
    "series",
    [
        pytest.param(WITH_DEPOSIT, id="deposit"),
        pytest.param(WITH_WITHDRAWAL, id="withdrawal"),
    ],
)
def test_a_flow_mid_series_leaves_every_return_figure_as_without_it(
    series: list[EquityPoint],
) -> None:
    plain = performance_report(SMALL, [], jan(1), jan(5))
    flowed = performance_report(series, [], jan(1), jan(5))
    assert flowed.time_weighted_return == plain.time_weighted_return == D("0.040094")
    assert [r.value for r in daily_returns(series)] == SMALL_DAILY
    assert flowed.apy == plain.apy
    assert flowed.volatility == plain.volatility
    assert flowed.sharpe == plain.sharpe
    assert flowed.sortino == plain.sortino
    assert flowed.max_drawdown == plain.max_drawdown


def test_a_deposit_is_reported_as_a_flow_and_not_as_profit() -> None:
    report = performance_report(WITH_DEPOSIT, [], jan(1), jan(5))
    # Naively 155.5094 / 100 - 1 = 55.5 %; the deposit is 50 and the profit 5.5094.
    assert report.net_flows_usd == D(50)
    assert report.pnl_usd == D("155.5094") - 100 - 50 == D("5.5094")


def test_a_withdrawal_is_not_a_drawdown() -> None:
    series = [point(jan(1), 100), point(jan(2), 50, -50), point(jan(3), 50)]
    assert time_weighted_return(series) == 0
    drawdown = max_drawdown(series)
    assert drawdown == MaxDrawdown(depth=D(0), peak_at=jan(1), trough_at=jan(1))


def test_a_deposit_does_not_hide_a_loss() -> None:
    # 100 falls to 90 (-10 %), then 100 arrives: value 190 rises but growth = 90 / 100 = 0.9.
    series = [point(jan(1), 100), point(jan(2), 190, 100), point(jan(3), 190)]
    assert time_weighted_return(series) == D("-0.1")
    assert max_drawdown(series) == MaxDrawdown(depth=D("0.1"), peak_at=jan(1), trough_at=jan(2))


def test_the_flow_at_the_start_point_is_part_of_the_starting_value() -> None:
    series = [point(jan(1), 200, 100), point(jan(2), 220)]
    report = performance_report(series, [], jan(1), jan(2))
    assert report.time_weighted_return == D("0.1")
    assert report.net_flows_usd == 0
    assert report.pnl_usd == D(20)


# --- Irregular points and calendar days ----------------------------------------------------


def test_daily_returns_chain_intraday_points_exclude_flows_and_carry_gaps_forward() -> None:
    series = [
        point(jan(1, 0), 100),
        point(jan(1, 23), 100),  # Jan 1 close
        point(jan(2, 6), 105),  # +5 %
        point(jan(2, 12), 205, 100),  # deposit: growth (205 - 100) / 105 = 1
        point(jan(2, 23), "215.25"),  # 215.25 / 205 = 1.05 -> Jan 2 = 1.05 * 1 * 1.05 - 1
        point(jan(3, 0, 30), "215.25"),  # Jan 3 flat
        # no point on Jan 4: carried forward, 0
        point(jan(5, 9), "236.775"),  # 215.25 * 1.1: the move lands on Jan 5
    ]
    assert daily_returns(series) == (
        DailyReturn(day=date(2026, 1, 2), value=D("0.1025")),
        DailyReturn(day=date(2026, 1, 3), value=D(0)),
        DailyReturn(day=date(2026, 1, 4), value=D(0)),
        DailyReturn(day=date(2026, 1, 5), value=D("0.1")),
    )
    # The daily returns chain to the TWR from the first close: 1.1025 * 1.1 - 1 = 0.21275.
    assert time_weighted_return(series) == D("0.21275")


def test_calendar_days_are_utc_days_whatever_the_points_timezone() -> None:
    plus_two = timezone(timedelta(hours=2))
    series = [
        point(jan(1, 12), 100),
        # 01:00 on Jan 2 at UTC+2 is 23:00 on Jan 1 UTC: it closes Jan 1.
        point(datetime(2026, 1, 2, 1, tzinfo=plus_two), 110),
        point(jan(2, 12), 121),
    ]
    assert daily_returns(series) == (DailyReturn(day=date(2026, 1, 2), value=D("0.1")),)


def test_points_in_any_order_give_the_same_figures() -> None:
    shuffled = [SMALL[3], SMALL[0], SMALL[4], SMALL[2], SMALL[1]]
    assert performance_report(shuffled, [], jan(1), jan(5)) == performance_report(
        SMALL, [], jan(1), jan(5)
    )


# --- Windows -------------------------------------------------------------------------------

NOW = datetime(2026, 2, 1, 12, tzinfo=UTC)
WINDOWED = [
    point(datetime(2025, 12, 31, tzinfo=UTC), 80),
    point(datetime(2026, 1, 2, 12, tzinfo=UTC), 100),  # exactly 30 days before now
    point(datetime(2026, 1, 25, 11, tzinfo=UTC), 110),  # last point before now - 7 days
    point(datetime(2026, 1, 26, tzinfo=UTC), 120),
    point(datetime(2026, 1, 31, 12, tzinfo=UTC), 125),  # exactly 24 hours before now
    point(datetime(2026, 2, 1, 6, tzinfo=UTC), 130),
    point(NOW, "137.5"),
    point(datetime(2026, 2, 2, tzinfo=UTC), 999),  # after now: ignored
]


def test_standard_windows_measure_from_the_last_point_at_or_before_each_bound() -> None:
    # day 137.5 / 125 - 1 = 0.1; week 137.5 / 110 - 1 = 0.25; month 137.5 / 100 - 1 = 0.375
    assert standard_windows(WINDOWED, NOW) == StandardWindows(
        day=D("0.1"), week=D("0.25"), month=D("0.375")
    )


def test_standard_windows_are_none_where_history_is_too_short() -> None:
    recent = [p for p in WINDOWED if p.at >= datetime(2026, 1, 26, tzinfo=UTC)]
    assert standard_windows(recent, NOW) == StandardWindows(day=D("0.1"), week=None, month=None)
    assert standard_windows([], NOW) == StandardWindows(day=None, week=None, month=None)


def test_returns_over_any_range_use_the_last_points_at_or_before_the_bounds() -> None:
    start = datetime(2026, 1, 10, tzinfo=UTC)  # measured at Jan 2 12:00 (100)
    end = datetime(2026, 1, 28, tzinfo=UTC)  # measured at Jan 26 (120)
    assert returns_over(WINDOWED, start, end) == D("0.2")


def test_returns_over_an_empty_range_are_zero() -> None:
    assert returns_over(WINDOWED, NOW, NOW) == 0


def test_returns_over_a_range_starting_before_history_are_none() -> None:
    assert returns_over(WINDOWED, datetime(2025, 1, 1, tzinfo=UTC), NOW) is None


def test_a_range_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidValue, match="end"):
        returns_over(WINDOWED, NOW, NOW - timedelta(seconds=1))


def test_a_naive_bound_is_refused() -> None:
    with pytest.raises(NaiveDatetime):
        returns_over(WINDOWED, datetime(2026, 1, 1), NOW)  # noqa: DTZ001 - the naive input
    with pytest.raises(NaiveDatetime):
        standard_windows(WINDOWED, datetime(2026, 2, 1))  # noqa: DTZ001 - the naive input


# --- Boundaries: empty, single point, zero values -------------------------------------------


def test_an_empty_series_has_no_figures() -> None:
    assert time_weighted_return([]) is None
    assert max_drawdown([]) is None
    assert daily_returns([]) == ()


def test_a_single_point_has_zero_return_and_no_risk_figures() -> None:
    series = [point(jan(1, 8), 100)]
    assert time_weighted_return(series) == 0
    assert daily_returns(series) == ()
    assert max_drawdown(series) == MaxDrawdown(depth=D(0), peak_at=jan(1, 8), trough_at=jan(1, 8))
    report = performance_report(series, [], jan(1, 8), jan(3))
    assert report.time_weighted_return == 0
    assert report.apy is None  # no time elapsed between the points used
    assert report.volatility is None
    assert report.sharpe is None
    assert report.sortino is None
    assert report.daily_return_count == 0


def test_a_series_that_starts_from_zero_measures_from_the_first_money() -> None:
    # 0 -> 0 + 100 deposited (sub-period from zero skipped) -> 110: +10 %.
    series = [point(jan(1), 0), point(jan(2), 100, 100), point(jan(3), 110)]
    assert time_weighted_return(series) == D("0.1")
    assert max_drawdown(series) == MaxDrawdown(depth=D(0), peak_at=jan(1), trough_at=jan(1))


def test_a_total_loss_is_minus_one_and_never_recovers_even_after_new_money() -> None:
    series = [point(jan(1), 100), point(jan(2), 0), point(jan(3), 50, 50), point(jan(4), 60)]
    assert time_weighted_return(series) == -1
    assert max_drawdown(series) == MaxDrawdown(depth=D(1), peak_at=jan(1), trough_at=jan(2))
    report = performance_report(series, [], jan(1), jan(4))
    assert report.apy == -1
    assert report.max_drawdown.recovered_at is None


def test_an_unrecovered_drawdown_has_no_recovery_time() -> None:
    series = [point(jan(1), 100), point(jan(2), 80), point(jan(3), 90)]
    assert max_drawdown(series) == MaxDrawdown(depth=D("0.2"), peak_at=jan(1), trough_at=jan(2))


def test_the_deepest_of_several_drawdowns_is_reported_from_its_own_peak() -> None:
    # 100 -> 90 (-10 %) -> 120 (recovered, new peak) -> 84 (-30 %) -> 126 (recovered)
    series = [
        point(jan(1), 100),
        point(jan(2), 90),
        point(jan(3), 120),
        point(jan(4), 84),
        point(jan(5), 126),
    ]
    assert max_drawdown(series) == MaxDrawdown(
        depth=D("0.3"), peak_at=jan(3), trough_at=jan(4), recovered_at=jan(5)
    )


def test_flat_returns_have_zero_volatility_and_no_sharpe_or_sortino() -> None:
    flat = [D("0.001")] * 5
    assert annualised_volatility(flat) == 0
    assert sharpe_ratio(flat) is None
    assert sortino_ratio(flat) is None  # no day below the target


def test_fewer_than_two_daily_returns_give_no_risk_figures() -> None:
    assert annualised_volatility([D("0.01")]) is None
    assert sharpe_ratio([D("0.01")]) is None
    assert sortino_ratio([]) is None


def test_sortino_is_none_when_no_day_falls_below_the_risk_free_rate() -> None:
    assert sortino_ratio([D("0.01"), D("0.02")], D("0.05")) is None


def test_apy_beyond_the_decimal_range_is_none_even_without_the_overflow_trap() -> None:
    with localcontext() as context:
        context.traps[Overflow] = False
        assert annualise(D("0.1"), timedelta(seconds=1)) is None


def test_apy_of_an_instant_is_none() -> None:
    assert annualise(D("0.01"), timedelta(0)) is None


def test_apy_beyond_the_decimal_range_is_none() -> None:
    # 10 % in one second compounds 31,536,000 times: about 10 ** 1,305,000, past the range.
    assert annualise(D("0.1"), timedelta(seconds=1)) is None


@pytest.mark.parametrize(
    ("total_return", "elapsed", "field"),
    [
        pytest.param(D("-1.01"), timedelta(days=1), "total_return", id="loss-beyond-everything"),
        pytest.param(D("0.1"), timedelta(days=-1), "elapsed", id="negative-time"),
        pytest.param(D("NaN"), timedelta(days=1), "total_return", id="not-a-number"),
    ],
)
def test_apy_refuses_impossible_inputs(
    total_return: Decimal, elapsed: timedelta, field: str
) -> None:
    with pytest.raises(InvalidValue) as caught:
        annualise(total_return, elapsed)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "rate",
    [
        pytest.param(D(-1), id="minus-one"),
        pytest.param(D("-1.5"), id="below-minus-one"),
        pytest.param(0.05, id="float"),
        pytest.param(D("Infinity"), id="infinite"),
    ],
)
def test_an_impossible_risk_free_rate_is_refused(rate: Decimal) -> None:
    with pytest.raises(InvalidValue, match="risk_free_rate"):
        sharpe_ratio(SMALL_DAILY, rate)
    with pytest.raises(InvalidValue, match="risk_free_rate"):
        performance_report(SMALL, [], jan(1), jan(5), rate)


# --- Validation of the values ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        pytest.param({"at": datetime(2026, 1, 1)}, NaiveDatetime, "at", id="naive"),  # noqa: DTZ001
        pytest.param({"value_usd": D(-1)}, NegativeAmount, "value_usd", id="negative-value"),
        pytest.param({"value_usd": 100.0}, InvalidValue, "value_usd", id="float-value"),
        pytest.param({"value_usd": D("NaN")}, InvalidValue, "value_usd", id="nan-value"),
        pytest.param({"net_flow_usd": D("Inf")}, InvalidValue, "net_flow_usd", id="inf-flow"),
        pytest.param({"net_flow_usd": D(101)}, InvalidValue, "net_flow_usd", id="flow-gt-value"),
    ],
)
def test_an_impossible_equity_point_is_refused(
    kwargs: dict[str, object], error: type[InvalidValue], field: str
) -> None:
    values: dict[str, object] = {"at": jan(1), "value_usd": D(100), **kwargs}
    with pytest.raises(error) as caught:
        EquityPoint(**values)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_withdrawal_larger_than_what_remains_is_a_valid_point() -> None:
    # 100 withdrawn leaving 0: the value before the flow was 100.
    assert point(jan(1), 0, -100).value_usd == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"at": datetime(2026, 1, 1)}, "at", id="naive"),  # noqa: DTZ001
        pytest.param({"amount_usd": D(-1)}, "amount_usd", id="negative-amount"),
        pytest.param({"gas_usd": D("-0.01")}, "gas_usd", id="negative-gas"),
        pytest.param({"slippage_usd": 1.5}, "slippage_usd", id="float-slippage"),
    ],
)
def test_an_impossible_trade_record_is_refused(kwargs: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "at": jan(1),
        "amount_usd": D(1000),
        "gas_usd": D(2),
        "slippage_usd": D(1),
        "succeeded": True,
        **kwargs,
    }
    with pytest.raises(InvalidValue) as caught:
        TradeRecord(**values)  # type: ignore[arg-type]
    assert caught.value.field == field


def _stats(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "count": 2,
        "succeeded": 1,
        "failed": 1,
        "volume_usd": D(100),
        "gas_usd": D(2),
        "slippage_usd": D(1),
        "total_cost_usd": D(3),
        "average_cost_bps": D(300),
    }
    return {**values, **changes}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"count": 3}, "count", id="count-not-sum"),
        pytest.param({"succeeded": -1, "failed": 3}, "count", id="negative-count"),
        pytest.param({"volume_usd": D(-1)}, "volume_usd", id="negative-volume"),
        pytest.param({"gas_usd": D(-1), "total_cost_usd": D(0)}, "gas_usd", id="negative-gas"),
        pytest.param({"total_cost_usd": D(4)}, "total_cost_usd", id="cost-not-sum"),
    ],
)
def test_inconsistent_trade_statistics_are_refused(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        TradeStatistics(**_stats(**changes))  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"depth": D("1.1")}, "depth", id="deeper-than-everything"),
        pytest.param({"depth": D("-0.1")}, "depth", id="negative-depth"),
        pytest.param({"trough_at": jan(1)}, "trough_at", id="trough-before-peak"),
        pytest.param({"recovered_at": jan(3)}, "recovered_at", id="recovered-at-trough"),
        pytest.param({"recovered_at": datetime(2026, 1, 5)}, "recovered_at", id="naive"),  # noqa: DTZ001
    ],
)
def test_an_impossible_drawdown_is_refused(changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"depth": D("0.1"), "peak_at": jan(2), "trough_at": jan(3)}
    with pytest.raises(InvalidValue) as caught:
        MaxDrawdown(**{**values, **changes})  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"end": jan(1) - timedelta(days=1)}, "end", id="end-before-start"),
        pytest.param({"measured_to": jan(1) - timedelta(days=1)}, "measured_to", id="measured"),
        pytest.param({"start": datetime(2026, 1, 1)}, "start", id="naive"),  # noqa: DTZ001
        pytest.param({"start_value_usd": D(-1)}, "start_value_usd", id="negative-start"),
        pytest.param({"end_value_usd": D(-1)}, "end_value_usd", id="negative-end"),
        pytest.param({"time_weighted_return": D(-2)}, "time_weighted_return", id="twr"),
        pytest.param({"risk_free_rate": D(-1)}, "risk_free_rate", id="rf"),
        pytest.param({"daily_return_count": -1}, "daily_return_count", id="count"),
    ],
)
def test_an_inconsistent_report_is_refused(changes: dict[str, object], field: str) -> None:
    report = performance_report(SMALL, [], jan(1), jan(5))
    values = {name: getattr(report, name) for name in PerformanceReport.__slots__}
    with pytest.raises(InvalidValue) as caught:
        PerformanceReport(**{**values, **changes})
    assert caught.value.field == field


# --- Trades ---------------------------------------------------------------------------------

TRADES = [
    TradeRecord(at=jan(2), amount_usd=D(10_000), gas_usd=D(5), slippage_usd=D(10), succeeded=True),
    TradeRecord(at=jan(3), amount_usd=D(20_000), gas_usd=D(7), slippage_usd=D(-2), succeeded=True),
    TradeRecord(at=jan(4), amount_usd=D(5_000), gas_usd=D(3), slippage_usd=D(0), succeeded=False),
]


def test_trade_statistics_count_volume_of_fills_and_costs_of_every_trade() -> None:
    # volume = 10,000 + 20,000 (the reverted 5,000 moved nothing) = 30,000
    # gas = 5 + 7 + 3 = 15 (the reverted trade still paid); slippage = 10 - 2 + 0 = 8
    # cost = 23; 23 / 30,000 * 10,000 = 7.666… bps
    stats = trade_statistics(TRADES)
    assert (stats.count, stats.succeeded, stats.failed) == (3, 2, 1)
    assert stats.volume_usd == D(30_000)
    assert stats.gas_usd == D(15)
    assert stats.slippage_usd == D(8)
    assert stats.total_cost_usd == D(23)
    assert close_to(stats.average_cost_bps, D(23) / 3)


def test_trade_statistics_without_volume_have_no_average_cost() -> None:
    assert trade_statistics([]).average_cost_bps is None
    failed_only = trade_statistics(TRADES[2:])
    assert (failed_only.count, failed_only.volume_usd, failed_only.total_cost_usd) == (
        1,
        D(0),
        D(3),
    )
    assert failed_only.average_cost_bps is None


def test_a_report_counts_trades_after_its_start_up_to_its_end() -> None:
    # The trade exactly at the start (Jan 2) is already in the starting value.
    report = performance_report(SMALL, TRADES, jan(2), jan(4))
    assert (report.trades.count, report.trades.volume_usd) == (2, D(20_000))


# --- Report ranges --------------------------------------------------------------------------


def test_a_report_measures_each_bound_at_the_last_point_at_or_before_it() -> None:
    report = performance_report(SMALL, [], jan(2, 18), jan(4, 6))
    # From Jan 2 (102) to Jan 4 (104.0094): 0.99 * 1.03 - 1 = 0.0197 over two days.
    assert (report.measured_from, report.measured_to) == (jan(2), jan(4))
    assert report.time_weighted_return == D("0.0197")
    assert report.apy == annualise(D("0.0197"), timedelta(days=2))
    assert report.daily_return_count == 2


def test_a_report_before_the_history_begins_names_the_earliest_point() -> None:
    with pytest.raises(InsufficientHistory) as caught:
        performance_report(SMALL[1:], [], jan(1), jan(5))
    assert (caught.value.start, caught.value.earliest) == (jan(1), jan(2))
    assert "history begins at 2026-01-02" in str(caught.value)
    assert isinstance(caught.value, DomainError)


def test_a_report_without_history_says_so() -> None:
    with pytest.raises(InsufficientHistory, match="there is no history") as caught:
        performance_report([], [], jan(1), jan(5))
    assert caught.value.earliest is None


# --- Properties -----------------------------------------------------------------------------

growths = st.decimals(min_value="-0.5", max_value="0.5", places=4)
flow_fractions = st.decimals(min_value="-0.9", max_value="2", places=2)
gaps_in_hours = st.integers(min_value=1, max_value=72)
start_values = st.decimals(min_value=1, max_value=1_000_000, places=2)


@st.composite
def equity_series(draw: st.DrawFn, max_size: int = 12) -> tuple[list[EquityPoint], list[Decimal]]:
    """A series built from drawn returns and flows, and the returns it was built from.

    Each step grows the previous value by r, then adds a flow of f times that grown value.
    """
    returns = draw(st.lists(growths, min_size=1, max_size=max_size))
    value = draw(start_values)
    at = jan(1)
    points = [EquityPoint(at=at, value_usd=value)]
    for r in returns:
        at += timedelta(hours=draw(gaps_in_hours))
        grown = value * (1 + r)
        flow = grown * draw(flow_fractions) if draw(st.booleans()) else D(0)
        value = grown + flow
        points.append(EquityPoint(at=at, value_usd=value, net_flow_usd=flow))
    return points, returns


def _product(returns: list[Decimal]) -> Decimal:
    result = D(1)
    for r in returns:
        result *= 1 + r
    return result


@settings(max_examples=200, deadline=None)
@given(equity_series())
def test_flows_never_change_the_time_weighted_return(
    drawn: tuple[list[EquityPoint], list[Decimal]],
) -> None:
    points, returns = drawn
    twr = time_weighted_return(points)
    assert twr is not None
    assert abs(twr - (_product(returns) - 1)) < D("1e-18")


@settings(max_examples=200, deadline=None)
@given(equity_series(), st.decimals(min_value="0.01", max_value=1000, places=2))
def test_scaling_a_series_by_a_constant_changes_no_return_figure(
    drawn: tuple[list[EquityPoint], list[Decimal]], factor: Decimal
) -> None:
    points, _ = drawn
    scaled = [
        EquityPoint(at=p.at, value_usd=p.value_usd * factor, net_flow_usd=p.net_flow_usd * factor)
        for p in points
    ]
    assert abs(time_weighted_return(scaled) - time_weighted_return(points)) < D("1e-18")  # type: ignore[operator]
    for ours, theirs in zip(daily_returns(scaled), daily_returns(points), strict=True):
        assert ours.day == theirs.day
        assert abs(ours.value - theirs.value) < D("1e-18")
    ours_dd, theirs_dd = max_drawdown(scaled), max_drawdown(points)
    assert ours_dd is not None
    assert theirs_dd is not None
    assert abs(ours_dd.depth - theirs_dd.depth) < D("1e-18")


@settings(max_examples=200, deadline=None)
@given(equity_series())
def test_drawdown_lies_between_zero_and_one_with_peak_before_trough_before_recovery(
    drawn: tuple[list[EquityPoint], list[Decimal]],
) -> None:
    points, returns = drawn
    drawdown = max_drawdown(points)
    assert drawdown is not None
    assert 0 <= drawdown.depth <= 1
    assert drawdown.peak_at <= drawdown.trough_at
    if drawdown.recovered_at is not None:
        assert drawdown.trough_at < drawdown.recovered_at
    # It equals the brute-force worst fall over every pair of points (peak first).
    index = [_product(returns[:k]) for k in range(len(returns) + 1)]
    worst = max(
        (1 - index[j] / index[i] for i in range(len(index)) for j in range(i, len(index))),
        default=D(0),
    )
    assert abs(drawdown.depth - worst) < D("1e-18")


@settings(max_examples=200, deadline=None)
@given(equity_series(max_size=30))
def test_daily_returns_chain_to_the_return_between_the_first_and_last_close(
    drawn: tuple[list[EquityPoint], list[Decimal]],
) -> None:
    points, _ = drawn
    first_day = points[0].at.date()
    first_close = max(p.at for p in points if p.at.date() == first_day)
    expected = returns_over(points, first_close, points[-1].at)
    daily = daily_returns(points)
    assert expected is not None
    assert abs(_product([d.value for d in daily]) - 1 - expected) < D("1e-18")
    days = [d.day for d in daily]
    assert days == [first_day + timedelta(days=i) for i in range(1, len(days) + 1)]


@settings(max_examples=200, deadline=None)
@given(equity_series(), st.data())
def test_returns_over_consecutive_ranges_compound_to_the_whole(
    drawn: tuple[list[EquityPoint], list[Decimal]], data: st.DataObject
) -> None:
    points, _ = drawn
    a, b, c = sorted(
        data.draw(st.lists(st.sampled_from(points), min_size=3, max_size=3)), key=lambda p: p.at
    )
    first = returns_over(points, a.at, b.at)
    second = returns_over(points, b.at, c.at)
    whole = returns_over(points, a.at, c.at)
    assert first is not None
    assert second is not None
    assert whole is not None
    assert abs((1 + first) * (1 + second) - (1 + whole)) < D("1e-18")


def test_the_report_is_the_same_under_a_78_digit_ambient_context_as_under_the_default() -> None:
    # Importing vyper sets 78 digits for the whole process; the figures must not follow it.
    plain = performance_report(SMALL, (), jan(1), jan(5), D("0.065"))
    with localcontext() as ambient:
        ambient.prec = 78
        wide = performance_report(SMALL, (), jan(1), jan(5), D("0.065"))
    assert wide == plain
    assert plain.apy is not None
    assert len(plain.apy.as_tuple().digits) <= 28


def test_risk_adjusted_gives_sharpe_and_sortino_at_the_rate_it_is_asked_for() -> None:
    daily = [r.value for r in daily_returns(SMALL)]

    at_static = risk_adjusted(SMALL, D("0.065"))

    assert at_static.risk_free_rate == D("0.065")
    assert at_static.sharpe == sharpe_ratio(daily, D("0.065"))
    assert at_static.sortino == sortino_ratio(daily, D("0.065"))
    assert risk_adjusted(SMALL, D(0)).sharpe == sharpe_ratio(daily)
