"""How a decision turned out: the treasury's return over a horizon against holding the
allocation it had before the decision (the learning loop's measure).

    portfolio_return = prod((V_i - F_i) / V_{i-1}) - 1      over the value series
    hold_return      = sum over buckets of w_prev(b) x r(b)
    r(tactical)      = sum over tactical assets of weight(a) x (P_end(a) / P_start(a) - 1)
    r(base_yield)    = base-yield APY x days / 365            (simple interest)
    r(cash)          = 0                                      (stablecoins at par)

`F_i` is external money (deposit +, withdrawal -) that arrived at point i and is already in
`V_i`, so flows never count as performance. The excess return (portfolio minus hold) is what
the decision added. Nothing here rounds; round for display at the edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise

from domain.allocation import Bucket, TargetAllocations, weights_sum_to_one
from domain.errors import DomainError, InvalidValue
from domain.money import ONE, ZERO, require_aware, require_non_negative
from domain.portfolio import PortfolioState

DAYS_PER_YEAR = Decimal(365)


class OutcomeNotMeasurable(DomainError):
    """The history around a decision is too thin to measure how it turned out."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"outcome not measurable: {reason}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ValuePoint:
    """The treasury's value at one moment, with the external money that arrived then."""

    at: datetime
    value_usd: Decimal
    net_flow_usd: Decimal = ZERO

    def __post_init__(self) -> None:
        require_aware(self.at, "at")
        require_non_negative(self.value_usd, "value_usd")


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketReturns:
    """Each bucket's return over the horizon, as fractions (0.02 is 2 %)."""

    base_yield: Decimal
    tactical: Decimal
    cash: Decimal = ZERO

    def of(self, bucket: Bucket) -> Decimal:
        """The return of one bucket."""
        value: Decimal = getattr(self, bucket.value)
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeMeasurement:
    """The portfolio's return beside what holding the previous allocation would have returned."""

    portfolio_return: Decimal
    hold_return: Decimal

    @property
    def excess_return(self) -> Decimal:
        """Portfolio return minus the hold return."""
        return self.portfolio_return - self.hold_return


def series_return(points: Sequence[ValuePoint]) -> Decimal:
    """Chained return of a value series in time order, with flows taken out.

    Raises:
        OutcomeNotMeasurable: fewer than two points, or the series starts from zero.
    """
    ordered = sorted(points, key=lambda p: p.at)
    if len(ordered) < 2:
        raise OutcomeNotMeasurable("fewer than two portfolio values over the horizon")
    growth = ONE
    for previous, point in pairwise(ordered):
        if previous.value_usd == 0:
            raise OutcomeNotMeasurable(f"the portfolio was worth $0 at {previous.at.isoformat()}")
        growth *= (point.value_usd - point.net_flow_usd) / previous.value_usd
    return growth - ONE


def tactical_return(
    start_prices: Mapping[str, Decimal],
    end_prices: Mapping[str, Decimal],
    weights: Mapping[str, Decimal],
) -> Decimal:
    """Return of the tactical sleeve held at fixed weights between two price sets.

    Raises:
        AllocationsDoNotSumToOne: the weights do not sum to 1.
        OutcomeNotMeasurable: a weighted asset has no positive price at either end.
    """
    weights_sum_to_one(weights.values())
    total = ZERO
    for asset, weight in weights.items():
        start, end = start_prices.get(asset), end_prices.get(asset)
        if start is None or end is None or start <= 0 or end <= 0:
            raise OutcomeNotMeasurable(f"no {asset} price at the start or end of the horizon")
        total += weight * (end / start - ONE)
    return total


def base_yield_return(apy: Decimal, days: int) -> Decimal:
    """Simple interest earned at `apy` over `days`.

    Raises:
        InvalidValue: days is negative or the APY is below -100 %.
    """
    if days < 0:
        raise InvalidValue("days", days, "must not be negative")
    if apy < -ONE:
        raise InvalidValue("apy", apy, "cannot be below -100 %")
    return apy * Decimal(days) / DAYS_PER_YEAR


def base_yield_apy(portfolio: PortfolioState) -> Decimal:
    """Value-weighted APY of the base-yield positions (zero when there are none)."""
    base = [p for p in portfolio.positions if p.bucket is Bucket.BASE_YIELD and p.value_usd > 0]
    value = sum((p.value_usd for p in base), ZERO)
    if value == 0:
        return ZERO
    return sum((p.value_usd * p.apy for p in base), ZERO) / value


def allocation_return(allocations: TargetAllocations, returns: BucketReturns) -> Decimal:
    """Return of a portfolio held at `allocations` when each bucket returns `returns`."""
    return sum((allocations.of(b) * returns.of(b) for b in Bucket), ZERO)


def measure_outcome(
    *,
    values: Sequence[ValuePoint],
    previous: TargetAllocations,
    start_prices: Mapping[str, Decimal],
    end_prices: Mapping[str, Decimal],
    tactical_weights: Mapping[str, Decimal],
    base_apy: Decimal,
    horizon_days: int,
) -> OutcomeMeasurement:
    """The portfolio's return over the horizon against holding `previous` (see module doc).

    Raises:
        OutcomeNotMeasurable: too few values, a zero value, or a missing price.
        AllocationsDoNotSumToOne: the tactical weights do not sum to 1.
    """
    returns = BucketReturns(
        base_yield=base_yield_return(base_apy, horizon_days),
        tactical=tactical_return(start_prices, end_prices, tactical_weights),
    )
    return OutcomeMeasurement(
        portfolio_return=series_return(values),
        hold_return=allocation_return(previous, returns),
    )
