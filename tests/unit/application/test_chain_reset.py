"""Steps signed for a chain that no longer exists are settled as "chain reset", audited, and
never reported (or rebroadcast) again."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from adapters.chain.journal import InMemoryStepJournal
from adapters.persistence.memory import InMemoryUnitOfWorkFactory
from application.chain_reset import SettleChainReset
from domain.execution import ExecutedTransaction, StepStatus
from tests.contracts.step_journal import CHAIN, NEW, OLD, SENDER, attempt
from tests.fakes.treasury import FixedClock

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def step(step_id: str, status: StepStatus) -> ExecutedTransaction:
    return ExecutedTransaction(
        id=step_id,
        plan_id=step_id.split(":")[0],
        step_index=int(step_id.split(":")[1]),
        chain_id=CHAIN,
        kind="deposit",
        description="deposit 10,000 USDC into aave",
        status=status,
        amount_usd=Decimal(10_000),
        created_at=NOW,
        updated_at=NOW,
        from_address=SENDER,
    )


async def test_a_step_signed_for_a_vanished_chain_fails_as_chain_reset_with_an_audit_entry() -> (
    None
):
    clock = FixedClock(NOW)
    uow = InMemoryUnitOfWorkFactory(clock=clock)
    old = InMemoryStepJournal(OLD)
    async with uow() as unit:
        await unit.executions.add(step("plan:0", StepStatus.CONFIRMED))
        await unit.executions.add(step("plan:1", StepStatus.PLANNED))
        await unit.commit()
    await old.record_attempt(attempt("plan:1", 1))
    await old.record_attempt(attempt("legacy-seed:2", 2))  # a step with no plan row

    new = old.reopen(NEW)
    settle = SettleChainReset(uow_factory=uow, journal=new, clock=clock, chain_id=CHAIN)
    report = await settle.execute()

    assert report.settled == ("plan:1", "legacy-seed:2")
    async with uow() as unit:
        settled = await unit.executions.get("plan:1")
        untouched = await unit.executions.get("plan:0")
        audit = await unit.audit.entries(limit=100)
    assert settled.status is StepStatus.FAILED
    assert settled.error is not None
    assert settled.error.startswith("chain reset")
    assert settled.nonce == 1
    assert untouched.status is StepStatus.CONFIRMED
    resets = [e for e in audit if e.action == "execution.chain_reset"]
    assert [e.subject_id for e in resets] == ["plan:1", "legacy-seed:2"]
    assert resets[0].payload["chain_instance"] == OLD
    assert resets[0].payload["status"] == "failed"
    assert await new.unfinished(CHAIN, SENDER) == ()
    assert await new.highest_nonce(CHAIN, SENDER) is None

    again = await settle.execute()
    assert again.settled == ()


async def test_nothing_is_settled_on_the_chain_the_steps_were_signed_for() -> None:
    clock = FixedClock(NOW)
    uow = InMemoryUnitOfWorkFactory(clock=clock)
    journal = InMemoryStepJournal(OLD)
    await journal.record_attempt(attempt("plan:0", 0))
    settle = SettleChainReset(uow_factory=uow, journal=journal, clock=clock, chain_id=CHAIN)
    assert (await settle.execute()).settled == ()
    assert [a.step_id for a in await journal.unfinished(CHAIN, SENDER)] == ["plan:0"]


async def test_the_steps_of_a_batch_signed_for_a_vanished_chain_fail_as_chain_reset() -> None:
    clock = FixedClock(NOW)
    uow = InMemoryUnitOfWorkFactory(clock=clock)
    old = InMemoryStepJournal(OLD)
    async with uow() as unit:
        for index in range(3):
            await unit.executions.add(step(f"plan:{index}", StepStatus.PLANNED))
        await unit.commit()
    await old.record_attempt(attempt("plan", 4))  # the whole plan as one Safe batch

    settle = SettleChainReset(uow_factory=uow, journal=old.reopen(NEW), clock=clock, chain_id=CHAIN)
    assert (await settle.execute()).settled == ("plan",)
    async with uow() as unit:
        steps = await unit.executions.by_plan("plan")
    assert [s.status for s in steps] == [StepStatus.FAILED] * 3
    assert all((s.error or "").startswith("chain reset") for s in steps)
    assert {s.nonce for s in steps} == {4}
