"""The spec's claims are judged over six-month windows, the spec's own horizon, and honestly."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from application.backtest import (
    MultipleWindows,
    SixMonthWindows,
    judge_claims,
    multiple_of_static_windows,
    six_month_windows,
)
from domain.precision import MATHS_CONTEXT

D = Decimal
# The figures are computed in the maths context whatever the ambient one (vyper sets 78 digits).
ONE_THIRD = MATHS_CONTEXT.divide(D(1), D(3))
TWO_THIRDS = MATHS_CONTEXT.divide(D(2), D(3))
START = date(2024, 1, 1)
DAYS = [START + timedelta(days=i) for i in range(185)]


def _curve(ends: dict[int, str]) -> list[Decimal]:
    """$100 every day except the given days (182 days after windows starting on days 0-2)."""
    values = [D(100)] * len(DAYS)
    for day, value in ends.items():
        values[day] = D(value)
    return values


def test_24_to_44_percent_counts_windows_inside_that_range_not_at_or_above_24_percent() -> None:
    # Windows from day 0, 1 and 2 return 30 %, 60 % and 10 %.
    windows = six_month_windows(DAYS, _curve({182: "130", 183: "160", 184: "110"}))

    assert windows.count == 3
    assert windows.share_in_spec_range == ONE_THIRD
    assert windows.share_above_spec_range == ONE_THIRD


def test_the_multiple_of_static_yield_is_measured_window_by_window() -> None:
    # The static yield earns 1 % in each window; the strategy 2.5 %, 5 % and 0.5 %.
    static = _curve({182: "101", 183: "101", 184: "101"})
    strategy = _curve({182: "102.5", 183: "105", 184: "100.5"})

    windows = multiple_of_static_windows(DAYS, strategy, static)

    assert windows.count == 3
    assert windows.share_in_claimed_range == ONE_THIRD
    assert windows.share_at_least_low == TWO_THIRDS
    assert windows.share_below_static == ONE_THIRD


def _six(share_in_range: str) -> SixMonthWindows:
    return SixMonthWindows(
        count=100,
        best=D("0.5"),
        worst=D("-0.1"),
        median=D("0.30"),
        share_in_spec_range=D(share_in_range),
        share_above_spec_range=D("0.1"),
    )


def _multiple(share_in_range: str) -> MultipleWindows:
    return MultipleWindows(
        count=100,
        share_in_claimed_range=D(share_in_range),
        share_at_least_low=D("0.50"),
        share_below_static=D("0.38"),
    )


@pytest.mark.parametrize(
    ("full_period", "share_in_range", "held"),
    [
        pytest.param("4.96", "0.18", False, id="full-period-above-but-few-windows-in-range"),
        pytest.param("2.5", "0.30", False, id="full-period-in-range-but-few-windows"),
        pytest.param("2.5", "0.50", True, id="half-the-windows-in-range"),
    ],
)
def test_the_multiple_claim_holds_only_when_half_the_six_month_windows_are_in_2_to_3x(
    full_period: str, share_in_range: str, held: bool
) -> None:
    verdict = judge_claims(_six("0.2"), _multiple(share_in_range), D(full_period))

    assert verdict.multiple_claim_held is held
    assert verdict.apy_multiple_of_static == D(full_period)
    assert verdict.full_period_multiple_in_range is (D(2) <= D(full_period) <= D(3))


@pytest.mark.parametrize(
    ("share_in_range", "held"),
    [pytest.param("0.49", False, id="under-half"), pytest.param("0.5", True, id="half")],
)
def test_the_six_month_claim_holds_only_when_half_the_windows_are_inside_24_to_44_percent(
    share_in_range: str, held: bool
) -> None:
    verdict = judge_claims(_six(share_in_range), _multiple("0.5"), D(3))

    assert verdict.six_month_claim_held is held
