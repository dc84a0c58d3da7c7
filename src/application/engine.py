"""The execution engine: runs a plan's transactions in order through the chain ports.

For one plan:
1. every planned move is turned into on-chain requests (approvals only where needed, exact);
2. every request is persisted as a PLANNED step (`<plan id>:<index>`) and audited
   (`execution.planned`) before anything is signed;
3. the whole plan is simulated as one bundle; a failing simulation sends nothing and records
   why on every step; steps the gas-share rule dropped are recorded as DROPPED with the reason.
   When a later move spends what an earlier one brings in (sell WETH, then deposit the USDC),
   it cannot even be built before the earlier one has landed: such a plan runs move by move,
   each move built, persisted, simulated as one bundle (approval and action) and sent in turn;
4. kept steps are sent one by one (the executor simulates each again, then journals the signed
   transaction's nonce and hash before broadcasting it) and each receipt is recorded;
5. the first failure stops the plan: the failing step records why, later steps are DROPPED
   ("not sent: an earlier step failed").

`reconcile()` runs at start-up: each step left unfinished by a crash is settled against the
chain through the journal (mined: confirmed or failed from its receipt; never signed: failed,
nothing sent; signed but not mined yet: left broadcast for the next reconcile). It never sends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from application.errors import ApplicationError, ExecutionRefused
from application.execution import ExecutionReport
from application.ports.chain import (
    InsufficientBalance,
    SendReceipt,
    StepJournal,
    StuckTransaction,
    TransactionBuilder,
    TransactionExecutor,
    TransactionRequest,
    TransactionReverted,
)
from application.ports.clock import Clock
from application.ports.faults import NO_FAULTS, FaultPoint, FaultPoints
from application.ports.persistence import UnitOfWorkFactory
from domain.errors import DomainError
from domain.execution import ExecutedTransaction, StepStatus
from domain.money import ZERO
from domain.plans import RebalancingPlan, Transaction, TransactionType

log = logging.getLogger(__name__)

WEI_PER_ETH = Decimal(10) ** 18
ACTOR = "engine"


def gas_cost_usd(receipt: SendReceipt, eth_usd: Decimal) -> Decimal:
    """What a mined transaction paid for gas, in USD."""
    return Decimal(receipt.gas_used * receipt.effective_gas_price) / WEI_PER_ETH * eth_usd


@dataclass(slots=True)
class _Outcome:
    """What sending part (or all) of a plan did."""

    steps: list[ExecutedTransaction] = field(default_factory=list)
    error: str | None = None
    confirmed: set[int] = field(default_factory=set)

    def merge(self, other: _Outcome) -> None:
        self.steps.extend(other.steps)
        self.error = other.error
        self.confirmed |= other.confirmed


class ExecutionEngine:
    """The PlanRunner over real chain ports (see module doc)."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        executor: TransactionExecutor,
        builder: TransactionBuilder,
        journal: StepJournal,
        clock: Clock,
        eth_usd: Callable[[], Awaitable[Decimal]],
        sender: str = "",
        faults: FaultPoints = NO_FAULTS,
    ) -> None:
        self._uow = uow_factory
        self._executor = executor
        self._builder = builder
        self._journal = journal
        self._clock = clock
        self._eth_usd = eth_usd
        self._sender = sender
        self._faults = faults
        self._lock = asyncio.Lock()

    async def execute(self, plan: RebalancingPlan, decision_id: str) -> ExecutionReport:
        """Simulate the plan, then send it step by step (see module doc).

        Raises:
            ExecutionRefused: the plan already has recorded steps (it runs at most once).
        """
        async with self._lock:
            async with self._uow() as uow:
                if await uow.executions.by_plan(plan.plan_id):
                    raise ExecutionRefused(plan.plan_id, ("the plan has already been executed",))
            try:
                built = await self._build(plan.required_transactions)
            except InsufficientBalance as exc:
                if len(plan.required_transactions) < 2:
                    return await self._refuse(plan, decision_id, f"could not build the plan: {exc}")
                # Later moves spend what earlier ones bring in (sell, then deposit): they can
                # only be built once those have landed, so the plan runs move by move.
                return await self._run_staged(plan, decision_id)
            except (ApplicationError, DomainError) as exc:
                return await self._refuse(plan, decision_id, f"could not build the plan: {exc}")
            steps = await self._persist_intent(plan, decision_id, built)
            self._faults.reach(FaultPoint.AFTER_INTENT)
            return await self._finish(plan, decision_id, await self._chunk(plan, built, steps))

    async def _build(
        self, moves: tuple[Transaction, ...]
    ) -> list[tuple[Transaction, TransactionRequest]]:
        built: list[tuple[Transaction, TransactionRequest]] = []
        for tx in moves:
            for request in await self._builder.build(tx):
                if request.value_usd is None and request.kind.value != "approve":
                    request = replace(request, value_usd=tx.amount_usd)
                built.append((tx, request))
        return built

    async def _run_staged(self, plan: RebalancingPlan, decision_id: str) -> ExecutionReport:
        """Build, persist, simulate (as one bundle per move) and send one move at a time."""
        outcome = _Outcome()
        start = 0
        for position, tx in enumerate(plan.required_transactions):
            if outcome.error is not None:
                break
            try:
                built = await self._build((tx,))
            except (ApplicationError, DomainError) as exc:
                reason = f"could not build move {position + 1} ({tx.describe()}): {exc}"
                outcome.error = reason
                async with self._uow() as uow:
                    await uow.audit.append(
                        ACTOR,
                        "execution.refused",
                        "plan",
                        plan.plan_id,
                        {"decision_id": decision_id, "reason": reason},
                        at=self._clock.now(),
                    )
                    await uow.commit()
                break
            steps = await self._persist_intent(plan, decision_id, built, start=start)
            self._faults.reach(FaultPoint.AFTER_INTENT)
            start += len(steps)
            chunk = await self._chunk(plan, built, steps)
            outcome.merge(chunk)
        return await self._finish(plan, decision_id, outcome)

    async def _refuse(
        self, plan: RebalancingPlan, decision_id: str, reason: str
    ) -> ExecutionReport:
        """Record one failed step per planned move when nothing could even be built."""
        now = self._clock.now()
        steps = tuple(
            ExecutedTransaction(
                id=f"{plan.plan_id}:{index}",
                plan_id=plan.plan_id,
                step_index=index,
                chain_id=self._executor.chain_id,
                kind=tx.tx_type.value,
                description=tx.describe(),
                status=StepStatus.FAILED,
                amount_usd=tx.amount_usd,
                created_at=now,
                updated_at=now,
                error=f"{reason}; nothing was sent",
            )
            for index, tx in enumerate(plan.required_transactions)
        )
        async with self._uow() as uow:
            for step in steps:
                await uow.executions.add(step)
            await uow.audit.append(
                ACTOR,
                "execution.refused",
                "plan",
                plan.plan_id,
                {"decision_id": decision_id, "reason": reason},
                at=now,
            )
            await uow.commit()
        log.warning("plan not executed", extra={"plan_id": plan.plan_id, "reason": reason})
        return ExecutionReport(plan_id=plan.plan_id, succeeded=False, steps=steps, error=reason)

    async def _persist_intent(
        self,
        plan: RebalancingPlan,
        decision_id: str,
        built: list[tuple[Transaction, TransactionRequest]],
        *,
        start: int = 0,
    ) -> list[ExecutedTransaction]:
        now = self._clock.now()
        steps = [
            ExecutedTransaction(
                id=f"{plan.plan_id}:{index}",
                plan_id=plan.plan_id,
                step_index=index,
                chain_id=request.chain_id,
                kind=request.kind.value,
                description=request.description,
                status=StepStatus.PLANNED,
                amount_usd=request.value_usd or ZERO,
                created_at=now,
                updated_at=now,
                to_address=request.to,
                from_address=self._sender or None,
            )
            for index, (_, request) in enumerate(built, start=start)
        ]
        async with self._uow() as uow:
            for step in steps:
                await uow.executions.add(step)
            await uow.audit.append(
                ACTOR,
                "execution.planned",
                "plan",
                plan.plan_id,
                {
                    "decision_id": decision_id,
                    "steps": [
                        {"id": s.id, "kind": s.kind, "to": s.to_address, "what": s.description}
                        for s in steps
                    ],
                },
                at=now,
            )
            await uow.commit()
        return steps

    async def _save(
        self, step: ExecutedTransaction, action: str, payload: dict[str, object]
    ) -> None:
        async with self._uow() as uow:
            await uow.executions.update(step)
            await uow.audit.append(
                ACTOR, action, "transaction", step.id, payload, at=step.updated_at
            )
            await uow.commit()

    async def _chunk(
        self,
        plan: RebalancingPlan,
        built: list[tuple[Transaction, TransactionRequest]],
        steps: list[ExecutedTransaction],
    ) -> _Outcome:
        """Simulate `built` as one bundle, then send what the simulation kept, in order."""
        outcome = _Outcome()
        requests = tuple(request for _, request in built)
        try:
            eth_usd = await self._eth_usd()
            simulation = await self._executor.simulate_plan(requests, eth_usd)
        except (ApplicationError, DomainError, ValueError) as exc:
            reason = f"simulation failed: {exc}"
            now = self._clock.now()
            note = f"{reason}; nothing was sent"
            finished = [s.advance(StepStatus.FAILED, now, error=note) for s in steps]
            async with self._uow() as uow:
                for step in finished:
                    await uow.executions.update(step)
                await uow.audit.append(
                    ACTOR,
                    "execution.simulation_failed",
                    "plan",
                    plan.plan_id,
                    {"steps": [s.id for s in steps], "reason": reason},
                    at=now,
                )
                await uow.commit()
            outcome.steps.extend(finished)
            outcome.error = reason
            return outcome

        dropped = {id(d.request): d.reason for d in simulation.dropped}
        kept = {id(r) for r in simulation.kept}
        for index, (tx, request) in enumerate(built):
            step = steps[index]
            now = self._clock.now()
            if outcome.error is not None:
                step = step.advance(
                    StepStatus.DROPPED, now, error="not sent: an earlier step failed"
                )
                await self._save(step, "execution.step_dropped", {"reason": step.error})
                outcome.steps.append(step)
                continue
            if id(request) in dropped or id(request) not in kept:
                reason = dropped.get(id(request), "left out by the simulation")
                step = step.advance(StepStatus.DROPPED, now, error=reason)
                await self._save(step, "execution.step_dropped", {"reason": reason})
                outcome.steps.append(step)
                continue
            step, error = await self._send(step, request, eth_usd)
            outcome.steps.append(step)
            outcome.error = error
            if error is None and request.kind.value != "approve":
                outcome.confirmed.add(id(tx))
        return outcome

    async def _finish(
        self, plan: RebalancingPlan, decision_id: str, outcome: _Outcome
    ) -> ExecutionReport:
        moved = [t for t in plan.required_transactions if id(t) in outcome.confirmed]
        slippage = sum((t.estimated_slippage_usd for t in moved), ZERO)
        if outcome.error is None:
            async with self._uow() as uow:
                await uow.audit.append(
                    ACTOR,
                    "execution.completed",
                    "plan",
                    plan.plan_id,
                    {"decision_id": decision_id, "steps": len(outcome.steps)},
                    at=self._clock.now(),
                )
                await uow.commit()
        return ExecutionReport(
            plan_id=plan.plan_id,
            succeeded=outcome.error is None,
            steps=tuple(outcome.steps),
            error=outcome.error,
            realised_slippage_usd=slippage,
        )

    async def _send(
        self, step: ExecutedTransaction, request: TransactionRequest, eth_usd: Decimal
    ) -> tuple[ExecutedTransaction, str | None]:
        try:
            receipt = await self._executor.send(request, step.id)
        except TransactionReverted as exc:
            step = self._with_receipt(step, exc.receipt, eth_usd, StepStatus.FAILED, str(exc))
            await self._save(step, "execution.step_failed", {"error": step.error})
            return step, step.error
        except StuckTransaction as exc:
            step = step.advance(
                StepStatus.BROADCAST,
                self._clock.now(),
                nonce=exc.nonce,
                tx_hash=exc.tx_hash,
                error=str(exc),
            )
            await self._save(step, "execution.step_stuck", {"error": step.error})
            return step, str(exc)
        except (ApplicationError, DomainError) as exc:
            step = step.advance(StepStatus.FAILED, self._clock.now(), error=str(exc))
            await self._save(step, "execution.step_failed", {"error": step.error})
            return step, str(exc)
        step = self._with_receipt(step, receipt, eth_usd, StepStatus.CONFIRMED, None)
        await self._save(
            step,
            "execution.step_confirmed",
            {
                "tx_hash": receipt.tx_hash,
                "nonce": receipt.nonce,
                "block": receipt.block_number,
                "gas_estimated": receipt.gas_estimated,
                "gas_used": receipt.gas_used,
            },
        )
        self._faults.reach(FaultPoint.AFTER_RECEIPT)
        return step, None

    def _with_receipt(
        self,
        step: ExecutedTransaction,
        receipt: SendReceipt,
        eth_usd: Decimal,
        status: StepStatus,
        error: str | None,
    ) -> ExecutedTransaction:
        return step.advance(
            status,
            self._clock.now(),
            nonce=receipt.nonce,
            tx_hash=receipt.tx_hash,
            gas_estimated=receipt.gas_estimated,
            gas_used=receipt.gas_used,
            effective_gas_price_wei=receipt.effective_gas_price,
            gas_cost_usd=gas_cost_usd(receipt, eth_usd),
            block_number=receipt.block_number,
            error=error,
        )

    async def reconcile(self) -> list[ExecutedTransaction]:
        """Settle steps a crash left unfinished against the chain; never sends anything."""
        async with self._lock:
            async with self._uow() as uow:
                unfinished = await uow.executions.unfinished()
            changed: list[ExecutedTransaction] = []
            if not unfinished:
                return changed
            eth_usd = await self._eth_usd()
            for step in unfinished:
                receipt = await self._executor.reconcile(step.id)
                if receipt is not None:
                    status = StepStatus.CONFIRMED if receipt.success else StepStatus.FAILED
                    error = None if receipt.success else "reverted on chain (found at start-up)"
                    settled = self._with_receipt(step, receipt, eth_usd, status, error)
                elif not await self._journal.attempts(step.id):
                    settled = step.advance(
                        StepStatus.FAILED,
                        self._clock.now(),
                        error="interrupted before it was signed; nothing was sent",
                    )
                else:
                    last = (await self._journal.attempts(step.id))[-1]
                    if step.status is StepStatus.BROADCAST and step.tx_hash == last.tx_hash:
                        continue
                    settled = step.advance(
                        StepStatus.BROADCAST,
                        self._clock.now(),
                        nonce=last.nonce,
                        tx_hash=last.tx_hash,
                        error="broadcast, not mined yet (found at start-up)",
                    )
                await self._save(
                    settled,
                    "execution.reconciled",
                    {"status": settled.status.value, "tx_hash": settled.tx_hash},
                )
                changed.append(settled)
            return changed


def moves_of(plan: RebalancingPlan, kind: TransactionType) -> tuple[Transaction, ...]:
    """The plan's moves of one kind (for reports)."""
    return tuple(t for t in plan.required_transactions if t.tx_type is kind)
