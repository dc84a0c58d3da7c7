"""The `Notifier`: one background queue per channel, retries, dedup, and a record of everything.

`publish(event)` only enqueues (never awaits, never raises for a channel that is down), so a
decision cycle never waits on Slack. Each channel has its own asyncio task and bounded queue,
so one slow or dead channel delays no other. A channel receives the event kinds it subscribes
to at or above its minimum severity (test messages always). A repeat of the same `dedup_key`
within the window is suppressed (and recorded as such); a delivery that finally failed does
not count, so its next repeat is tried again.

Retries (tenacity): timeouts, connection failures, 408, 429 and 5xx, up to `attempts` times
with exponential back-off and jitter; a 429's Retry-After (or Telegram's `retry_after`) is
honoured, capped by `max_retry_after_s`. Every attempt is written to the `DeliveryLog`:
`sent`, `retrying` (with why), `failed` (with why), `suppressed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from adapters.notify.transport import Channel, DeliveryFailed
from application.errors import ApplicationError, TransientError
from application.ports.clock import Clock
from application.ports.notify import (
    DeliveryLog,
    DeliveryOutcome,
    DeliveryRecord,
    Event,
    EventKind,
    EventSeverity,
)
from application.queries import Health, ProbeResult

log = logging.getLogger(__name__)

DEFAULT_DEDUP_WINDOW = timedelta(minutes=10)
DEFAULT_QUEUE_SIZE = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How hard to try one delivery: bounded attempts and waits."""

    attempts: int = 5
    initial_wait_s: float = 1.0
    max_wait_s: float = 60.0
    jitter_s: float = 1.0
    max_retry_after_s: float = 300.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def wait(self, state: RetryCallState) -> float:
        """Retry-After when the service gave one (capped), else exponential back-off."""
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, DeliveryFailed) and exc.retry_after_s is not None:
            return min(max(exc.retry_after_s, 0.0), self.max_retry_after_s)
        backoff = wait_exponential_jitter(
            multiplier=self.initial_wait_s, max=self.max_wait_s, jitter=self.jitter_s
        )
        return float(backoff(state))


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """A channel and what it wants: event kinds (None: all) and a minimum severity."""

    channel: Channel
    kinds: frozenset[EventKind] | None = None
    min_severity: EventSeverity = EventSeverity.INFO

    def wants(self, event: Event) -> bool:
        """Whether this channel should receive the event."""
        if event.kind is EventKind.TEST:
            return True
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        return event.severity.at_least(self.min_severity)


