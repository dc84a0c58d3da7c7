"""The dispatcher's routing, dedup, recording and health, over in-memory channels (no I/O)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from adapters.notify.dispatcher import NotificationDispatcher, RetryPolicy, Route
from adapters.notify.transport import DeliveryFailed
from adapters.persistence.deliveries import InMemoryDeliveryLog
from application.ports.notify import DeliveryOutcome, Event, EventKind, EventSeverity
from application.queries import Health
from tests.fakes.treasury import FixedClock
from tests.unit.notify.samples import AT, sample_event

NO_WAIT = RetryPolicy(attempts=2, initial_wait_s=0, max_wait_s=0, jitter_s=0)


class MemoryChannel:
    """A channel that keeps what it was sent; `down` makes every send fail like a 503."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.sent: list[Event] = []
        self.down = False

    @property
    def name(self) -> str:
        return self._name

    async def send(self, event: Event) -> int:
        if self.down:
            raise DeliveryFailed(self._name, "HTTP 503", status_code=503)
        self.sent.append(event)
        return 200


def dispatcher_for(*routes: Route, log: InMemoryDeliveryLog, clock: FixedClock, **kw: object):  # type: ignore[no-untyped-def]
    return NotificationDispatcher(list(routes), log, clock, retry=NO_WAIT, **kw)  # type: ignore[arg-type]


async def test_each_channel_gets_only_the_kinds_and_severities_it_asked_for() -> None:
    everything, critical, approvals = (MemoryChannel(n) for n in ("a", "b", "c"))
    log = InMemoryDeliveryLog()
    dispatcher = dispatcher_for(
        Route(channel=everything),
        Route(channel=critical, min_severity=EventSeverity.CRITICAL),
        Route(channel=approvals, kinds=frozenset({EventKind.APPROVAL_PENDING})),
        log=log,
        clock=FixedClock(AT),
    )
    dispatcher.publish(sample_event())
    dispatcher.publish(
        sample_event(EventKind.EMERGENCY_STOP, EventSeverity.CRITICAL, dedup_key="stop")
    )
    dispatcher.publish(sample_event(EventKind.DAILY_SUMMARY, EventSeverity.INFO, dedup_key="day"))
    assert await dispatcher.drain(2)
    assert [e.kind for e in everything.sent] == [
        EventKind.APPROVAL_PENDING,
        EventKind.EMERGENCY_STOP,
        EventKind.DAILY_SUMMARY,
    ]
    assert [e.kind for e in critical.sent] == [EventKind.EMERGENCY_STOP]
    assert [e.kind for e in approvals.sent] == [EventKind.APPROVAL_PENDING]
    await dispatcher.aclose()


async def test_a_repeat_within_the_window_is_suppressed_and_recorded_then_sent_after_it() -> None:
    channel = MemoryChannel("slack")
    log = InMemoryDeliveryLog()
    clock = FixedClock(AT)
    dispatcher = dispatcher_for(
        Route(channel=channel), log=log, clock=clock, dedup_window=timedelta(minutes=10)
    )
    dispatcher.publish(sample_event())
    dispatcher.publish(sample_event())
    assert await dispatcher.drain(2)
    clock.advance(timedelta(minutes=11))
    dispatcher.publish(sample_event())
    assert await dispatcher.drain(2)
    await dispatcher.aclose()
    assert len(channel.sent) == 2
    assert [r.outcome for r in log.records] == [
        DeliveryOutcome.SENT,
        DeliveryOutcome.SUPPRESSED,
        DeliveryOutcome.SENT,
    ]
    assert log.records[1].detail == "repeat within 600 s"


async def test_a_delivery_that_failed_does_not_suppress_its_next_repeat() -> None:
    channel = MemoryChannel("webhook")
    log = InMemoryDeliveryLog()
    dispatcher = dispatcher_for(Route(channel=channel), log=log, clock=FixedClock(AT))
    channel.down = True
    dispatcher.publish(sample_event())
    assert await dispatcher.drain(2)
    channel.down = False
    dispatcher.publish(sample_event())
    assert await dispatcher.drain(2)
    await dispatcher.aclose()
    assert [r.outcome for r in log.records] == [
        DeliveryOutcome.RETRYING,
        DeliveryOutcome.FAILED,
        DeliveryOutcome.SENT,
    ]


async def test_a_full_queue_records_the_dropped_event_instead_of_blocking() -> None:
    channel = MemoryChannel("telegram")
    log = InMemoryDeliveryLog()
    dispatcher = dispatcher_for(Route(channel=channel), log=log, clock=FixedClock(AT), queue_size=2)
    for i in range(3):
        dispatcher.publish(sample_event(dedup_key=f"k{i}"))
    assert await dispatcher.drain(2)
    await dispatcher.aclose()
    dropped = [r for r in log.records if r.outcome is DeliveryOutcome.FAILED]
    assert [r.dedup_key for r in dropped] == ["k2"]
    assert dropped[0].detail == "dropped: the channel's queue is full"
    assert len(channel.sent) == 2


async def test_test_messages_reach_a_channel_whatever_it_subscribes_to() -> None:
    channel = MemoryChannel("slack")
    dispatcher = dispatcher_for(
        Route(channel=channel, kinds=frozenset({EventKind.EMERGENCY_STOP})),
        log=InMemoryDeliveryLog(),
        clock=FixedClock(AT),
    )
    dispatcher.publish(sample_event(EventKind.TEST, EventSeverity.INFO, dedup_key="test:1"))
    assert await dispatcher.drain(2)
    await dispatcher.aclose()
    assert [e.kind for e in channel.sent] == [EventKind.TEST]


async def test_health_shows_each_channels_last_delivery() -> None:
    good, bad = MemoryChannel("slack"), MemoryChannel("webhook")
    bad.down = True
    dispatcher = dispatcher_for(
        Route(channel=good), Route(channel=bad), log=InMemoryDeliveryLog(), clock=FixedClock(AT)
    )
    before = [await p.check() for p in dispatcher.probes()]
    assert [(p.name, p.status, p.detail) for p in before] == [
        ("notify:slack", Health.HEALTHY, "no deliveries yet"),
        ("notify:webhook", Health.HEALTHY, "no deliveries yet"),
    ]
    dispatcher.publish(sample_event())
    assert await dispatcher.drain(2)
    slack, webhook = [await p.check() for p in dispatcher.probes()]
    assert slack.status is Health.HEALTHY
    assert slack.detail == "last sent approval_pending at 2026-03-02T12:00:00+00:00"
    assert webhook.status is Health.DEGRADED
    assert "gave up after 2 attempt(s): webhook: HTTP 503" in webhook.detail
    await dispatcher.aclose()


async def test_publishing_returns_before_any_delivery_happens() -> None:
    channel = MemoryChannel("slack")
    dispatcher = dispatcher_for(
        Route(channel=channel), log=InMemoryDeliveryLog(), clock=FixedClock(AT)
    )
    dispatcher.publish(sample_event())
    assert channel.sent == []  # queued, not sent, when publish returns
    await asyncio.sleep(0.01)
    assert len(channel.sent) == 1
    await dispatcher.aclose()
