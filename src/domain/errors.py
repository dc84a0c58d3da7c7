"""Typed domain errors. Each is named as a fact and carries the values that explain it."""

from __future__ import annotations

from decimal import Decimal


class DomainError(Exception):
    """Base class of every error the domain raises."""


class InvalidValue(DomainError, ValueError):
    """A value is outside what the model accepts."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r} is invalid: {reason}")


class NegativeAmount(InvalidValue):
    """An amount, price or value that must not be negative is negative."""

    def __init__(self, field: str, value: object) -> None:
        super().__init__(field, value, "must not be negative")


class FractionOutOfRange(InvalidValue):
    """A fraction is outside [0, 1]."""

    def __init__(self, field: str, value: object) -> None:
        super().__init__(field, value, "must be between 0 and 1")


class FearGreedOutOfRange(InvalidValue):
    """A Fear & Greed index outside 0..100."""

    def __init__(self, value: object) -> None:
        super().__init__("fear_greed_index", value, "must be an integer from 0 to 100")


class AllocationsDoNotSumToOne(InvalidValue):
    """Target or current allocations do not add up to 1 within tolerance."""

    def __init__(self, total: Decimal, tolerance: Decimal) -> None:
        self.total = total
        self.tolerance = tolerance
        super().__init__(
            "allocations", total, f"must sum to 1 within {tolerance} (they sum to {total})"
        )


class NaiveDatetime(InvalidValue):
    """A datetime without a timezone; the domain only accepts timezone-aware UTC times."""

    def __init__(self, field: str, value: object) -> None:
        super().__init__(field, value, "must be timezone-aware")


class CurrencyMismatch(DomainError):
    """Two money or quantity values of different assets were combined."""

    def __init__(self, left: str, right: str) -> None:
        self.left = left
        self.right = right
        super().__init__(f"cannot combine {left} with {right}")


class DecisionNotPending(DomainError):
    """A decision was asked to change in a way its current status does not allow."""

    def __init__(self, decision_id: str, status: str, wanted: str) -> None:
        self.decision_id = decision_id
        self.status = status
        self.wanted = wanted
        super().__init__(f"decision {decision_id} is {status}; it cannot become {wanted}")


class DecisionExpired(DecisionNotPending):
    """A decision's approval window has passed."""

    def __init__(self, decision_id: str) -> None:
        super().__init__(decision_id, "expired", "approved")


class LimitBreached(DomainError):
    """A hard safety limit would be broken."""

    def __init__(self, rule: str, limit: Decimal, actual: Decimal) -> None:
        self.rule = rule
        self.limit = limit
        self.actual = actual
        super().__init__(f"{rule}: {actual} exceeds the limit {limit}")


class PlanInfeasible(DomainError):
    """No plan can reach the requested targets with the holdings available."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