class _Worker:
    """One channel's queue and delivery loop."""

    def __init__(
        self,
        route: Route,
        delivery_log: DeliveryLog,
        clock: Clock,
        *,
        dedup_window: timedelta,
        retry: RetryPolicy,
        queue_size: int,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.route = route
        self.name = route.channel.name
        self._log = delivery_log
        self._clock = clock
        self._window = dedup_window
        self._retry = retry
        self._sleep = sleep
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=queue_size)
        self._seen: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()

    def offer(self, event: Event) -> None:
        self._ensure_running()
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self._record_later(
                event, DeliveryOutcome.FAILED, 0, detail="dropped: the channel's queue is full"
            )

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"notify:{self.name}"
            )

    def _record_later(
        self, event: Event, outcome: DeliveryOutcome, attempt: int, *, detail: str
    ) -> None:
        task = asyncio.get_running_loop().create_task(
            self._record(event, outcome, attempt, detail=detail)
        )
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _run(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                await self._deliver(event)
            except asyncio.CancelledError:
                await self._record(
                    event, DeliveryOutcome.FAILED, 0, detail="not sent: the service shut down first"
                )
                raise
            except Exception as exc:
                # A bug here must not stop the channel: record it and carry on with the queue.
                log.exception("notification worker error", extra={"channel": self.name})
                await self._record(
                    event, DeliveryOutcome.FAILED, 0, detail=f"internal error: {type(exc).__name__}"
                )
            finally:
                self.queue.task_done()

    def _is_repeat(self, event: Event, now: datetime) -> bool:
        for key, at in list(self._seen.items()):
            if now - at >= self._window:
                del self._seen[key]
        return event.dedup_key in self._seen

    async def _deliver(self, event: Event) -> None:
        now = self._clock.now()
        if self._is_repeat(event, now):
            await self._record(
                event,
                DeliveryOutcome.SUPPRESSED,
                0,
                detail=f"repeat within {int(self._window.total_seconds())} s",
            )
            return
        self._seen[event.dedup_key] = now
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=self._retry.wait,
            retry=retry_if_exception_type(TransientError),
            sleep=self._sleep,
            reraise=True,
        )
        attempt_no = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempt_no = attempt.retry_state.attempt_number
                    try:
                        status = await self.route.channel.send(event)
                    except TransientError as exc:
                        if attempt_no < self._retry.attempts:
                            await self._record(
                                event,
                                DeliveryOutcome.RETRYING,
                                attempt_no,
                                detail=str(exc),
                                status_code=getattr(exc, "status_code", None),
                            )
                        raise
        except ApplicationError as exc:
            self._seen.pop(event.dedup_key, None)
            await self._record(
                event,
                DeliveryOutcome.FAILED,
                attempt_no,
                detail=f"gave up after {attempt_no} attempt(s): {exc}",
                status_code=getattr(exc, "status_code", None),
            )
            log.warning(
                "notification not delivered",
                extra={"channel": self.name, "kind": event.kind.value, "reason": str(exc)},
            )
            return
        await self._record(event, DeliveryOutcome.SENT, attempt_no, status_code=status)

    async def _record(
        self,
        event: Event,
        outcome: DeliveryOutcome,
        attempt: int,
        *,
        detail: str | None = None,
        status_code: int | None = None,
    ) -> None:
        record = DeliveryRecord(
            channel=self.name,
            event_kind=event.kind,
            severity=event.severity,
            dedup_key=event.dedup_key,
            title=event.title,
            outcome=outcome,
            attempt=attempt,
            at=self._clock.now(),
            status_code=status_code,
            detail=detail,
        )
        try:
            await self._log.record(record)
        except ApplicationError as exc:
            # The record could not be stored; the log line is the last trace left of it.
            log.error(
                "notification delivery could not be recorded",
                extra={
                    "channel": self.name,
                    "kind": event.kind.value,
                    "outcome": outcome.value,
                    "reason": str(exc),
                },
            )

    async def drain(self) -> None:
        await self.queue.join()
        if self._side_tasks:
            await asyncio.gather(*self._side_tasks, return_exceptions=True)

    async def stop(self) -> None:
        while not self.queue.empty():
            event = self.queue.get_nowait()
            await self._record(
                event, DeliveryOutcome.FAILED, 0, detail="not sent: the service shut down first"
            )
            self.queue.task_done()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class NotificationDispatcher:
    """The `Notifier` port over any number of channels."""

    def __init__(
        self,
        routes: Sequence[Route],
        delivery_log: DeliveryLog,
        clock: Clock,
        *,
        dedup_window: timedelta = DEFAULT_DEDUP_WINDOW,
        retry: RetryPolicy | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        names = [r.channel.name for r in routes]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must be unique: {names}")
        self._log = delivery_log
        self._workers = [
            _Worker(
                route,
                delivery_log,
                clock,
                dedup_window=dedup_window,
                retry=retry or RetryPolicy(),
                queue_size=queue_size,
                sleep=sleep,
            )
            for route in routes
        ]

    @property
    def channel_names(self) -> list[str]:
        """The configured channels, in order."""
        return [w.name for w in self._workers]

    def publish(self, event: Event) -> None:
        """Queue the event for every channel that wants it; returns at once.

        Must be called from within the running event loop (the workers live there).
        """
        for worker in self._workers:
            if worker.route.wants(event):
                worker.offer(event)

    def publish_to(self, channel: str, event: Event) -> None:
        """Queue an event for one channel, whatever it subscribes to (`notify test`).

        Raises:
            KeyError: no channel has that name.
        """
        for worker in self._workers:
            if worker.name == channel:
                worker.offer(event)
                return
        raise KeyError(channel)

    async def drain(self, timeout_s: float | None = None) -> bool:
        """Wait until every queued event was delivered or given up; False on timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(*(w.drain() for w in self._workers))
        except TimeoutError:
            return False
        return True

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued within `timeout_s`, record the rest as failed, stop."""
        await self.drain(timeout_s)
        for worker in self._workers:
            await worker.stop()

    def probes(self) -> list[ChannelHealthProbe]:
        """One `/health` probe per channel."""
        return [ChannelHealthProbe(w.name, self._log, w.queue) for w in self._workers]


class ChannelHealthProbe:
    """`/health` for one channel: its last recorded delivery and its backlog."""

    def __init__(
        self, channel: str, delivery_log: DeliveryLog, queue: asyncio.Queue[Event] | None = None
    ) -> None:
        self.name = f"notify:{channel}"
        self._channel = channel
        self._log = delivery_log
        self._queue = queue

    async def check(self) -> ProbeResult:
        """Healthy when the last delivery was sent (or none yet); degraded when it failed or
        is being retried. Never raises."""
        backlog = self._queue.qsize() if self._queue is not None else 0
        queued = f"; {backlog} queued" if backlog else ""
        try:
            last = await self._log.last(self._channel)
        except ApplicationError as exc:
            return ProbeResult(
                name=self.name, status=Health.DEGRADED, detail=f"delivery log unreadable: {exc}"
            )
        if last is None:
            return ProbeResult(name=self.name, status=Health.HEALTHY, detail="no deliveries yet")
        at = last.at.isoformat()
        if last.outcome in (DeliveryOutcome.SENT, DeliveryOutcome.SUPPRESSED):
            return ProbeResult(
                name=self.name,
                status=Health.HEALTHY,
                detail=f"last {last.outcome.value} {last.event_kind.value} at {at}{queued}",
            )
        return ProbeResult(
            name=self.name,
            status=Health.DEGRADED,
            detail=f"last delivery {last.outcome.value} at {at}: {last.detail}{queued}",
        )


def describe(records: Iterable[DeliveryRecord]) -> list[str]:
    """One line per record, for the CLI."""
    return [
        f"{r.at.isoformat()} {r.channel} {r.event_kind.value} {r.outcome.value}"
        + (f" (HTTP {r.status_code})" if r.status_code else "")
        + (f": {r.detail}" if r.detail else "")
        for r in records
    ]
