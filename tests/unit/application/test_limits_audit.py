"""A change of limits at start-up is audited; the same limits are not recorded twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from adapters.persistence.memory import InMemoryUnitOfWorkFactory
from application.limits import RecordLimitsInForce
from domain.strategy import StrategyConfig
from tests.fakes.treasury import FixedClock

CLOCK = FixedClock(datetime(2026, 3, 1, 12, tzinfo=UTC))


async def _audit(uow: InMemoryUnitOfWorkFactory) -> list[tuple[str, dict[str, object]]]:
    async with uow() as unit:
        return [(e.action, dict(e.payload)) for e in await unit.audit.tail(100)]


async def test_a_change_of_the_approval_threshold_between_two_starts_is_audited() -> None:
    uow = InMemoryUnitOfWorkFactory()
    spec = StrategyConfig()
    stricter = replace(
        spec,
        limits=replace(spec.limits, approval_threshold_usd=Decimal(20_000)),
        planner=replace(spec.planner, approval_threshold_usd=Decimal(20_000)),
    )

    await RecordLimitsInForce(clock=CLOCK, uow=uow, limits=spec.limits_in_force()).execute()
    await RecordLimitsInForce(clock=CLOCK, uow=uow, limits=spec.limits_in_force()).execute()
    await RecordLimitsInForce(clock=CLOCK, uow=uow, limits=stricter.limits_in_force()).execute()

    entries = await _audit(uow)
    assert [action for action, _ in entries] == ["config.limits_in_force", "config.limits_changed"]
    first, changed = entries[0][1], entries[1][1]
    assert first["limits"]["approval_threshold_usd"] == "50000"  # type: ignore[index]
    assert changed["changed"] == {"approval_threshold_usd": {"old": "50000", "new": "20000"}}
    async with uow() as unit:
        assert await unit.audit.verify() is None
