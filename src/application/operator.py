"""Operator actions: the emergency stop, resuming, the manual MVRV fallback, and lifting the
re-entry cooldown after an exit."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import ClassVar, Protocol

from application.errors import NotFound
from application.notifications import announce, emergency_switched
from application.ports.clock import Clock
from application.ports.notify import Notifier
from application.ports.persistence import EMERGENCY_STOP, OperatorFlag, UnitOfWorkFactory
from domain.budget import BreakerState
from domain.errors import InvalidValue
from domain.strategy import StrategyConfig, reentry_blocked_until


@dataclass(frozen=True, slots=True, kw_only=True)
class FlagChange:
    """Who turns the emergency stop on or off, and why."""

    actor: str
    reason: str


class _EmergencySwitch:
    """Turn the emergency stop on or off: the one implementation behind EmergencyStop and
    Resume, which differ only in the direction (`_active`)."""

    _active: ClassVar[bool]

    def __init__(
        self, *, clock: Clock, uow: UnitOfWorkFactory, notifier: Notifier | None = None
    ) -> None:
        self._clock = clock
        self._uow = uow
        self._notifier = notifier

    async def execute(self, change: FlagChange) -> OperatorFlag:
        """Set or clear the flag, audited in the same transaction; clearing it also resets the
        circuit breaker.

        Raises:
            InvalidValue: no reason given.
        """
        if not change.reason.strip():
            raise InvalidValue("reason", change.reason, "say why")
        active = self._active
        now = self._clock.now()
        flag = OperatorFlag(
            name=EMERGENCY_STOP,
            active=active,
            set_by=change.actor,
            reason=change.reason,
            set_at=now,
        )
        async with self._uow() as uow:
            await uow.audit.append(
                change.actor,
                "emergency_stop.on" if active else "emergency_stop.off",
                "flag",
                EMERGENCY_STOP,
                {"reason": change.reason},
                at=now,
            )
            await uow.flags.set(flag)
            if not active:
                await uow.strategy.save_breaker(BreakerState())
            await uow.commit()
        announce(self._notifier, lambda: emergency_switched(flag))
        return flag


class RevocationProposer(Protocol):
    """Prepares the owners' revocation of the agent's role (`RevokeAgentRole`)."""

    async def propose(self, actor: str) -> object:
        """Prepare and audit it; never raises for an unreachable Safe (the stop holds)."""
        ...


class EmergencyStop(_EmergencySwitch):
    """Turn the emergency stop on: every plan is blocked until a human resumes. Under Safe
    custody it also prepares the owners' revocation of the agent's role (`revocation`)."""

    _active = True

    def __init__(
        self,
        *,
        clock: Clock,
        uow: UnitOfWorkFactory,
        notifier: Notifier | None = None,
        revocation: RevocationProposer | None = None,
    ) -> None:
        super().__init__(clock=clock, uow=uow, notifier=notifier)
        self._revocation = revocation

    async def execute(self, change: FlagChange) -> OperatorFlag:
        """Set the flag (at once), then prepare the revocation when under Safe custody."""
        flag = await super().execute(change)
        if self._revocation is not None:
            await self._revocation.propose(change.actor)
        return flag


class Resume(_EmergencySwitch):
    """Turn the emergency stop off and reset the circuit breaker; a human decision."""

    _active = False


class SetManualMvrv:
    """Store an operator's MVRV Z value, used (flagged manual) when Glassnode cannot answer."""

    def __init__(self, *, clock: Clock, uow: UnitOfWorkFactory) -> None:
        self._clock = clock
        self._uow = uow

    async def execute(self, value: Decimal, actor: str) -> Decimal:
        """Store the value with its time and who set it, audited.

        Raises:
            InvalidValue: the value is outside -5..20, a range MVRV Z has never left.
        """
        if not Decimal(-5) <= value <= Decimal(20):
            raise InvalidValue("mvrv_z_score", value, "must be between -5 and 20")
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.audit.append(
                actor, "market.manual_mvrv", "market", "mvrv_z_score", {"value": str(value)}, at=now
            )
            await uow.manual_mvrv.set_manual_mvrv(value, now, actor)
            await uow.commit()
        return value


class CooldownNotInForce(NotFound):
    """No re-entry cooldown is in force (no exit recorded, or it has run out): nothing to lift."""

    def __init__(self) -> None:
        super().__init__("re-entry cooldown", "in force")
        self.args = ("no re-entry cooldown is in force, so there is nothing to lift",)


@dataclass(frozen=True, slots=True, kw_only=True)
class CooldownLifted:
    """A re-entry cooldown a human ended early: whose exit, until when it would have run, who
    lifted it and why."""

    exit_at: datetime
    would_end_at: datetime
    lifted_by: str
    reason: str
    lifted_at: datetime


class LiftReentryCooldown:
    """End the cooldown after an exit early, so the strategy may buy BTC/ETH again; a human
    decision (approver), audited before it takes effect."""

    def __init__(self, *, clock: Clock, uow: UnitOfWorkFactory, strategy: StrategyConfig) -> None:
        self._clock = clock
        self._uow = uow
        self._limits = strategy.limits

    async def execute(self, change: FlagChange) -> CooldownLifted:
        """Clear the recorded exit time and audit who lifted the cooldown and why.

        Raises:
            InvalidValue: no reason given.
            CooldownNotInForce: no cooldown is in force (a NotFound).
        """
        if not change.reason.strip():
            raise InvalidValue("reason", change.reason, "say why")
        now = self._clock.now()
        async with self._uow() as uow:
            ratchet = await uow.strategy.ratchet()
            ends = reentry_blocked_until(ratchet.last_exit_at, self._limits)
            if ratchet.last_exit_at is None or ends is None or ends <= now:
                raise CooldownNotInForce()
            lifted = CooldownLifted(
                exit_at=ratchet.last_exit_at,
                would_end_at=ends,
                lifted_by=change.actor,
                reason=change.reason,
                lifted_at=now,
            )
            await uow.audit.append(
                change.actor,
                "reentry_cooldown.lifted",
                "strategy",
                "reentry_cooldown",
                {"reason": change.reason, "exit_at": lifted.exit_at, "would_end_at": ends},
                at=now,
            )
            await uow.strategy.save_ratchet(replace(ratchet, last_exit_at=None))
            await uow.commit()
        return lifted
