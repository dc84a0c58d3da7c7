"""The execution engine with a batch sender (Safe custody): a plan is ONE transaction, its steps
settle together, and reconciling after a crash settles a batch by its id (the plan id)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from adapters.chain.journal import InMemoryStepJournal
from adapters.persistence.memory import InMemoryUnitOfWorkFactory
from application.engine import ExecutionEngine, batch_id_of
from application.ports.chain import (
    BatchSimulation,
    BroadcastAttempt,
    PlanSimulation,
    SendReceipt,
    SimulationFailed,
    TransactionRequest,
)
from domain.execution import StepStatus
from tests.unit.application.test_engine import (
    CHAIN,
    NOW,
    SENDER,
    DependentBuilder,
    FakeBuilder,
    FakeExecutor,
    make_rig,
    move,
    plan,
)

SAFE = "0x" + "5a" * 20


def receipt(number: int, *, success: bool = True) -> SendReceipt:
    return SendReceipt(
        tx_hash=f"0x{number:064x}",
        nonce=number - 1,
        success=success,
        gas_estimated=300_000,
        gas_used=250_000,
        effective_gas_price=2 * 10**9,
        block_number=200 + number,
    )


@dataclass
class FakeBatchSender:
    """Records each batch; `refuse` fails the simulation, `revert` mines a failed batch."""

    refuse: str | None = None
    revert: bool = False
    batches: list[tuple[str, int]] = field(default_factory=list)

    @property
    def accounts(self) -> dict[str, str]:
        return {"safe": SAFE, "agent": SENDER, "module": "0x" + "70" * 20}

    async def simulate(self, requests: tuple[TransactionRequest, ...]) -> BatchSimulation:
        if self.refuse:
            return BatchSimulation(success=False, gas_estimate=0, revert_reason=self.refuse)
        return BatchSimulation(success=True, gas_estimate=300_000)

    async def send(self, requests: tuple[TransactionRequest, ...], batch_id: str) -> SendReceipt:
        self.batches.append((batch_id, len(requests)))
        return receipt(len(self.batches), success=not self.revert)


class NoPlanSimulation(FakeExecutor):
    async def simulate_plan(
        self, requests: tuple[TransactionRequest, ...], eth_usd: Decimal
    ) -> PlanSimulation:
        raise AssertionError("a batch is simulated by the batch sender, not step by step")


@dataclass
class Rig:
    engine: ExecutionEngine
    executor: FakeExecutor
    batch: FakeBatchSender
    uow: InMemoryUnitOfWorkFactory
    journal: InMemoryStepJournal


@pytest.fixture
def rig() -> Rig:
    batch = FakeBatchSender()
    base = make_rig(NoPlanSimulation, sender=SAFE, batch=batch)
    return Rig(
        engine=base.engine,
        executor=base.executor,
        batch=batch,
        uow=base.uow,
        journal=base.journal,
    )


async def audit(rig: Rig) -> list[tuple[str, dict[str, object]]]:
    async with rig.uow() as uow:
        return [(e.action, e.payload) for e in await uow.audit.entries(limit=1000)]


async def test_a_plan_is_sent_as_one_batch_and_its_steps_settle_together(rig: Rig) -> None:
    report = await rig.engine.execute(plan(move("aave", 10_000), move("curve", 5_000)), "dec-1")
    assert report.succeeded, report.error
    assert rig.batch.batches == [("plan-1", 4)]
    assert rig.executor.sent == []
    assert [s.status for s in report.steps] == [StepStatus.CONFIRMED] * 4
    assert {s.tx_hash for s in report.steps} == {f"0x{1:064x}"}
    assert {s.from_address for s in report.steps} == {SAFE}
    # The gas is paid once: 250,000 gas x 2 gwei = 0.0005 ETH at $3,000.
    assert report.gas_cost_usd == Decimal("1.5")
    assert report.steps[0].gas_used == 250_000
    assert [s.gas_used for s in report.steps[1:]] == [None] * 3
    entries = await audit(rig)
    batch = next(payload for action, payload in entries if action == "execution.batch_confirmed")
    assert batch["tx_hash"] == f"0x{1:064x}"
    assert batch["safe"] == SAFE
    assert batch["agent"] == SENDER
    calls = batch["calls"]
    assert isinstance(calls, list)
    assert [c["step"] for c in calls] == [f"plan-1:{i}" for i in range(4)]
    assert entries[-1][0] == "execution.completed"


async def test_a_batch_that_fails_its_simulation_sends_nothing(rig: Rig) -> None:
    rig.batch.refuse = "ConditionViolation(FunctionNotAllowed)"
    report = await rig.engine.execute(plan(move("aave", 10_000)), "dec-1")
    assert not report.succeeded
    assert rig.batch.batches == []
    assert all(s.status is StepStatus.FAILED for s in report.steps)
    assert all("FunctionNotAllowed" in (s.error or "") for s in report.steps)
    assert all("nothing was sent" in (s.error or "") for s in report.steps)


async def test_a_batch_that_reverts_fails_every_step_and_moves_nothing(rig: Rig) -> None:
    rig.batch.revert = True
    report = await rig.engine.execute(plan(move("aave", 10_000)), "dec-1")
    assert not report.succeeded
    assert [s.status for s in report.steps] == [StepStatus.FAILED] * 2
    assert report.realised_slippage_usd == 0
    assert "execution.batch_failed" in [action for action, _ in await audit(rig)]


async def test_a_plan_run_move_by_move_sends_one_batch_per_move(rig: Rig) -> None:
    rig.engine._builder = DependentBuilder(lambda: bool(rig.batch.batches))
    report = await rig.engine.execute(plan(move("aave", 10_000), move("curve", 5_000)), "dec-1")
    assert report.succeeded, report.error
    assert rig.batch.batches == [("plan-1", 2), ("plan-1+2", 2)]
    assert batch_id_of("plan-1", 2) == "plan-1+2"


async def _crash_after_intent(rig: Rig, *, journaled: bool) -> list[str]:
    """The state a crash leaves: steps PLANNED, and (if `journaled`) the batch signed."""
    the_plan = plan(move("aave", 10_000), move("curve", 5_000))
    built = [
        (tx, r) for tx in the_plan.required_transactions for r in await FakeBuilder().build(tx)
    ]
    steps = await rig.engine._persist_intent(the_plan, "dec-1", built)
    if journaled:
        await rig.journal.record_attempt(
            BroadcastAttempt(
                step_id="plan-1",
                chain_id=CHAIN,
                sender=SENDER,
                nonce=0,
                tx_hash=f"0x{1:064x}",
                raw_transaction="0x02",
                max_fee_per_gas=10**9,
                max_priority_fee_per_gas=10**8,
                gas_limit=400_000,
                gas_estimated=300_000,
                attempt=1,
                recorded_at=NOW,
            )
        )
    return [s.id for s in steps]


async def test_reconcile_confirms_every_step_of_a_batch_found_mined(rig: Rig) -> None:
    ids = await _crash_after_intent(rig, journaled=True)
    rig.executor.mined["plan-1"] = receipt(1)
    changed = await rig.engine.reconcile()
    assert [s.id for s in changed] == ids
    assert all(s.status is StepStatus.CONFIRMED for s in changed)
    assert {s.tx_hash for s in changed} == {f"0x{1:064x}"}
    assert [s.gas_used for s in changed] == [250_000, None, None, None]
    assert rig.batch.batches == []
    assert await rig.engine.reconcile() == []


async def test_reconcile_cancels_a_signed_unsent_batch_and_fails_its_steps(rig: Rig) -> None:
    await _crash_after_intent(rig, journaled=True)
    changed = await rig.engine.reconcile()
    assert rig.executor.cancelled == ["plan-1"]
    assert all(s.status is StepStatus.FAILED for s in changed)
    assert all("never ran" in (s.error or "") for s in changed)
    assert len(changed) == 4
    assert rig.batch.batches == []


async def test_reconcile_fails_the_steps_of_a_batch_never_signed(rig: Rig) -> None:
    await _crash_after_intent(rig, journaled=False)
    changed = await rig.engine.reconcile()
    assert len(changed) == 4
    assert all("nothing was sent" in (s.error or "") for s in changed)


async def test_a_batch_sender_refusal_raised_at_send_sends_nothing(rig: Rig) -> None:
    class Refusing(FakeBatchSender):
        async def send(
            self, requests: tuple[TransactionRequest, ...], batch_id: str
        ) -> SendReceipt:
            raise SimulationFailed("scope refused", step=batch_id)

    rig.engine._batch = Refusing()
    report = await rig.engine.execute(plan(move("aave", 10_000)), "dec-1")
    assert not report.succeeded
    assert all(s.status is StepStatus.FAILED for s in report.steps)
    assert "scope refused" in (report.error or "")
