"""The 24 h, 7 d and 30 d returns measure what they say, or nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain.performance import EquityPoint, standard_windows

NOW = datetime(2026, 2, 1, 12, tzinfo=UTC)


def _at(delta: timedelta, value: str) -> EquityPoint:
    return EquityPoint(at=NOW - delta, value_usd=Decimal(value))


def test_the_24h_return_is_not_measured_over_nine_days_when_snapshots_are_sparse() -> None:
    sparse = [_at(timedelta(days=9), "100"), _at(timedelta(0), "130")]
    windows = standard_windows(sparse, NOW)
    assert windows.day is None
    assert windows.week is None
    assert windows.month is None


def test_a_snapshot_shortly_before_the_start_still_measures_the_window() -> None:
    near = [
        _at(timedelta(hours=25), "100"),
        _at(timedelta(days=7, hours=6), "80"),
        _at(timedelta(0), "110"),
    ]
    windows = standard_windows(near, NOW)
    assert windows.day == Decimal("0.1")
    assert windows.week == Decimal("0.375")
