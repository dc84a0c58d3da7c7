"""The decision cycle and approvals, end to end over fakes and the in-memory unit of work."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from application.approvals import ApprovalCommand
from application.cycle import CycleCommand, CycleOutcome
from application.errors import CycleBusy, NotFound
from application.operator import FlagChange
from application.ports.persistence import EMERGENCY_STOP
from domain.decisions import DecisionStatus
from domain.errors import DecisionExpired, DecisionNotPending, InvalidValue
from domain.execution import StepStatus
from tests.unit.application.conftest import BALANCED, Treasury, build_treasury

D = Decimal


async def audit_actions(t: Treasury) -> list[str]:
    async with t.uow() as uow:
        return [e.action for e in await uow.audit.entries(limit=1000)]


async def test_a_hold_still_sweeps_idle_cash_above_the_buffer_into_the_base_venues() -> None:
    # At its euphoria targets with the tactical sleeve's 16 % idle in the wallet: the advisor
    # holds (no drift), and the cycle proposes the sweep alone, deposits of wallet USDC into
    # Aave, Curve and Pendle up to their caps. $54,000 in all: above $50,000, so it waits for a
    # human like any plan that size.
    treasury = build_treasury(cash=64_000, holdings=BALANCED)
    result = await treasury.cycle.execute(CycleCommand())
    assert result.plan is not None
    assert [(t.tx_type.value, t.protocol) for t in result.plan.required_transactions] == [
        ("deposit", "aave"),
        ("deposit", "curve"),
        ("deposit", "pendle"),
    ]
    assert "idle cash above the buffer swept into aave, curve, pendle" in result.plan.notes
    assert result.outcome is CycleOutcome.PENDING_APPROVAL


async def test_a_balanced_treasury_holds_and_records_why(balanced: Treasury) -> None:
    result = await balanced.cycle.execute(CycleCommand())
    assert result.outcome is CycleOutcome.HELD
    assert result.plan is None
    assert "within the band" in result.decision.reasoning
    async with balanced.uow() as uow:
        stored = await uow.decisions.get(result.decision.id)
        assert stored.status is DecisionStatus.HELD
        assert (await uow.signals.latest()) == result.signal
        assert (await uow.strategy.ratchet()).last_mvrv_z_score == D(2)
        assert (await uow.snapshots.latest()) is not None
        assert await uow.audit.verify() is None
    assert await audit_actions(balanced) == ["decision.created"]
    assert len(balanced.state_file.written) == 1
    assert set(result.timings_ms) >= {
        "market",
        "portfolio",
        "signal",
        "advisor",
        "plan",
        "record",
        "snapshot",
    }


async def test_crossing_mvrv_5_sells_half_the_sleeve_automatically(balanced: Treasury) -> None:
    await balanced.cycle.execute(CycleCommand())
    balanced.market.set(mvrv_z_score=D("5.2"), fear_greed_index=80, funding_rate=D("0.0003"))
    result = await balanced.cycle.execute(CycleCommand())
    assert result.outcome is CycleOutcome.EXECUTED, result.verdict and result.verdict.reasons
    assert result.signal.trigger == "MVRV Z 5.2 crossed 5"
    assert result.execution is not None
    assert result.execution.succeeded
    state = balanced.book.state()
    assert state.volatile_value() < D(48_100)  # about half of the $96K sleeve was sold
    async with balanced.uow() as uow:
        assert (await uow.decisions.get(result.decision.id)).status is DecisionStatus.EXECUTED
        steps = await uow.executions.by_plan(result.plan.plan_id)  # type: ignore[union-attr]
        assert [s.status for s in steps] == [StepStatus.CONFIRMED, StepStatus.CONFIRMED]
        assert (await uow.strategy.slippage_budget()).used_usd > 0
    assert (await audit_actions(balanced))[-3:] == [
        "decision.created",
        "plan.allowed",
        "plan.executed",
    ]


async def test_a_large_move_waits_for_approval_and_executes_once(all_cash: Treasury) -> None:
    result = await all_cash.cycle.execute(CycleCommand(requested_by="operator:abc"))
    assert result.outcome is CycleOutcome.PENDING_APPROVAL
    assert all_cash.runner.executed == []
    decision = result.decision
    assert decision.status is DecisionStatus.PENDING
    assert decision.expires_at == all_cash.clock.now() + timedelta(hours=24)
    assert any("approval_threshold FAILED" in r for r in decision.verdict_reasons)

    approved = await all_cash.approve.execute(
        ApprovalCommand(
            decision_id=decision.id, approved=True, approver="approver:1234", notes="ok"
        )
    )
    assert (approved.status, approved.approver) == (DecisionStatus.APPROVED, "approver:1234")
    report = await all_cash.execute_approved.execute(decision.id)
    assert report is not None
    assert report.succeeded
    assert await all_cash.execute_approved.execute(decision.id) is None
    assert all_cash.runner.executed == [decision.plan_id]
    assert all_cash.book.state().volatile_value() > D(90_000)
    with pytest.raises(DecisionNotPending):
        await all_cash.approve.execute(
            ApprovalCommand(decision_id=decision.id, approved=True, approver="x")
        )
    actions = await audit_actions(all_cash)
    assert actions.index("decision.approved") < actions.index("plan.executed")


async def test_a_rejected_decision_never_executes(all_cash: Treasury) -> None:
    result = await all_cash.cycle.execute(CycleCommand())
    rejected = await all_cash.approve.execute(
        ApprovalCommand(
            decision_id=result.decision.id, approved=False, approver="approver:1", notes="too big"
        )
    )
    assert (rejected.status, rejected.notes) == (DecisionStatus.REJECTED, "too big")
    assert await all_cash.execute_approved.execute(result.decision.id) is None
    assert all_cash.runner.executed == []


async def test_no_new_plan_is_made_while_a_decision_waits_for_a_human(all_cash: Treasury) -> None:
    first = await all_cash.cycle.execute(CycleCommand())
    assert first.outcome is CycleOutcome.PENDING_APPROVAL
    again = await all_cash.cycle.execute(CycleCommand(force=True))
    assert again.outcome is CycleOutcome.HELD
    assert f"decision {first.decision.id} is waiting for approval" in again.decision.reasoning
    async with all_cash.uow() as uow:
        pending = await uow.decisions.list_by_status(DecisionStatus.PENDING)
    assert [d.id for d in pending] == [first.decision.id]
    assert all_cash.runner.executed == []

    await all_cash.approve.execute(
        ApprovalCommand(decision_id=first.decision.id, approved=False, approver="approver:1")
    )
    fresh = await all_cash.cycle.execute(CycleCommand())
    assert fresh.outcome is CycleOutcome.PENDING_APPROVAL
    assert fresh.decision.id != first.decision.id


async def test_a_black_swan_exit_is_not_held_behind_a_pending_decision(
    balanced: Treasury,
) -> None:
    held = await balanced.cycle.execute(CycleCommand())
    review = replace(
        held.decision,
        id="dec-under-review",
        status=DecisionStatus.PENDING,
        expires_at=balanced.clock.now() + timedelta(hours=24),
    )
    async with balanced.uow() as uow:
        await uow.decisions.add(review)
        await uow.commit()
    # While someone reviews a decision, the market crashes: the black-swan exit goes out.
    balanced.market.set(btc_change_24h=D("-0.22"))
    crash = await balanced.cycle.execute(CycleCommand())
    assert crash.plan is not None
    assert crash.plan.kind.value == "emergency_exit"
    assert crash.outcome is CycleOutcome.EXECUTED
    assert balanced.book.state().volatile_value() == 0


async def test_unknown_decisions_are_not_found(all_cash: Treasury) -> None:
    with pytest.raises(NotFound):
        await all_cash.approve.execute(
            ApprovalCommand(decision_id="nope", approved=True, approver="a")
        )


async def test_approval_after_the_window_expires_the_decision(all_cash: Treasury) -> None:
    result = await all_cash.cycle.execute(CycleCommand())
    all_cash.clock.advance(timedelta(hours=25))
    with pytest.raises(DecisionExpired):
        await all_cash.approve.execute(
            ApprovalCommand(decision_id=result.decision.id, approved=True, approver="a")
        )
    async with all_cash.uow() as uow:
        assert (await uow.decisions.get(result.decision.id)).status is DecisionStatus.EXPIRED


async def test_the_scheduler_expiry_clears_stale_pending_decisions(all_cash: Treasury) -> None:
    result = await all_cash.cycle.execute(CycleCommand())
    assert (await all_cash.expire.execute()).expired == ()
    all_cash.clock.advance(timedelta(hours=24))
    expired = await all_cash.expire.execute()
    assert expired.expired == ((result.decision.id, "approval window passed"),)


async def test_emergency_stop_blocks_execution_until_resume(balanced: Treasury) -> None:
    await balanced.stop.execute(FlagChange(actor="operator:1", reason="investigating"))
    balanced.market.set(mvrv_z_score=D("5.2"), fear_greed_index=80, funding_rate=D("0.0003"))
    stopped = await balanced.cycle.execute(CycleCommand())
    assert stopped.outcome is CycleOutcome.REJECTED
    assert any("emergency_stop FAILED" in r for r in stopped.decision.verdict_reasons)
    assert balanced.runner.executed == []
    await balanced.resume.execute(FlagChange(actor="approver:1", reason="all clear"))
    resumed = await balanced.cycle.execute(CycleCommand())
    assert resumed.outcome is CycleOutcome.EXECUTED
    with pytest.raises(InvalidValue):
        await balanced.stop.execute(FlagChange(actor="operator:1", reason=" "))


async def test_an_approved_plan_is_refused_if_the_stop_went_on_meanwhile(
    all_cash: Treasury,
) -> None:
    result = await all_cash.cycle.execute(CycleCommand())
    await all_cash.approve.execute(
        ApprovalCommand(decision_id=result.decision.id, approved=True, approver="a")
    )
    await all_cash.stop.execute(FlagChange(actor="operator:1", reason="halt"))
    report = await all_cash.execute_approved.execute(result.decision.id)
    assert report is not None
    assert not report.succeeded
    assert all_cash.runner.executed == []
    async with all_cash.uow() as uow:
        failed = await uow.decisions.get(result.decision.id)
    assert failed.status is DecisionStatus.FAILED
    assert failed.notes is not None
    assert "emergency_stop" in failed.notes


async def test_three_failed_executions_trip_the_circuit_breaker(balanced: Treasury) -> None:
    balanced.runner.fail_at = 0
    # Each sale stays within the $50K approval limit in total (nothing sells, so the sleeve is
    # $96K every time): 25 % of it above 3.5, then 50 % above 5.
    levels = [("3.6", 70), ("5.1", 80), ("5.5", 85)]
    for mvrv, fng in levels:
        balanced.market.set(mvrv_z_score=D(mvrv), fear_greed_index=fng, funding_rate=D("0.0003"))
        result = await balanced.cycle.execute(CycleCommand())
        assert result.outcome is CycleOutcome.FAILED
    async with balanced.uow() as uow:
        assert await uow.flags.is_active(EMERGENCY_STOP)
        assert (await uow.strategy.breaker()).consecutive_failures == 3
    balanced.market.set(mvrv_z_score=D("9.5"))
    blocked = await balanced.cycle.execute(CycleCommand())
    assert blocked.outcome is CycleOutcome.REJECTED
    assert "emergency_stop.on" in await audit_actions(balanced)


async def test_a_black_swan_exits_volatile_positions_without_approval(balanced: Treasury) -> None:
    balanced.market.set(btc_change_24h=D("-0.22"))
    result = await balanced.cycle.execute(CycleCommand())
    assert result.outcome is CycleOutcome.EXECUTED
    assert result.plan is not None
    assert result.plan.kind.value == "emergency_exit"
    assert balanced.book.state().volatile_value() == 0


async def test_only_one_cycle_runs_at_a_time(balanced: Treasury) -> None:
    balanced.lock.busy = True
    with pytest.raises(CycleBusy):
        await balanced.cycle.execute(CycleCommand())


async def test_manual_mvrv_is_stored_with_who_and_when(balanced: Treasury) -> None:
    await balanced.manual_mvrv.execute(D("2.4"), "operator:1")
    async with balanced.uow() as uow:
        stored = await uow.manual_mvrv.latest()
    assert stored is not None
    assert (stored.value, stored.set_by) == (D("2.4"), "operator:1")
    with pytest.raises(InvalidValue):
        await balanced.manual_mvrv.execute(D(30), "operator:1")
