"""Sample events and a recording notifier for notification tests."""

from __future__ import annotations

from datetime import UTC, datetime

from application.ports.notify import Event, EventKind, EventSeverity, Link

AT = datetime(2026, 3, 2, 12, tzinfo=UTC)


def sample_event(
    kind: EventKind = EventKind.APPROVAL_PENDING,
    severity: EventSeverity = EventSeverity.WARNING,
    dedup_key: str = "approval_pending:dec-1",
    title: str = "Approval needed: rebalance moving up to $160,000.00",
) -> Event:
    """A realistic pending-approval event (or another kind, for filters)."""
    return Event(
        kind=kind,
        severity=severity,
        title=title,
        body="Deploy idle cash to targets.\n\nWhy a human must approve:\n• largest single move "
        "$160,000.00 > $50,000 <limit> & more",
        fields={"Decision": "dec-1", "Largest move": "$160,000.00", "Expires": "2026-03-03"},
        links=(Link(label="Open in dashboard", url="http://127.0.0.1:8600/#decision-dec-1"),),
        dedup_key=dedup_key,
        occurred_at=AT,
    )


class RecordingNotifier:
    """A Notifier that keeps what was published (publishing never blocks, like the real one)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: EventKind) -> list[Event]:
        return [e for e in self.events if e.kind is kind]
