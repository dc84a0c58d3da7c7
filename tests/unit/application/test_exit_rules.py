"""Exits through the decision cycle: who may skip a human, and no buying straight back."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from application.approvals import ApprovalCommand
from application.cycle import CycleCommand, CycleOutcome
from domain.decisions import DecisionStatus
from tests.unit.application.conftest import Treasury, build_treasury

D = Decimal


async def test_an_exit_the_advisor_asks_for_in_a_calm_market_waits_for_approval(
    balanced: Treasury,
) -> None:
    balanced.advisor.asks_exit = True
    before = balanced.book.state().volatile_value()
    result = await balanced.cycle.execute(CycleCommand(requested_by="api"))
    assert result.plan is not None
    assert result.outcome is CycleOutcome.PENDING_APPROVAL, (
        result.verdict and result.verdict.reasons
    )
    assert result.decision.status is DecisionStatus.PENDING
    assert result.execution is None
    assert balanced.book.state().volatile_value() == before


async def test_the_cycle_after_a_black_swan_exit_does_not_buy_straight_back(
    balanced: Treasury,
) -> None:
    balanced.market.set(btc_change_24h=D("-0.22"))
    crash = await balanced.cycle.execute(CycleCommand())
    assert crash.outcome is CycleOutcome.EXECUTED
    assert balanced.book.state().volatile_value() == 0
    # An hour later the market is calm and cheap: the ladder wants the whole sleeve in BTC/ETH.
    balanced.clock.advance(timedelta(hours=1))
    balanced.market.set(btc_change_24h=D("0.01"), mvrv_z_score=D("-0.5"))
    calm = await balanced.cycle.execute(CycleCommand(force=True))
    assert calm.signal.target_allocations.tactical > 0
    bought = [
        t.describe()
        for t in (calm.plan.required_transactions if calm.plan else ())
        if t.to_asset in ("WBTC", "WETH")
    ]
    assert bought == []
    assert balanced.book.state().volatile_value() == 0


async def test_after_the_cooldown_with_the_trigger_cleared_the_treasury_may_re_enter(
    balanced: Treasury,
) -> None:
    balanced.market.set(btc_change_24h=D("-0.22"))
    await balanced.cycle.execute(CycleCommand())
    balanced.clock.advance(timedelta(hours=73))
    balanced.market.set(btc_change_24h=D("0.01"), mvrv_z_score=D("-0.5"))
    result = await balanced.cycle.execute(CycleCommand(force=True))
    assert result.plan is not None
    assert any(t.to_asset in ("WBTC", "WETH") for t in result.plan.required_transactions)


async def test_after_the_cooldown_nothing_is_bought_while_the_trigger_persists(
    balanced: Treasury,
) -> None:
    balanced.market.set(btc_change_24h=D("-0.22"))
    await balanced.cycle.execute(CycleCommand())
    balanced.clock.advance(timedelta(hours=73))
    balanced.market.set(mvrv_z_score=D("-0.5"))
    result = await balanced.cycle.execute(CycleCommand(force=True))
    assert not any(
        t.to_asset in ("WBTC", "WETH")
        for t in (result.plan.required_transactions if result.plan else ())
    )
    assert balanced.book.state().volatile_value() == 0


async def test_a_buy_approved_after_a_black_swan_exit_is_refused_during_the_cooldown() -> None:
    t = build_treasury(cash=380_000, holdings={("wallet", "WBTC"): D(20_000)})
    waiting = await t.cycle.execute(CycleCommand())
    assert waiting.outcome is CycleOutcome.PENDING_APPROVAL
    assert waiting.plan is not None
    assert any(tx.to_asset in ("WBTC", "WETH") for tx in waiting.plan.required_transactions)
    # The market crashes while the buy waits: the exit goes out, then a human approves the buy.
    t.market.set(btc_change_24h=D("-0.22"))
    crash = await t.cycle.execute(CycleCommand())
    assert crash.outcome is CycleOutcome.EXECUTED
    t.clock.advance(timedelta(hours=1))
    await t.approve.execute(
        ApprovalCommand(decision_id=waiting.decision.id, approved=True, approver="bob")
    )
    report = await t.execute_approved.execute(waiting.decision.id)
    assert report is not None
    assert not report.succeeded
    assert report.error is not None
    assert "reentry_cooldown" in report.error
    assert t.book.state().volatile_value() == 0
