"""Buckets, target allocations, and the allocation calculator (current, drift, rebalance due)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from domain.errors import AllocationsDoNotSumToOne, InvalidValue
from domain.money import ONE, ZERO, require_fraction, to_decimal

SUM_TOLERANCE = Decimal("0.000001")


class Bucket(StrEnum):
    """Where money sits: stable yield protocols, volatile tactical assets, or idle stablecoins."""

    BASE_YIELD = "base_yield"
    TACTICAL = "tactical"
    CASH = "cash"


@dataclass(frozen=True, slots=True)
class TargetAllocations:
    """Fractions of the treasury per bucket, each in [0, 1], summing to 1 within 1e-6."""

    base_yield: Decimal
    tactical: Decimal
    cash: Decimal

    def __post_init__(self) -> None:
        for bucket in Bucket:
            value = to_decimal(getattr(self, bucket.value), bucket.value)
            object.__setattr__(self, bucket.value, value)
            require_fraction(value, bucket.value)
        total = self.base_yield + self.tactical + self.cash
        if abs(total - ONE) > SUM_TOLERANCE:
            raise AllocationsDoNotSumToOne(total, SUM_TOLERANCE)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Decimal]) -> TargetAllocations:
        """Build from a mapping keyed by bucket name; `base` is accepted for `base_yield`.

        Raises:
            InvalidValue: an unknown bucket name, or a missing one.
            AllocationsDoNotSumToOne: the fractions do not sum to 1.
        """
        names = {("base_yield" if k == "base" else k): v for k, v in values.items()}
        unknown = set(names) - {b.value for b in Bucket}
        if unknown:
            raise InvalidValue("allocations", sorted(unknown), "unknown bucket")
        missing = {b.value for b in Bucket} - set(names)
        if missing:
            raise InvalidValue("allocations", sorted(missing), "missing bucket")
        return cls(
            base_yield=to_decimal(names["base_yield"], "base_yield"),
            tactical=to_decimal(names["tactical"], "tactical"),
            cash=to_decimal(names["cash"], "cash"),
        )

    def of(self, bucket: Bucket) -> Decimal:
        """The fraction for one bucket."""
        value: Decimal = getattr(self, bucket.value)
        return value

    def as_dict(self) -> dict[str, Decimal]:
        """Plain dict keyed by bucket name."""
        return {b.value: self.of(b) for b in Bucket}


@dataclass(frozen=True, slots=True, kw_only=True)
class Drift:
    """Current versus target share of each bucket."""

    current: Mapping[Bucket, Decimal]
    target: TargetAllocations

    def __post_init__(self) -> None:
        object.__setattr__(self, "current", MappingProxyType(dict(self.current)))

    def of(self, bucket: Bucket) -> Decimal:
        """Signed drift of one bucket: current minus target."""
        return self.current.get(bucket, ZERO) - self.target.of(bucket)

    def max_abs(self) -> Decimal:
        """The largest absolute drift across buckets."""
        return max(abs(self.of(b)) for b in Bucket)


def shares(values_usd: Mapping[Bucket, Decimal]) -> dict[Bucket, Decimal]:
    """Each bucket's share of the total; all zero when the total is zero."""
    total = sum(values_usd.values(), ZERO)
    if total <= 0:
        return {b: ZERO for b in Bucket}
    return {b: values_usd.get(b, ZERO) / total for b in Bucket}


def rebalance_due(
    drift: Drift,
    band: Decimal = Decimal("0.05"),
    threshold_crossed: bool = False,
) -> bool:
    """A rebalance is due when any bucket drifts more than `band`, or a threshold was crossed."""
    if band < 0:
        raise InvalidValue("band", band, "must not be negative")
    return threshold_crossed or drift.max_abs() > band


def weights_sum_to_one(weights: Iterable[Decimal]) -> None:
    """Check a set of split weights sums to 1.

    Raises:
        AllocationsDoNotSumToOne: they do not.
    """
    total = sum(weights, ZERO)
    if abs(total - ONE) > SUM_TOLERANCE:
        raise AllocationsDoNotSumToOne(total, SUM_TOLERANCE)
