"""Approvals with several service instances: a standby records them, the leader executes them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from adapters.locks import TreasuryLock
from application.approvals import ApprovalCommand, ExecuteApprovedDecision, ExecuteWaitingApprovals
from application.cycle import CycleCommand, CycleOutcome
from domain.decisions import DecisionStatus
from domain.execution import ExecutedTransaction, StepStatus
from tests.fakes.treasury import FakePortfolio
from tests.unit.application.conftest import Treasury


class Standby:
    """A leadership check that says this instance is a standby."""

    async def confirm(self) -> bool:
        return False


def on_standby(t: Treasury) -> ExecuteApprovedDecision:
    """The treasury's execute-approved use case as a standby instance wires it."""
    return ExecuteApprovedDecision(
        clock=t.clock,
        uow=t.uow,
        portfolio=FakePortfolio(t.book),
        conditions=t.conditions,
        runner=t.runner,
        lock=TreasuryLock(None, timeout_s=1, leadership=Standby()),
    )


async def pending_then_approved(t: Treasury) -> str:
    result = await t.cycle.execute(CycleCommand())
    assert result.outcome is CycleOutcome.PENDING_APPROVAL
    await t.approve.execute(
        ApprovalCommand(decision_id=result.decision.id, approved=True, approver="approver:1")
    )
    return result.decision.id


async def status_of(t: Treasury, decision_id: str) -> DecisionStatus:
    async with t.uow() as uow:
        return (await uow.decisions.get(decision_id)).status


async def test_an_approval_on_a_standby_is_left_approved_and_the_leader_executes_it_once(
    all_cash: Treasury,
) -> None:
    decision_id = await pending_then_approved(all_cash)
    assert await on_standby(all_cash).execute(decision_id) is None
    assert all_cash.runner.executed == []
    assert await status_of(all_cash, decision_id) is DecisionStatus.APPROVED

    sweep = ExecuteWaitingApprovals(
        clock=all_cash.clock, uow=all_cash.uow, execute=all_cash.execute_approved
    )
    assert await sweep.execute() == [decision_id]
    assert await status_of(all_cash, decision_id) is DecisionStatus.EXECUTED
    assert await sweep.execute() == []
    assert len(all_cash.runner.executed) == 1


async def test_the_sweep_leaves_a_plan_that_already_has_steps_to_crash_recovery(
    all_cash: Treasury,
) -> None:
    decision_id = await pending_then_approved(all_cash)
    async with all_cash.uow() as uow:
        decision = await uow.decisions.get(decision_id)
        assert decision.plan_id is not None
        now = all_cash.clock.now()
        await uow.executions.add(
            ExecutedTransaction(
                id=f"{decision.plan_id}:0",
                plan_id=decision.plan_id,
                step_index=0,
                chain_id=31337,
                kind="deposit",
                description="started before a crash",
                status=StepStatus.BROADCAST,
                amount_usd=Decimal(1000),
                created_at=now,
                updated_at=now,
            )
        )
        await uow.commit()

    sweep = ExecuteWaitingApprovals(
        clock=all_cash.clock, uow=all_cash.uow, execute=all_cash.execute_approved
    )
    assert await sweep.execute() == []
    assert all_cash.runner.executed == []
    assert await status_of(all_cash, decision_id) is DecisionStatus.APPROVED


async def test_an_approval_the_leader_did_not_run_within_its_window_is_not_run_later(
    all_cash: Treasury,
) -> None:
    decision_id = await pending_then_approved(all_cash)
    assert await on_standby(all_cash).execute(decision_id) is None
    all_cash.clock.advance(timedelta(hours=25))  # no leader for longer than the 24 h window

    sweep = ExecuteWaitingApprovals(
        clock=all_cash.clock, uow=all_cash.uow, execute=all_cash.execute_approved
    )
    assert await sweep.execute() == []
    assert all_cash.runner.executed == []
