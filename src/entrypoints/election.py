"""Leader election between service processes sharing one database (high availability).

Exactly one process leads: it runs the scheduler's cycles and every execution. The others are
standbys: they serve reads and record what people send (approvals, the emergency stop), and try
to take the leader lock every `TREASURY_LEADERSHIP_CHECK_S` seconds. The lock dies with its
holder (see `adapters.locks`), so a standby takes over within one check interval of the leader's
death.

Taking over happens in order: the lock is taken, the take-over work runs (steps a crash left
unfinished are settled against the chain, paper time is re-read), and only then does the
process lead. While it leads, it checks every interval that it still holds the lock, executes
approvals recorded by a standby, and the treasury lock checks again before each cycle and
execution; a process that finds its lock lost stops leading at once and goes back to standby.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum

from sqlalchemy.exc import SQLAlchemyError

from adapters.locks import LeaderLock
from application.errors import ApplicationError
from application.queries import Health, ProbeResult
from domain.errors import DomainError

log = logging.getLogger(__name__)

Duty = Callable[[], Awaitable[object]]


class Role(StrEnum):
    """This process's part: the leader, or a standby (follower)."""

    LEADER = "leader"
    TAKING_OVER = "taking-over"
    FOLLOWER = "follower"


async def _nothing() -> None:
    return None


class LeaderElection:
    """One process's side of the election; also the `/health` role probe."""

    name = "role"

    def __init__(self, lock: LeaderLock, *, check_interval_s: float) -> None:
        self._lock = lock
        self._interval_s = check_interval_s
        self._role = Role.FOLLOWER
        self._leading = asyncio.Event()
        self._stopping = asyncio.Event()

    @property
    def role(self) -> Role:
        """What this process is right now."""
        return self._role

    @property
    def leading(self) -> bool:
        """Whether this process leads (lock held and take-over done)."""
        return self._role is Role.LEADER

    async def wait_leading(self) -> None:
        """Return once this process leads."""
        await self._leading.wait()

    async def confirm(self) -> bool:
        """Whether this process leads, with the lock checked against the database now; a lost
        lock ends the leadership at once."""
        if self._role is not Role.LEADER:
            return False
        if await self._lock.still_held():
            return True
        if self._role is Role.LEADER:  # not already stepped down by a concurrent check
            self._step_down("the leader lock was lost (its database connection dropped)")
        return False

    async def try_lead(self, take_over: Duty = _nothing) -> bool:
        """One attempt: take the lock if free and run `take_over`; True if this process leads.
        A failed take-over lets the lock go again, so another process (or a later try) can."""
        if self._role is Role.LEADER:
            return await self.confirm()
        try:
            got = await self._lock.try_acquire()
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            log.warning(
                "the leader lock could not be tried",
                extra={"error_type": type(exc).__name__, "error": str(exc)},
            )
            return False
        if not got:
            return False
        self._role = Role.TAKING_OVER
        log.info("leader lock taken; taking over")
        try:
            await take_over()
        except Exception as exc:  # whatever broke, holding the lock without leading is worse
            log.error(
                "taking over failed; letting the leader lock go",
                exc_info=exc,
                extra={"error_type": type(exc).__name__, "error": str(exc)},
            )
            self._role = Role.FOLLOWER
            await self._lock.release()
            return False
        self._role = Role.LEADER
        self._leading.set()
        log.info("this instance now leads: it runs decision cycles and executions")
        return True

    async def run(self, *, take_over: Duty = _nothing, while_leading: Duty = _nothing) -> None:
        """Until stopped: a standby tries to lead every interval; the leader confirms its lock
        and does `while_leading` (approvals recorded elsewhere) every interval."""
        while not self._stopping.is_set():
            if self._role is Role.LEADER:
                if await self.confirm():
                    await self._duty(while_leading)
            else:
                await self.try_lead(take_over)
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval_s)
            except TimeoutError:
                continue

    async def _duty(self, duty: Duty) -> None:
        try:
            await duty()
        except (ApplicationError, DomainError, SQLAlchemyError, OSError) as exc:
            log.warning(
                "leader duty failed; retrying next interval",
                extra={"error_type": type(exc).__name__, "error": str(exc)},
            )
        except Exception as exc:  # the election loop must outlive any one duty
            log.error(
                "leader duty failed unexpectedly; retrying next interval",
                exc_info=exc,
                extra={"error_type": type(exc).__name__},
            )

    def stop(self) -> None:
        """End `run` at its next wait."""
        self._stopping.set()

    async def release(self) -> None:
        """Stop leading and let the lock go (at shutdown: a standby takes over at once)."""
        self.stop()
        if self._role is not Role.FOLLOWER:
            self._role = Role.FOLLOWER
            self._leading.clear()
            log.info("leader lock let go at shutdown")
        await self._lock.release()

    def _step_down(self, why: str) -> None:
        self._role = Role.FOLLOWER
        self._leading.clear()
        log.warning("this instance no longer leads; standing by", extra={"reason": why})

    async def check(self) -> ProbeResult:
        """The role, for `/health` (a standby is healthy: it is meant to wait)."""
        return ProbeResult(name=self.name, status=Health.HEALTHY, detail=self._role.value)
