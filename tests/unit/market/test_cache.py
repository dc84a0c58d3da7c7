"""The per-source cache: TTL, single flight, stale-while-error, cool-down and health."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.market.cache import Reading, SourceCache
from adapters.market.errors import SourceHttpError, SourceRateLimited
from application.errors import MarketDataUnavailable
from application.ports.market import SourceStatus
from tests.fakes.market import MovableClock

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)


class ScriptedSource:
    """A source whose answers tests control; it counts upstream requests."""

    def __init__(self, clock: MovableClock) -> None:
        self.clock = clock
        self.requests = 0
        self.value = Decimal("2.5")
        self.error: MarketDataUnavailable | None = None
        self.gate: asyncio.Event | None = None

    async def read(self) -> Reading[Decimal]:
        self.requests += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return Reading(value=self.value, observed_at=self.clock.now() - timedelta(seconds=10))


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def source(clock: MovableClock) -> ScriptedSource:
    return ScriptedSource(clock)


@pytest.fixture
def cache(source: ScriptedSource, clock: MovableClock) -> SourceCache[Decimal]:
    return SourceCache(
        "glassnode", source.read, clock=clock, ttl_s=300, max_stale_s=3600, error_cooldown_s=30
    )


async def test_a_reading_is_reused_inside_the_ttl_and_refreshed_after(
    cache: SourceCache[Decimal], source: ScriptedSource, clock: MovableClock
) -> None:
    first = await cache.get()
    clock.advance(299)
    again = await cache.get()
    assert source.requests == 1
    assert again.value == first.value
    assert again.age_seconds == Decimal(309)
    clock.advance(2)
    source.value = Decimal("2.6")
    fresh = await cache.get()
    assert source.requests == 2
    assert fresh.value == Decimal("2.6")
    assert not fresh.stale


async def test_fifty_concurrent_callers_share_one_upstream_request(
    cache: SourceCache[Decimal], source: ScriptedSource
) -> None:
    source.gate = asyncio.Event()
    callers = [asyncio.ensure_future(cache.get()) for _ in range(50)]
    await asyncio.sleep(0.01)
    source.gate.set()
    served = await asyncio.gather(*callers)
    assert source.requests == 1
    assert {s.value for s in served} == {Decimal("2.5")}


async def test_a_failure_after_a_success_serves_the_last_value_flagged_stale(
    cache: SourceCache[Decimal], source: ScriptedSource, clock: MovableClock
) -> None:
    await cache.get()
    clock.advance(600)
    source.error = SourceHttpError("glassnode", 503)
    served = await cache.get()
    assert served.stale
    assert served.value == Decimal("2.5")
    assert served.age_seconds == Decimal(610)
    assert served.error is source.error
    health = cache.health()
    assert health.status is SourceStatus.DEGRADED
    assert health.last_error == "glassnode: HTTP 503"
    assert health.last_error_at == T0 + timedelta(seconds=600)
    assert health.last_success == T0


async def test_past_the_maximum_stale_age_the_value_is_withheld_and_the_source_is_down(
    cache: SourceCache[Decimal], source: ScriptedSource, clock: MovableClock
) -> None:
    await cache.get()
    source.error = SourceHttpError("glassnode", 503)
    clock.advance(3601)
    with pytest.raises(MarketDataUnavailable, match=r"glassnode: HTTP 503; last good value"):
        await cache.get()
    assert cache.health().status is SourceStatus.DOWN


async def test_a_source_that_never_answered_raises_its_own_error(
    cache: SourceCache[Decimal], source: ScriptedSource
) -> None:
    source.error = SourceHttpError("glassnode", 500)
    with pytest.raises(SourceHttpError):
        await cache.get()
    assert cache.health().status is SourceStatus.DOWN


async def test_after_a_failure_the_source_is_left_alone_during_the_cooldown(
    cache: SourceCache[Decimal], source: ScriptedSource, clock: MovableClock
) -> None:
    await cache.get()
    clock.advance(400)
    source.error = SourceHttpError("glassnode", 500)
    await cache.get()
    clock.advance(10)
    stale = await cache.get()
    assert source.requests == 2
    assert stale.stale
    clock.advance(25)
    source.error = None
    recovered = await cache.get()
    assert source.requests == 3
    assert not recovered.stale
    assert cache.health().status is SourceStatus.OK


async def test_retry_after_longer_than_the_cooldown_is_honoured(
    cache: SourceCache[Decimal], source: ScriptedSource, clock: MovableClock
) -> None:
    await cache.get()
    clock.advance(400)
    source.error = SourceRateLimited("glassnode", Decimal(120))
    await cache.get()
    clock.advance(100)
    await cache.get()
    assert source.requests == 2
    clock.advance(21)
    await cache.get()
    assert source.requests == 3


async def test_a_cancelled_caller_does_not_cancel_the_shared_request(
    cache: SourceCache[Decimal], source: ScriptedSource
) -> None:
    source.gate = asyncio.Event()
    impatient = asyncio.ensure_future(cache.get())
    patient = asyncio.ensure_future(cache.get())
    await asyncio.sleep(0.01)
    impatient.cancel()
    source.gate.set()
    served = await patient
    assert served.value == Decimal("2.5")
    assert source.requests == 1


async def test_health_before_any_read_is_down_without_an_error(
    cache: SourceCache[Decimal],
) -> None:
    health = cache.health()
    assert health.status is SourceStatus.DOWN
    assert health.last_success is None
    assert health.last_error is None
