"""Notifications: the events the engine publishes for people, and where deliveries are recorded.

The engine calls `Notifier.publish(event)` and moves on: publishing only enqueues, it never
waits for delivery nor raises because a channel is down. Adapters deliver in the background
(webhook, Slack, Telegram) and write every attempt to a `DeliveryLog`, so that nothing is lost
silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from domain.errors import InvalidValue
from domain.money import require_aware


class EventKind(StrEnum):
    """Every event a human may need to hear about."""

    APPROVAL_PENDING = "approval_pending"
    DECISION_APPROVED = "decision_approved"
    DECISION_REJECTED = "decision_rejected"
    DECISION_EXPIRED = "decision_expired"
    PLAN_EXECUTED = "plan_executed"
    EXECUTION_FAILED = "execution_failed"
    EMERGENCY_STOP = "emergency_stop"
    EMERGENCY_RESUMED = "emergency_resumed"
    CIRCUIT_BREAKER_TRIPPED = "circuit_breaker_tripped"
    BLACK_SWAN_EXIT = "black_swan_exit"
    SOURCE_STALE = "source_stale"
    DAILY_SUMMARY = "daily_summary"
    TEST = "test"


class EventSeverity(StrEnum):
    """How urgent an event is; channels choose a minimum."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Order for comparisons: info < warning < critical."""
        return _RANKS[self]

    def at_least(self, minimum: EventSeverity) -> bool:
        """Whether this severity reaches `minimum`."""
        return self.rank >= minimum.rank


_RANKS = {EventSeverity.INFO: 0, EventSeverity.WARNING: 1, EventSeverity.CRITICAL: 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """A labelled URL (the dashboard, a block explorer)."""

    label: str
    url: str

    def __post_init__(self) -> None:
        if not self.label or not self.url:
            raise InvalidValue("link", (self.label, self.url), "label and url are required")


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One notification: what happened, how urgent, and the facts a human needs to act.

    `fields` are short labelled values (amount, expiry...) as display strings; `dedup_key`
    identifies repeats of the same news (channels drop a repeat within their window).
    """

    kind: EventKind
    severity: EventSeverity
    title: str
    body: str
    dedup_key: str
    occurred_at: datetime
    fields: Mapping[str, str] = field(default_factory=dict)
    links: tuple[Link, ...] = ()

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise InvalidValue("title", self.title, "must not be empty")
        if not self.dedup_key:
            raise InvalidValue("dedup_key", self.dedup_key, "must not be empty")
        require_aware(self.occurred_at, "occurred_at")
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))


class Notifier(Protocol):
    """Tells humans about events. Implementations enqueue and return at once."""

    def publish(self, event: Event) -> None:
        """Queue the event for every channel that wants it; never blocks, never raises for a
        channel that is down."""
        ...


class DeliveryOutcome(StrEnum):
    """What became of one delivery attempt."""

    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRecord:
    """One attempt to deliver one event to one channel, and its outcome.

    `attempt` counts from 1; a suppressed duplicate or an event dropped before sending has
    attempt 0. `detail` says why it failed or was suppressed, never a secret.
    """

    channel: str
    event_kind: EventKind
    severity: EventSeverity
    dedup_key: str
    title: str
    outcome: DeliveryOutcome
    attempt: int
    at: datetime
    status_code: int | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if not self.channel:
            raise InvalidValue("channel", self.channel, "must be named")
        if self.attempt < 0:
            raise InvalidValue("attempt", self.attempt, "must be >= 0")
        require_aware(self.at, "at")


class DeliveryLog(Protocol):
    """Where delivery attempts are recorded (the `notification_deliveries` table)."""

    async def record(self, record: DeliveryRecord) -> None:
        """Store one attempt's outcome.

        Raises:
            TransientError: the store could not be written now.
        """
        ...

    async def last(self, channel: str) -> DeliveryRecord | None:
        """The newest record of a channel, if any."""
        ...

    async def recent(self, limit: int = 50, channel: str | None = None) -> list[DeliveryRecord]:
        """The newest records, newest first, optionally of one channel."""
        ...
