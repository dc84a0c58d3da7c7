"""The scheduler: a decision cycle every interval, through adapter failures, until stopped.

Failures back off exponentially (with a cap) and never stop the loop; a stop request (SIGTERM,
SIGINT, or `stop()`) ends it between cycles, or interrupts the wait. Expired pending decisions
are cleared before each cycle. With a leader election, only the leader ticks: a standby waits
until it leads and then runs its first cycle at once, as a freshly started service does.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from application.cycle import CycleCommand, CycleResult
from application.errors import ApplicationError, NotLeader
from domain.errors import DomainError
from entrypoints.api.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerConfig:
    """Interval between cycles and the failure backoff."""

    interval_s: float
    max_backoff_s: float = 600.0
    max_cycles: int | None = None


class Leadership(Protocol):
    """Whether this process may run cycles (checked against the database), and a way to wait
    until it may."""

    async def confirm(self) -> bool: ...

    async def wait_leading(self) -> None: ...


class Scheduler:
    """Runs `services.cycle` on a timer; one instance per process."""

    def __init__(
        self,
        services: Services,
        config: SchedulerConfig,
        *,
        before_cycle: Callable[[], Awaitable[None]] | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self._services = services
        self._config = config
        self._before_cycle = before_cycle
        self._leadership = leadership
        self._stopping = asyncio.Event()
        self.cycles = 0
        self.failures = 0
        self.last_result: CycleResult | None = None
        self.last_error: str | None = None

    def stop(self) -> None:
        """Ask the loop to end after the current cycle."""
        self._stopping.set()

    def install_signal_handlers(self) -> None:
        """Stop cleanly on SIGTERM and SIGINT."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)

    async def run(self) -> None:
        """Loop until stopped (or `max_cycles`)."""
        consecutive = 0
        while not self._stopping.is_set():
            # Confirmed before the tick's hooks too: they write (paper time, outcomes).
            if self._leadership is not None and not await self._leadership.confirm():
                await self._wait_leading(self._leadership)
                continue
            delay = self._config.interval_s
            try:
                await self.tick()
                consecutive = 0
            except NotLeader:
                # Wait the interval like any other round: without an election to wait on (a
                # scheduler given no leadership), going round at once would spin.
                log.warning("not the leader any more; the cycle did not run")
            except (ApplicationError, DomainError, OSError) as exc:
                consecutive += 1
                delay = self._failed(exc, consecutive)
                log.warning(
                    "decision cycle failed; backing off",
                    extra={"error": self.last_error, "retry_in_s": round(delay, 1)},
                )
            except Exception as exc:  # a bug must not end the schedule silently
                # Anything else is a bug (an adapter's unexpected error, say). Ending the loop
                # would stop every future cycle with nothing said; log it whole and go on,
                # backing off like any failure (the circuit breaker still counts executions).
                consecutive += 1
                delay = self._failed(exc, consecutive)
                log.exception(
                    "decision cycle failed on an unexpected error; backing off",
                    extra={"error": self.last_error, "retry_in_s": round(delay, 1)},
                )
            if self._config.max_cycles is not None and self.cycles >= self._config.max_cycles:
                break
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            except TimeoutError:
                continue
        log.info("scheduler stopped", extra={"cycles": self.cycles, "failures": self.failures})

    def _failed(self, exc: Exception, consecutive: int) -> float:
        """Count a failed round and return how long to wait before the next (backoff with
        jitter)."""
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        backoff = min(self._config.max_backoff_s, self._config.interval_s * 2**consecutive)
        return float(backoff * (0.8 + 0.4 * random.random()))  # noqa: S311 - jitter, not crypto

    async def _wait_leading(self, leadership: Leadership) -> None:
        leading = asyncio.ensure_future(leadership.wait_leading())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({leading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            leading.cancel()
            stopping.cancel()

    async def tick(self) -> CycleResult:
        """One scheduled cycle: hooks, expiry, then the cycle itself."""
        if self._before_cycle is not None:
            await self._before_cycle()
        await self._services.expire.execute()
        result = await self._services.cycle.execute(CycleCommand(requested_by="scheduler"))
        self.cycles += 1
        self.last_result = result
        self.last_error = None
        return result
