"""Start-up recovery: every decision a crash left approved is settled, with audit and notice."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from adapters.chain.journal import InMemoryStepJournal
from application.approvals import ApprovalCommand
from application.cycle import CycleCommand
from application.engine import ExecutionEngine
from application.ports.notify import EventKind
from application.recovery import Recover
from domain.decisions import Decision, DecisionStatus
from domain.execution import ExecutedTransaction, StepStatus
from tests.unit.application.conftest import Treasury, build_treasury
from tests.unit.application.test_engine import SENDER, FakeBuilder, FakeExecutor, signed
from tests.unit.notify.samples import RecordingNotifier

D = Decimal


@dataclass
class Crashed:
    treasury: Treasury
    decision: Decision
    executor: FakeExecutor
    journal: InMemoryStepJournal
    notifier: RecordingNotifier
    recover: Recover


@pytest.fixture
async def crashed() -> Crashed:
    """An approved decision whose execution the process never finished."""
    treasury = build_treasury(cash=400_000)
    pending = (await treasury.cycle.execute(CycleCommand(requested_by="operator:1"))).decision
    decision = await treasury.approve.execute(
        ApprovalCommand(decision_id=pending.id, approved=True, approver="approver:1")
    )
    journal = InMemoryStepJournal()
    executor = FakeExecutor(uow=treasury.uow, journal=journal)

    async def eth_usd() -> Decimal:
        return D(3000)

    engine = ExecutionEngine(
        uow_factory=treasury.uow,
        executor=executor,
        builder=FakeBuilder(),
        journal=journal,
        clock=treasury.clock,
        eth_usd=eth_usd,
        sender=SENDER,
    )
    notifier = RecordingNotifier()
    recover = Recover(uow=treasury.uow, runner=engine, clock=treasury.clock, notifier=notifier)
    return Crashed(treasury, decision, executor, journal, notifier, recover)


async def record_steps(crashed: Crashed, *statuses: tuple[str, StepStatus]) -> list[str]:
    """Steps of the decision's plan as the engine had recorded them when the process died."""
    now = crashed.treasury.clock.now()
    plan_id = crashed.decision.plan_id
    assert plan_id is not None
    ids = []
    async with crashed.treasury.uow() as uow:
        for index, (kind, status) in enumerate(statuses):
            done = status is StepStatus.CONFIRMED
            step = ExecutedTransaction(
                id=f"{plan_id}:{index}",
                plan_id=plan_id,
                step_index=index,
                chain_id=31337,
                kind=kind,
                description=f"{kind} step {index}",
                status=status,
                amount_usd=D(1000),
                created_at=now,
                updated_at=now,
                nonce=index if done else None,
                tx_hash=f"0x{index + 1:064x}" if done else None,
            )
            await uow.executions.add(step)
            ids.append(step.id)
        await uow.commit()
    return ids


async def settled_entry(crashed: Crashed) -> tuple[str, str, dict[str, object]]:
    async with crashed.treasury.uow() as uow:
        entries = await uow.audit.entries(limit=1000)
        assert await uow.audit.verify() is None
    (entry,) = [e for e in entries if e.action in ("plan.executed", "plan.failed")]
    return entry.actor, entry.action, dict(entry.payload)


async def status_of(crashed: Crashed) -> DecisionStatus:
    async with crashed.treasury.uow() as uow:
        return (await uow.decisions.get(crashed.decision.id)).status


async def test_a_decision_interrupted_before_any_step_was_recorded_is_failed_with_nothing_sent(
    crashed: Crashed,
) -> None:
    report = await crashed.recover.execute()

    assert [d.id for d in report.decisions] == [crashed.decision.id]
    assert await status_of(crashed) is DecisionStatus.FAILED
    actor, action, payload = await settled_entry(crashed)
    assert (actor, action, payload["outcome"], payload["steps"]) == (
        "recovery",
        "plan.failed",
        "failed",
        [],
    )
    assert "before any step was recorded; nothing was sent" in str(payload["error"])
    (event,) = crashed.notifier.of(EventKind.EXECUTION_FAILED)
    assert crashed.decision.id in event.fields["Decision"]
    assert crashed.executor.sent == []


async def test_a_decision_cut_off_after_money_moved_is_partially_executed_step_by_step(
    crashed: Crashed,
) -> None:
    ids = await record_steps(
        crashed,
        ("approve", StepStatus.CONFIRMED),
        ("deposit", StepStatus.CONFIRMED),
        ("approve", StepStatus.PLANNED),
        ("deposit", StepStatus.PLANNED),
    )
    await crashed.journal.record_attempt(signed(ids[2], 2))  # signed, never broadcast

    report = await crashed.recover.execute()

    assert await status_of(crashed) is DecisionStatus.PARTIALLY_EXECUTED
    assert report.decisions[0].notes is not None
    assert "2 of 4 steps confirmed" in report.decisions[0].notes
    _, action, payload = await settled_entry(crashed)
    assert (action, payload["outcome"]) == ("plan.failed", "partially_executed")
    steps = {s["id"]: s for s in payload["steps"]}  # type: ignore[attr-defined]
    assert [steps[i]["status"] for i in ids] == ["confirmed", "confirmed", "failed", "failed"]
    assert "cancelled by a no-op with the same nonce 2" in steps[ids[2]]["error"]
    assert "interrupted before it was signed; nothing was sent" in steps[ids[3]]["error"]
    assert crashed.executor.cancelled == [ids[2]]
    assert crashed.executor.sent == []
    (event,) = crashed.notifier.of(EventKind.EXECUTION_FAILED)
    assert "partially executed" in event.body


async def test_a_decision_whose_every_step_had_landed_is_executed(crashed: Crashed) -> None:
    await record_steps(
        crashed, ("approve", StepStatus.CONFIRMED), ("deposit", StepStatus.CONFIRMED)
    )

    await crashed.recover.execute()

    assert await status_of(crashed) is DecisionStatus.EXECUTED
    actor, action, payload = await settled_entry(crashed)
    assert (actor, action, payload["outcome"]) == ("recovery", "plan.executed", "executed")
    assert len(crashed.notifier.of(EventKind.PLAN_EXECUTED)) == 1


async def test_a_decision_waits_while_its_step_is_still_pending_on_chain_then_settles(
    crashed: Crashed,
) -> None:
    ids = await record_steps(crashed, ("approve", StepStatus.PLANNED))
    await crashed.journal.record_attempt(signed(ids[0], 0))
    crashed.executor.unsettled.add(ids[0])

    report = await crashed.recover.execute()

    assert report.unsettled == (crashed.decision.id,)
    assert await status_of(crashed) is DecisionStatus.APPROVED
    assert crashed.notifier.events == []

    crashed.executor.unsettled.clear()
    again = await crashed.recover.execute()
    assert again.unsettled == ()
    assert await status_of(crashed) is DecisionStatus.FAILED


async def test_recovery_with_nothing_interrupted_changes_nothing(crashed: Crashed) -> None:
    await record_steps(crashed, ("approve", StepStatus.CONFIRMED))
    await crashed.recover.execute()
    report = await crashed.recover.execute()
    assert (report.steps, report.decisions, report.unsettled) == ((), (), ())
