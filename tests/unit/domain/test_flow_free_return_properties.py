"""`flow_free_return` is the time-weighted return of two flow-free points, to the last digit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from domain.performance import EquityPoint, flow_free_return, time_weighted_return

values = st.decimals(min_value=0, max_value=Decimal("1e15"), allow_nan=False, places=6)
START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2020, 7, 1, tzinfo=UTC)


@given(start=values, end=values)
def test_flow_free_return_equals_the_time_weighted_return_of_the_two_points(
    start: Decimal, end: Decimal
) -> None:
    points = [EquityPoint(at=START, value_usd=start), EquityPoint(at=END, value_usd=end)]
    assert flow_free_return(start, end) == time_weighted_return(points)
    assert str(flow_free_return(start, end)) == str(time_weighted_return(points))
