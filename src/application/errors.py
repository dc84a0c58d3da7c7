"""Errors raised across ports. Adapters translate outside failures into these, once.

`TransientError` means a retry may succeed (timeouts, 5xx, 429); `PermanentError` means stop
and alert an operator (bad credentials, malformed data, a contract that reverts).
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class ApplicationError(Exception):
    """Base class of errors raised by use cases and ports."""


class TransientError(ApplicationError):
    """A failure that a retry may fix."""


class PermanentError(ApplicationError):
    """A failure that needs an operator."""


class NotFound(PermanentError):
    """The thing asked for does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")


def require_found(found: T | None, kind: str, key: str) -> T:
    """`found`, which a lookup of the `kind` named `key` returned.

    Raises:
        NotFound: the lookup found nothing (None).
    """
    if found is None:
        raise NotFound(kind, key)
    return found


class ConcurrencyConflict(PermanentError):
    """Another writer changed the same record first."""

    def __init__(self, kind: str, key: str, detail: str = "changed by another writer") -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} {detail}")

    @classmethod
    def stale_version(
        cls, kind: str, key: str, stored_version: int, read_version: int
    ) -> ConcurrencyConflict:
        """The record is at `stored_version`, but the change was made from `read_version`."""
        return cls(
            kind,
            key,
            f"is at version {stored_version}; this change was made from version {read_version}",
        )


class MarketDataUnavailable(TransientError):
    """A market data source could not be read."""

    def __init__(self, source: str, reason: str, *, permanent: bool = False) -> None:
        self.source = source
        self.reason = reason
        self.permanent = permanent
        super().__init__(f"{source}: {reason}")


class AdvisorUnavailable(TransientError):
    """The advisor could not produce a decision."""

    def __init__(self, advisor: str, reason: str) -> None:
        self.advisor = advisor
        self.reason = reason
        super().__init__(f"{advisor}: {reason}")


class CycleBusy(TransientError):
    """Another decision cycle or execution holds the treasury lock."""

    def __init__(self, holder: str = "another process") -> None:
        self.holder = holder
        super().__init__(f"a decision cycle is already running ({holder})")


class NotLeader(TransientError):
    """This service instance is a standby: decision cycles and executions run on the leader."""

    def __init__(self) -> None:
        super().__init__(
            "this instance is a standby; decision cycles and executions run on the leader "
            "instance (GET /health shows each instance's role)"
        )


class ExecutionRefused(PermanentError):
    """A plan may not execute now (the policy, re-checked at execution time, rejects it)."""

    def __init__(self, plan_id: str, reasons: tuple[str, ...]) -> None:
        self.plan_id = plan_id
        self.reasons = reasons
        super().__init__(f"plan {plan_id} refused: " + "; ".join(reasons))


class EmergencyStopActive(PermanentError):
    """The emergency stop is on, so nothing that moves money may be approved or started."""

    def __init__(self, decision_id: str) -> None:
        self.decision_id = decision_id
        super().__init__(
            f"the emergency stop is on: decision {decision_id} stays pending; "
            "approve it after an approver resumes (POST /resume)"
        )
