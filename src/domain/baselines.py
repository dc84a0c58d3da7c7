"""What the treasury's equity curve is measured against: a static yield and holding BTC.

Each baseline starts with the treasury's first value and receives the same outside money at
the same moments (deposit +, withdrawal -), so the comparison is like for like:

    static yield:  B_0 = V_0,  B_i = B_{i-1} x (1 + rate) ** (days_i / 365) + F_i
    buy and hold:  B_0 = V_0,  B_i = B_{i-1} x P_i / P_{i-1} + F_i

where `days_i` is the (fractional) time since the previous point and `P_i` the asset's price at
point i: the last observation at or before it. Without flows these are
V_0 x (1 + rate) ** (t / 365 days) and V_0 x P_t / P_0. A withdrawal larger than what the
baseline holds empties it (it never goes below zero). The chains run with guard digits and each
value is rounded once to `domain.precision.MATHS_CONTEXT`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from itertools import pairwise

from domain.errors import InvalidValue
from domain.money import ONE, ZERO, require_aware
from domain.performance import DAYS_PER_YEAR, EquityPoint
from domain.precision import in_maths_context

STATIC_YIELD_APY = Decimal("0.065")
"""The spec's static yield: 6.5 % a year."""

_GUARD_DIGITS = 12
_MICROSECONDS_PER_DAY = Decimal(86_400_000_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class PricePoint:
    """An asset's USD price observed at one moment."""

    at: datetime
    price: Decimal

    def __post_init__(self) -> None:
        require_aware(self.at, "at")
        if not isinstance(self.price, Decimal) or not self.price.is_finite() or self.price <= 0:
            raise InvalidValue("price", self.price, "must be a positive, finite Decimal")


def _days(elapsed: timedelta) -> Decimal:
    microseconds = (elapsed.days * 86_400 + elapsed.seconds) * 1_000_000 + elapsed.microseconds
    return Decimal(microseconds) / _MICROSECONDS_PER_DAY


def _ordered(series: Iterable[EquityPoint]) -> list[EquityPoint]:
    return sorted(series, key=lambda point: point.at)


def _follow(points: Sequence[EquityPoint], growth: Sequence[Decimal]) -> tuple[EquityPoint, ...]:
    """The baseline that starts at the first value, grows by `growth[i - 1]` into point i and
    receives each point's flow there."""
    with localcontext() as extended:
        extended.prec += _GUARD_DIGITS
        values = [points[0].value_usd]
        for factor, point in zip(growth, points[1:], strict=True):
            values.append(max(ZERO, values[-1] * factor + point.net_flow_usd))
    first = EquityPoint(at=points[0].at, value_usd=+values[0])
    return (
        first,
        *(
            EquityPoint(at=point.at, value_usd=+value, net_flow_usd=point.net_flow_usd)
            for value, point in zip(values[1:], points[1:], strict=True)
        ),
    )


@in_maths_context
def static_yield_curve(
    series: Iterable[EquityPoint], annual_rate: Decimal = STATIC_YIELD_APY
) -> tuple[EquityPoint, ...]:
    """The treasury's first value earning `annual_rate` a year, compounding continuously
    between points, with the treasury's flows, at every point of `series` (time order).

    Raises:
        InvalidValue: the rate is not a finite Decimal above -1.
    """
    if not isinstance(annual_rate, Decimal) or not annual_rate.is_finite():
        raise InvalidValue("annual_rate", annual_rate, "must be a finite Decimal")
    if annual_rate <= -ONE:
        raise InvalidValue("annual_rate", annual_rate, "must be above -1")
    points = _ordered(series)
    if not points:
        return ()
    with localcontext() as extended:
        extended.prec += _GUARD_DIGITS
        base = ONE + annual_rate
        growth = [
            base ** (_days(later.at - earlier.at) / DAYS_PER_YEAR)
            for earlier, later in pairwise(points)
        ]
    return _follow(points, growth)


@in_maths_context
def buy_and_hold_curve(
    series: Iterable[EquityPoint], prices: Iterable[PricePoint]
) -> tuple[EquityPoint, ...] | None:
    """The treasury's first value (and its flows) held in one asset, at every point of `series`.

    Each point is priced at the last observation at or before it.

    Returns:
        The curve in time order (empty for an empty series), or None when no price was
        observed at or before the first point, so the baseline has no starting price.
    """
    points = _ordered(series)
    if not points:
        return ()
    observed = sorted(prices, key=lambda p: p.at)
    at_point: list[Decimal] = []
    for point in points:
        index = bisect_right(observed, point.at, key=lambda p: p.at) - 1
        if index < 0:
            return None
        at_point.append(observed[index].price)
    with localcontext() as extended:
        extended.prec += _GUARD_DIGITS
        growth = [later / earlier for earlier, later in pairwise(at_point)]
    return _follow(points, growth)
