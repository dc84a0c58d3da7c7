"""The execution engine over a fake executor and builder and the in-memory unit of work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from adapters.chain.journal import InMemoryStepJournal
from adapters.persistence.memory import InMemoryUnitOfWorkFactory
from application.engine import ExecutionEngine
from application.errors import ExecutionRefused
from application.ports.chain import (
    BroadcastAttempt,
    BundleSimulation,
    DroppedStep,
    FeeQuote,
    InsufficientBalance,
    PlanSimulation,
    SendReceipt,
    SimulationFailed,
    SimulationMethod,
    SimulationResult,
    StepFate,
    StepKind,
    StepResolution,
    TransactionRequest,
    TransactionReverted,
)
from application.ports.faults import FaultPoint
from domain.allocation import TargetAllocations
from domain.execution import StepStatus
from domain.plans import RebalancingPlan, Transaction, TransactionType
from domain.signals import RiskLevel
from tests.fakes.treasury import FixedClock

D = Decimal
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
CHAIN = 31337
SENDER = "0x" + "22" * 20


def move(protocol: str, usd: int) -> Transaction:
    return Transaction(
        tx_type=TransactionType.DEPOSIT,
        protocol=protocol,
        from_asset="USDC",
        to_asset="USDC",
        amount=D(usd),
        amount_usd=D(usd),
        estimated_gas=200_000,
        estimated_gas_usd=D(5),
        estimated_slippage_usd=D(2),
        slippage_tolerance=D("0.005"),
    )


def plan(*moves: Transaction, plan_id: str = "plan-1") -> RebalancingPlan:
    return RebalancingPlan(
        plan_id=plan_id,
        created_at=NOW,
        current_allocations={},
        target_allocations=TargetAllocations(base_yield=D("0.6"), tactical=D("0.4"), cash=D(0)),
        required_transactions=moves,
        estimated_gas_cost=D(10),
        estimated_slippage=D(4),
        requires_approval=False,
        risk_level=RiskLevel.LOW,
    )


class FakeBuilder:
    """An approval plus the action for every move."""

    def start_plan(self) -> None:
        """This fake remembers nothing between plans."""

    async def build(self, tx: Transaction) -> tuple[TransactionRequest, ...]:
        def request(kind: StepKind, what: str) -> TransactionRequest:
            return TransactionRequest(
                chain_id=CHAIN, to="0x" + "11" * 20, data="0x", kind=kind, description=what
            )

        return (
            request(StepKind.APPROVE, f"approve {tx.protocol}"),
            request(StepKind.DEPOSIT, f"deposit {tx.amount} into {tx.protocol}"),
        )


class DependentBuilder(FakeBuilder):
    """The Curve deposit needs the USDC the first move brings in, as on chain: it cannot be
    built before `landed()` says something was sent."""

    def __init__(self, landed: Callable[[], bool]) -> None:
        self.landed = landed

    async def build(self, tx: Transaction) -> tuple[TransactionRequest, ...]:
        if tx.protocol == "curve" and not self.landed():
            raise InsufficientBalance("USDC", 5_000_000_000, 0)
        return await super().build(tx)


@dataclass
class FakeExecutor:
    """Records what is sent; `fail_simulation`, `drop` and `revert_at` shape the outcome."""

    uow: InMemoryUnitOfWorkFactory
    journal: InMemoryStepJournal
    chain_id: int = CHAIN
    fail_simulation: str | None = None
    drop: set[int] = field(default_factory=set)
    revert_at: int | None = None
    sent: list[str] = field(default_factory=list)
    planned_at_first_send: list[StepStatus] = field(default_factory=list)
    mined: dict[str, SendReceipt] = field(default_factory=dict)
    unsettled: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)
    cancelled: list[str] = field(default_factory=list)

    async def fees(self) -> FeeQuote:
        return FeeQuote(base_fee=10**9, max_priority_fee=10**9, max_fee=3 * 10**9)

    async def simulate_bundle(self, requests: tuple[TransactionRequest, ...]) -> BundleSimulation:
        raise NotImplementedError

    async def simulate_plan(
        self, requests: tuple[TransactionRequest, ...], eth_usd: Decimal
    ) -> PlanSimulation:
        if self.fail_simulation:
            raise SimulationFailed(self.fail_simulation)
        results = tuple(
            SimulationResult(request=r, success=True, gas_estimate=100_000) for r in requests
        )
        return PlanSimulation(
            simulation=BundleSimulation(steps=results, method=SimulationMethod.SNAPSHOT),
            kept=tuple(r for i, r in enumerate(requests) if i not in self.drop),
            dropped=tuple(
                DroppedStep(request=r, reason="gas is 3.1% of the value, above 1%")
                for i, r in enumerate(requests)
                if i in self.drop
            ),
        )

    async def send(self, request: TransactionRequest, step_id: str) -> SendReceipt:
        if not self.sent:
            async with self.uow() as uow:
                rows = await uow.executions.by_plan(step_id.split(":")[0])
            self.planned_at_first_send = [r.status for r in rows]
        nonce = len(self.sent)
        self.sent.append(step_id)
        receipt = SendReceipt(
            tx_hash=f"0x{nonce + 1:064x}",
            nonce=nonce,
            success=self.revert_at != len(self.sent) - 1,
            gas_estimated=100_000,
            gas_used=90_000,
            effective_gas_price=2 * 10**9,
            block_number=100 + nonce,
        )
        if not receipt.success:
            raise TransactionReverted(step_id, receipt.tx_hash, receipt)
        return receipt

    async def reconcile(self, step_id: str) -> SendReceipt | None:
        return self.mined.get(step_id)

    async def unresolved_steps(self) -> tuple[str, ...]:
        unfinished = await self.journal.unfinished(CHAIN, SENDER)
        return tuple(a.step_id for a in unfinished if a.step_id not in self.resolved)

    async def resolve(self, step_id: str) -> StepResolution:
        """Mined when `mined` says so; else a signed step is cancelled (or stays pending when
        listed in `unsettled`); an unsigned one was never signed."""
        if step_id in self.mined:
            receipt = self.mined[step_id]
            self.resolved.add(step_id)
            return StepResolution(
                step_id=step_id, fate=StepFate.MINED, receipt=receipt, nonce=receipt.nonce
            )
        attempts = await self.journal.attempts(step_id)
        if not attempts:
            return StepResolution(step_id=step_id, fate=StepFate.NEVER_SIGNED)
        if step_id in self.unsettled:
            return StepResolution(
                step_id=step_id, fate=StepFate.PENDING, nonce=attempts[0].nonce, detail="slow"
            )
        self.resolved.add(step_id)
        self.cancelled.append(step_id)
        return StepResolution(
            step_id=step_id,
            fate=StepFate.CANCELLED,
            nonce=attempts[0].nonce,
            cancel_hash="0x" + "cc" * 32,
        )


@dataclass
class Rig:
    engine: ExecutionEngine
    executor: FakeExecutor
    uow: InMemoryUnitOfWorkFactory
    journal: InMemoryStepJournal


def make_rig(
    executor_type: type[FakeExecutor] = FakeExecutor, *, sender: str = SENDER, **engine: Any
) -> Rig:
    """An engine over the fakes; `engine` adds constructor arguments (a batch sender)."""
    clock = FixedClock(NOW)
    uow = InMemoryUnitOfWorkFactory(clock=clock)
    journal = InMemoryStepJournal()
    executor = executor_type(uow=uow, journal=journal)

    async def eth_usd() -> Decimal:
        return D(3000)

    runner = ExecutionEngine(
        uow_factory=uow,
        executor=executor,
        builder=FakeBuilder(),
        journal=journal,
        clock=clock,
        eth_usd=eth_usd,
        sender=sender,
        **engine,
    )
    return Rig(engine=runner, executor=executor, uow=uow, journal=journal)


@pytest.fixture
def rig() -> Rig:
    return make_rig()


async def actions(rig: Rig) -> list[str]:
    async with rig.uow() as uow:
        return [e.action for e in await uow.audit.entries(limit=1000)]


async def test_every_step_is_persisted_before_anything_is_signed_then_confirmed(rig: Rig) -> None:
    report = await rig.engine.execute(plan(move("aave", 10_000), move("curve", 5_000)), "dec-1")
    assert report.succeeded
    assert rig.executor.planned_at_first_send == [StepStatus.PLANNED] * 4
    assert rig.executor.sent == ["plan-1:0", "plan-1:1", "plan-1:2", "plan-1:3"]
    assert [s.status for s in report.steps] == [StepStatus.CONFIRMED] * 4
    first = report.steps[0]
    assert first.tx_hash == f"0x{1:064x}"
    assert first.gas_used == 90_000
    # 90,000 gas x 2 gwei = 0.00018 ETH at $3,000
    assert first.gas_cost_usd == D("0.54")
    assert report.realised_slippage_usd == D(4)
    assert (await actions(rig))[0] == "execution.planned"
    assert (await actions(rig))[-1] == "execution.completed"


async def test_a_failing_simulation_sends_nothing_and_records_why(rig: Rig) -> None:
    rig.executor.fail_simulation = "execution reverted: insufficient liquidity"
    report = await rig.engine.execute(plan(move("aave", 10_000)), "dec-1")
    assert not report.succeeded
    assert rig.executor.sent == []
    assert all(s.status is StepStatus.FAILED for s in report.steps)
    assert all("insufficient liquidity" in (s.error or "") for s in report.steps)
    assert all("nothing was sent" in (s.error or "") for s in report.steps)
    assert "execution.simulation_failed" in await actions(rig)


async def test_steps_the_gas_rule_dropped_are_recorded_with_the_reason(rig: Rig) -> None:
    rig.executor.drop = {2, 3}
    report = await rig.engine.execute(plan(move("aave", 10_000), move("curve", 600)), "dec-1")
    assert report.succeeded
    assert rig.executor.sent == ["plan-1:0", "plan-1:1"]
    assert [s.status for s in report.steps[2:]] == [StepStatus.DROPPED] * 2
    assert "above 1%" in (report.steps[2].error or "")


async def test_the_first_failure_stops_the_plan(rig: Rig) -> None:
    rig.executor.revert_at = 1
    report = await rig.engine.execute(plan(move("aave", 10_000), move("curve", 5_000)), "dec-1")
    assert not report.succeeded
    assert rig.executor.sent == ["plan-1:0", "plan-1:1"]
    statuses = [s.status for s in report.steps]
    assert statuses == [
        StepStatus.CONFIRMED,
        StepStatus.FAILED,
        StepStatus.DROPPED,
        StepStatus.DROPPED,
    ]
    assert "reverted" in (report.error or "")
    assert report.steps[2].error == "not sent: an earlier step failed"
    assert "execution.completed" not in await actions(rig)


async def test_a_plan_runs_at_most_once(rig: Rig) -> None:
    the_plan = plan(move("aave", 10_000))
    await rig.engine.execute(the_plan, "dec-1")
    with pytest.raises(ExecutionRefused):
        await rig.engine.execute(the_plan, "dec-1")
    assert len(rig.executor.sent) == 2


async def test_reconcile_settles_what_a_crash_left_and_sends_nothing(rig: Rig) -> None:
    the_plan = plan(move("aave", 10_000))
    rig.executor.fail_simulation = None
    # A crash after intent was persisted: rebuild that state by hand.
    built = await FakeBuilder().build(the_plan.required_transactions[0])
    steps = await rig.engine._persist_intent(
        the_plan, "dec-1", [(the_plan.required_transactions[0], r) for r in built]
    )
    mined = SendReceipt(
        tx_hash="0x" + "ab" * 32,
        nonce=7,
        success=True,
        gas_estimated=100_000,
        gas_used=80_000,
        effective_gas_price=10**9,
        block_number=55,
    )
    await rig.journal.record_attempt(
        BroadcastAttempt(
            step_id=steps[0].id,
            chain_id=CHAIN,
            sender="0x" + "22" * 20,
            nonce=7,
            tx_hash=mined.tx_hash,
            raw_transaction="0x02",
            max_fee_per_gas=10**9,
            max_priority_fee_per_gas=10**8,
            gas_limit=120_000,
            gas_estimated=100_000,
            attempt=1,
            recorded_at=NOW,
        )
    )
    rig.executor.mined[steps[0].id] = mined

    changed = await rig.engine.reconcile()

    assert rig.executor.sent == []
    by_id = {s.id: s for s in changed}
    assert by_id[steps[0].id].status is StepStatus.CONFIRMED
    assert by_id[steps[0].id].tx_hash == mined.tx_hash
    assert by_id[steps[1].id].status is StepStatus.FAILED
    assert "nothing was sent" in (by_id[steps[1].id].error or "")
    assert (await actions(rig)).count("execution.reconciled") == 2
    assert await rig.engine.reconcile() == []


async def test_a_move_that_cannot_be_built_is_refused_with_the_reason(rig: Rig) -> None:
    class Broken(FakeBuilder):
        async def build(self, tx: Transaction) -> tuple[TransactionRequest, ...]:
            raise SimulationFailed("no such market")

    rig.engine._builder = Broken()
    report = await rig.engine.execute(plan(move("pendle", 10_000)), "dec-1")
    assert not report.succeeded
    assert rig.executor.sent == []
    assert "could not build the plan" in (report.error or "")
    assert "execution.refused" in await actions(rig)


async def test_a_move_funded_by_an_earlier_one_runs_move_by_move(rig: Rig) -> None:
    rig.engine._builder = DependentBuilder(lambda: bool(rig.executor.sent))
    report = await rig.engine.execute(plan(move("aave", 10_000), move("curve", 5_000)), "dec-1")
    assert report.succeeded, report.error
    assert rig.executor.sent == ["plan-1:0", "plan-1:1", "plan-1:2", "plan-1:3"]
    assert [s.step_index for s in report.steps] == [0, 1, 2, 3]
    assert (await actions(rig)).count("execution.planned") == 2


async def test_move_by_move_builds_each_move_afresh_from_the_chain(rig: Rig) -> None:
    """What the failed whole-plan build counted on (balances, allowances) is forgotten: each
    move is built from the chain as the earlier moves left it."""

    class Noting(DependentBuilder):
        def __init__(self, landed: Callable[[], bool]) -> None:
            super().__init__(landed)
            self.calls: list[str] = []

        def start_plan(self) -> None:
            self.calls.append("start")

        async def build(self, tx: Transaction) -> tuple[TransactionRequest, ...]:
            self.calls.append(tx.protocol)
            return await super().build(tx)

    builder = Noting(lambda: bool(rig.executor.sent))
    rig.engine._builder = builder
    report = await rig.engine.execute(plan(move("aave", 10_000), move("curve", 5_000)), "dec-1")
    assert report.succeeded, report.error
    assert builder.calls == ["start", "aave", "curve", "start", "aave", "start", "curve"]


async def test_move_by_move_stops_at_a_move_that_still_cannot_be_built(rig: Rig) -> None:
    class Short(FakeBuilder):
        async def build(self, tx: Transaction) -> tuple[TransactionRequest, ...]:
            if tx.protocol == "curve":
                raise InsufficientBalance("USDC", 5_000_000_000, 0)
            return await super().build(tx)

    rig.engine._builder = Short()
    report = await rig.engine.execute(plan(move("aave", 10_000), move("curve", 5_000)), "dec-1")
    assert not report.succeeded
    assert "could not build move 2" in (report.error or "")
    assert rig.executor.sent == ["plan-1:0", "plan-1:1"]


@dataclass
class RecordingFaults:
    """A FaultPoints that notes each boundary reached, in order."""

    reached: list[str] = field(default_factory=list)

    def reach(self, point: FaultPoint) -> None:
        self.reached.append(point.value)


async def test_the_engine_reaches_after_intent_once_steps_are_saved_and_after_receipt_per_step(
    rig: Rig,
) -> None:
    faults = RecordingFaults()

    async def eth_usd() -> Decimal:
        return D(3000)

    engine = ExecutionEngine(
        uow_factory=rig.uow,
        executor=rig.executor,
        builder=FakeBuilder(),
        journal=rig.journal,
        clock=FixedClock(NOW),
        eth_usd=eth_usd,
        faults=faults,
    )
    await engine.execute(plan(move("aave", 10_000)), "dec-1")
    assert faults.reached == ["after_intent", "after_receipt", "after_receipt"]


def signed(step_id: str, nonce: int) -> BroadcastAttempt:
    """A signed attempt as the executor journals it before broadcast."""
    return BroadcastAttempt(
        step_id=step_id,
        chain_id=CHAIN,
        sender=SENDER,
        nonce=nonce,
        tx_hash=f"0x{nonce:064x}",
        raw_transaction="0x02",
        max_fee_per_gas=10**9,
        max_priority_fee_per_gas=10**8,
        gas_limit=120_000,
        gas_estimated=100_000,
        attempt=0,
        recorded_at=NOW,
    )


async def crashed_after_signing(rig: Rig) -> str:
    """An older plan whose first step was signed, then the process died before broadcast."""
    old = plan(move("curve", 5_000), plan_id="plan-old")
    built = await FakeBuilder().build(old.required_transactions[0])
    steps = await rig.engine._persist_intent(
        old, "dec-old", [(old.required_transactions[0], r) for r in built]
    )
    await rig.journal.record_attempt(signed(steps[0].id, 3))
    return steps[0].id


async def test_the_next_plan_first_cancels_an_older_plans_signed_step_and_never_sends_it(
    rig: Rig,
) -> None:
    stale = await crashed_after_signing(rig)

    report = await rig.engine.execute(plan(move("aave", 10_000)), "dec-1")

    assert report.succeeded
    assert rig.executor.cancelled == [stale]
    assert rig.executor.sent == ["plan-1:0", "plan-1:1"]  # only the new plan's own steps
    async with rig.uow() as uow:
        old = {s.id: s for s in await uow.executions.by_plan("plan-old")}
    assert old[stale].status is StepStatus.FAILED
    assert "cancelled by a no-op with the same nonce 3" in (old[stale].error or "")
    assert old["plan-old:1"].status is StepStatus.FAILED
    assert "nothing was sent" in (old["plan-old:1"].error or "")


async def test_a_new_plan_is_refused_while_an_older_step_is_still_pending_on_chain(
    rig: Rig,
) -> None:
    stale = await crashed_after_signing(rig)
    rig.executor.unsettled.add(stale)

    report = await rig.engine.execute(plan(move("aave", 10_000)), "dec-1")

    assert not report.succeeded
    assert rig.executor.sent == []
    assert f"an earlier step is not settled on chain yet: {stale} (nonce 3)" in (report.error or "")
    assert all("nothing was sent" in (s.error or "") for s in report.steps)
