"""A human may lift the re-entry cooldown after an exit early; the lift is audited."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from application.cycle import CycleCommand
from application.errors import NotFound
from application.operator import FlagChange, LiftReentryCooldown
from domain.errors import InvalidValue
from domain.strategy import StrategyConfig
from tests.unit.application.conftest import Treasury

D = Decimal


def _lift(t: Treasury) -> LiftReentryCooldown:
    return LiftReentryCooldown(clock=t.clock, uow=t.uow, strategy=StrategyConfig())


async def test_a_lifted_cooldown_lets_the_next_cycle_re_enter_and_is_audited(
    balanced: Treasury,
) -> None:
    balanced.market.set(btc_change_24h=D("-0.22"))
    await balanced.cycle.execute(CycleCommand())
    balanced.clock.advance(timedelta(hours=2))
    lifted = await _lift(balanced).execute(FlagChange(actor="alice", reason="crash was a glitch"))
    assert lifted.lifted_by == "alice"
    assert lifted.would_end_at == lifted.exit_at + timedelta(hours=72)
    async with balanced.uow() as uow:
        entries = await uow.audit.entries(limit=1000)
        assert await uow.audit.verify() is None
    entry = next(e for e in entries if e.action == "reentry_cooldown.lifted")
    assert entry.actor == "alice"
    assert entry.payload["reason"] == "crash was a glitch"
    balanced.market.set(btc_change_24h=D("0.01"), mvrv_z_score=D("-0.5"))
    result = await balanced.cycle.execute(CycleCommand(force=True))
    assert result.plan is not None
    assert any(t.to_asset in ("WBTC", "WETH") for t in result.plan.required_transactions)


async def test_there_is_nothing_to_lift_without_an_exit_or_after_the_cooldown(
    balanced: Treasury,
) -> None:
    with pytest.raises(NotFound):
        await _lift(balanced).execute(FlagChange(actor="alice", reason="why not"))
    balanced.market.set(btc_change_24h=D("-0.22"))
    await balanced.cycle.execute(CycleCommand())
    balanced.clock.advance(timedelta(hours=73))
    with pytest.raises(NotFound):
        await _lift(balanced).execute(FlagChange(actor="alice", reason="why not"))


async def test_lifting_the_cooldown_needs_a_reason(balanced: Treasury) -> None:
    balanced.market.set(btc_change_24h=D("-0.22"))
    await balanced.cycle.execute(CycleCommand())
    with pytest.raises(InvalidValue):
        await _lift(balanced).execute(FlagChange(actor="alice", reason="  "))
