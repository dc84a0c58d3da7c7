"""Decisions: what the advisor proposed, what the policy said, and what a human did with it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from domain.allocation import TargetAllocations
from domain.errors import DecisionExpired, DecisionNotPending, InvalidValue
from domain.money import require_aware, require_fraction
from domain.signals import AllocationSignal, RiskLevel


class DecisionKind(StrEnum):
    """What the advisor recommends."""

    HOLD = "hold"
    REBALANCE = "rebalance"
    EMERGENCY_EXIT = "emergency_exit"


class DecisionStatus(StrEnum):
    """Where a decision is in its life."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTED = "executed"
    PARTIALLY_EXECUTED = "partially_executed"
    """Some of the plan's moves landed on chain, then a step failed or was interrupted."""
    FAILED = "failed"
    EXPIRED = "expired"
    HELD = "held"


TERMINAL_STATUSES = frozenset(
    {
        DecisionStatus.REJECTED,
        DecisionStatus.EXECUTED,
        DecisionStatus.PARTIALLY_EXECUTED,
        DecisionStatus.FAILED,
        DecisionStatus.EXPIRED,
        DecisionStatus.HELD,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AdvisorDecision:
    """What an advisor (Claude or the rules) proposes; never whether approval is needed.

    `advisor` names who decided (`claude` or `rules`); `fallback_reason` says why Claude was
    not used when the rules decided in its place. `metadata` holds model id, prompt hash,
    token usage, cost and latency as strings.
    """

    decision: DecisionKind
    target_allocations: TargetAllocations
    reasoning: str
    risk_assessment: RiskLevel
    confidence: Decimal
    advisor: str
    model: str | None = None
    fallback_reason: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_fraction(self.confidence, "confidence")
        if not self.reasoning.strip():
            raise InvalidValue("reasoning", self.reasoning, "must explain the decision")
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """A decision record: proposal, verdict, and the human's answer. Transitions return copies."""

    id: str
    created_at: datetime
    signal: AllocationSignal
    advisor: str
    target_allocations: TargetAllocations
    reasoning: str
    risk_assessment: RiskLevel
    status: DecisionStatus
    kind: DecisionKind = DecisionKind.REBALANCE
    plan_id: str | None = None
    verdict_reasons: tuple[str, ...] = ()
    approver: str | None = None
    notes: str | None = None
    decided_at: datetime | None = None
    expires_at: datetime | None = None
    model: str | None = None
    fallback_reason: str | None = None
    version: int = 0

    def __post_init__(self) -> None:
        if not self.id:
            raise InvalidValue("id", self.id, "must not be empty")
        require_aware(self.created_at, "created_at")
        for name in ("decided_at", "expires_at"):
            value = getattr(self, name)
            if value is not None:
                require_aware(value, name)

    def is_expired(self, now: datetime) -> bool:
        """Whether a pending decision's approval window has passed."""
        return self.expires_at is not None and now >= self.expires_at

    def _require_pending(self, wanted: DecisionStatus, now: datetime) -> None:
        if self.status is not DecisionStatus.PENDING:
            raise DecisionNotPending(self.id, self.status.value, wanted.value)
        if wanted is DecisionStatus.APPROVED and self.is_expired(now):
            raise DecisionExpired(self.id)

    def approve(self, approver: str, notes: str | None, now: datetime) -> Decision:
        """Approve a pending decision.

        Raises:
            DecisionNotPending: the decision is not pending.
            DecisionExpired: its window has passed.
            InvalidValue: no approver named.
        """
        require_aware(now, "now")
        if not approver:
            raise InvalidValue("approver", approver, "must be named")
        self._require_pending(DecisionStatus.APPROVED, now)
        return replace(
            self,
            status=DecisionStatus.APPROVED,
            approver=approver,
            notes=notes,
            decided_at=now,
            version=self.version + 1,
        )

    def reject(self, approver: str, notes: str | None, now: datetime) -> Decision:
        """Reject a pending decision.

        Raises:
            DecisionNotPending: the decision is not pending.
        """
        require_aware(now, "now")
        self._require_pending(DecisionStatus.REJECTED, now)
        return replace(
            self,
            status=DecisionStatus.REJECTED,
            approver=approver,
            notes=notes,
            decided_at=now,
            version=self.version + 1,
        )

    def expire(self, now: datetime, reason: str) -> Decision:
        """Expire a pending decision (its approval window passed).

        Raises:
            DecisionNotPending: the decision is not pending.
        """
        self._require_pending(DecisionStatus.EXPIRED, now)
        return replace(
            self,
            status=DecisionStatus.EXPIRED,
            notes=reason,
            decided_at=now,
            version=self.version + 1,
        )

    def mark_executed(self, now: datetime) -> Decision:
        """Record that the plan executed. Only an approved decision executes, once.

        Raises:
            DecisionNotPending: the decision is not approved.
        """
        if self.status is not DecisionStatus.APPROVED:
            raise DecisionNotPending(self.id, self.status.value, DecisionStatus.EXECUTED.value)
        return replace(
            self, status=DecisionStatus.EXECUTED, decided_at=now, version=self.version + 1
        )

    def mark_partially_executed(self, now: datetime, reason: str) -> Decision:
        """Record that part of the plan landed on chain before a step failed or was cut off.

        Raises:
            DecisionNotPending: the decision is not approved.
        """
        if self.status is not DecisionStatus.APPROVED:
            raise DecisionNotPending(
                self.id, self.status.value, DecisionStatus.PARTIALLY_EXECUTED.value
            )
        return replace(
            self,
            status=DecisionStatus.PARTIALLY_EXECUTED,
            notes=reason,
            decided_at=now,
            version=self.version + 1,
        )

    def mark_failed(self, now: datetime, reason: str) -> Decision:
        """Record that execution failed.

        Raises:
            DecisionNotPending: the decision is not approved.
        """
        if self.status is not DecisionStatus.APPROVED:
            raise DecisionNotPending(self.id, self.status.value, DecisionStatus.FAILED.value)
        return replace(
            self,
            status=DecisionStatus.FAILED,
            notes=reason,
            decided_at=now,
            version=self.version + 1,
        )
