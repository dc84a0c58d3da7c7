"""The limits in force: recorded in the audit log at start-up when they are new or changed.

A treasury whose approval threshold was raised between two starts must say so in the same
hash-chained log as its decisions. At start-up the service compares the limits it was built
with (`StrategyConfig.limits_in_force`) with the last ones it recorded: the first start records
`config.limits_in_force`; a start with different numbers records `config.limits_changed` with
the old and new value of each changed one; a start with the same numbers records nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from application.ports.clock import Clock
from application.ports.persistence import UnitOfWorkFactory
from domain.audit import AuditEntry

SUBJECT_TYPE = "config"
SUBJECT_ID = "limits"


class RecordLimitsInForce:
    """Audit the limits this process runs with, when they differ from the last recorded."""

    def __init__(self, *, clock: Clock, uow: UnitOfWorkFactory, limits: Mapping[str, str]) -> None:
        self._clock = clock
        self._uow = uow
        self._limits = dict(limits)

    async def execute(self, actor: str = "system") -> AuditEntry | None:
        """The audit entry written, or None when the limits are those last recorded."""
        async with self._uow() as uow:
            history = await uow.audit.for_subject(SUBJECT_TYPE, SUBJECT_ID)
            last = history[-1].payload.get("limits") if history else None
            if isinstance(last, Mapping) and dict(last) == self._limits:
                return None
            payload: dict[str, object] = {"limits": self._limits}
            if isinstance(last, Mapping):
                names = sorted(set(last) | set(self._limits))
                payload["changed"] = {
                    name: {"old": last.get(name), "new": self._limits.get(name)}
                    for name in names
                    if last.get(name) != self._limits.get(name)
                }
                action = "config.limits_changed"
            else:
                action = "config.limits_in_force"
            entry = await uow.audit.append(
                actor, action, SUBJECT_TYPE, SUBJECT_ID, payload, at=self._clock.now()
            )
            await uow.commit()
            return entry
