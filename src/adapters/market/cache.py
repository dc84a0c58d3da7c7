"""A per-source cache: time-to-live, single flight, stale-while-error and the source's health.

- A good reading is reused for `ttl_s` (default 300 s): no upstream request inside the TTL.
- Single flight: when the reading has expired, concurrent callers share one upstream request.
- Stale-while-error: if the refresh fails, the last good reading is served, flagged stale, for
  up to `max_stale_s` (default 1 h) after it was fetched; past that the caller gets the error.
- After a failure the source is left alone for `error_cooldown_s` (or longer when it sent a
  Retry-After), so a broken service is not hammered and our quota is not burnt on it.
- Health: ok after a success, degraded while serving stale, down with nothing to serve.

Time comes from an injected Clock so tests can move it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Generic, TypeVar

from adapters.market.errors import SourceRateLimited
from application.errors import MarketDataUnavailable
from application.ports.clock import Clock
from application.ports.market import SourceHealth, SourceStatus

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TTL_S = 300.0
DEFAULT_MAX_STALE_S = 3600.0
DEFAULT_ERROR_COOLDOWN_S = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading(Generic[T]):
    """A value read from a source and when the source says it was observed."""

    value: T
    observed_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Served(Generic[T]):
    """A reading as the cache serves it: with when it was fetched and whether it is stale."""

    source: str
    value: T
    observed_at: datetime
    fetched_at: datetime
    stale: bool
    age_seconds: Decimal
    error: MarketDataUnavailable | None = None


def _seconds(delta: timedelta) -> Decimal:
    return max(Decimal(str(delta.total_seconds())), Decimal(0))


class SourceCache(Generic[T]):
    """Caches one source's readings; see the module docstring for the rules."""

    def __init__(
        self,
        source: str,
        read: Callable[[], Awaitable[Reading[T]]],
        *,
        clock: Clock,
        ttl_s: float = DEFAULT_TTL_S,
        max_stale_s: float = DEFAULT_MAX_STALE_S,
        error_cooldown_s: float = DEFAULT_ERROR_COOLDOWN_S,
    ) -> None:
        self.source = source
        self._read = read
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_s)
        self._max_stale = timedelta(seconds=max_stale_s)
        self._cooldown = timedelta(seconds=error_cooldown_s)
        self._good: Reading[T] | None = None
        self._fetched_at: datetime | None = None
        self._last_error: MarketDataUnavailable | None = None
        self._last_error_at: datetime | None = None
        self._quiet_until: datetime | None = None
        self._inflight: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"SourceCache(source={self.source!r})"

    async def get(self) -> Served[T]:
        """The cached reading if fresh, else a refreshed one, else a stale one.

        Raises:
            MarketDataUnavailable: the source failed and no good reading is young enough.
        """
        now = self._clock.now()
        if self._fresh(now):
            return self._serve(now, stale=False)
        if self._quiet_until is None or now >= self._quiet_until:
            if self._inflight is None:
                self._inflight = asyncio.ensure_future(self._refresh())
            # shield: one caller's cancellation must not cancel the request the others share.
            await asyncio.shield(self._inflight)
            now = self._clock.now()
            if self._fresh(now):
                return self._serve(now, stale=False)
        return self._serve_stale_or_raise(now)

    def _fresh(self, now: datetime) -> bool:
        return (
            self._good is not None
            and self._fetched_at is not None
            and (self._last_error_at is None or self._last_error_at <= self._fetched_at)
            and now - self._fetched_at < self._ttl
        )

    async def _refresh(self) -> None:
        try:
            reading = await self._read()
        except MarketDataUnavailable as exc:
            now = self._clock.now()
            self._last_error, self._last_error_at = exc, now
            quiet = self._cooldown
            if isinstance(exc, SourceRateLimited) and exc.retry_after is not None:
                quiet = max(quiet, timedelta(seconds=float(exc.retry_after)))
            self._quiet_until = now + quiet
            logger.warning(
                "market source failed",
                extra={"source": self.source, "error": str(exc), "permanent": exc.permanent},
            )
        else:
            self._good, self._fetched_at = reading, self._clock.now()
            self._quiet_until = None
        finally:
            self._inflight = None

    def _serve(
        self, now: datetime, *, stale: bool, error: MarketDataUnavailable | None = None
    ) -> Served[T]:
        if self._good is None or self._fetched_at is None:
            raise MarketDataUnavailable(self.source, "no reading yet")
        return Served(
            source=self.source,
            value=self._good.value,
            observed_at=self._good.observed_at,
            fetched_at=self._fetched_at,
            stale=stale,
            age_seconds=_seconds(now - self._good.observed_at),
            error=error,
        )

    def _serve_stale_or_raise(self, now: datetime) -> Served[T]:
        error = self._last_error or MarketDataUnavailable(self.source, "no reading yet")
        if self._good is None or self._fetched_at is None:
            raise error
        if now - self._fetched_at > self._max_stale:
            age = int((now - self._fetched_at).total_seconds())
            raise MarketDataUnavailable(
                self.source,
                f"{error.reason}; last good value fetched {age} s ago is past the "
                f"{int(self._max_stale.total_seconds())} s limit",
                permanent=error.permanent,
            ) from error
        return self._serve(now, stale=True, error=error)

    def health(self) -> SourceHealth:
        """ok after a success; degraded while serving stale; down with nothing to serve."""
        now = self._clock.now()
        failing = self._last_error_at is not None and (
            self._fetched_at is None or self._last_error_at > self._fetched_at
        )
        if not failing:
            status = SourceStatus.OK if self._fetched_at is not None else SourceStatus.DOWN
        elif self._fetched_at is not None and now - self._fetched_at <= self._max_stale:
            status = SourceStatus.DEGRADED
        else:
            status = SourceStatus.DOWN
        return SourceHealth(
            source=self.source,
            status=status,
            last_success=self._fetched_at,
            last_error=str(self._last_error) if self._last_error is not None else None,
            last_error_at=self._last_error_at,
        )
