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

`reconcile()` (run by the `Recover` use case at start-up, and before every plan) settles
each step left signed but unconfirmed for good, through the executor's `resolve`: mined, its
receipt is recorded (confirmed or failed); never signed, it failed and nothing was sent; its
nonce still free, a same-nonce no-op cancels it (failed: it never ran); its nonce taken by
another transaction, failed. It never sends a step of one plan as part of another: while an
earlier step is still unsettled on chain (its cancellation not mined yet), a new plan is
refused and nothing is sent.
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
    PlanBatchSender,
    SendReceipt,
    SimulationFailed,
    StepFate,
    StepJournal,
    StepResolution,
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
from domain.execution import ExecutedTransaction, StepKind, StepStatus
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
        batch: PlanBatchSender | None = None,
    ) -> None:
        self._uow = uow_factory
        self._batch = batch
        self._executor = executor
        self._builder = builder
        self._journal = journal
        self._clock = clock
        self._eth_usd = eth_usd
        self._sender = sender
        self._faults = faults
        self._lock = asyncio.Lock()

    async def build_plan(self, plan: RebalancingPlan) -> tuple[TransactionRequest, ...]:
        """The plan's requests as `execute` would build them now; nothing is persisted or sent.

        Raises:
            ApplicationError, DomainError: a move cannot be built now.
        """
        async with self._lock:
            self._builder.start_plan()
            return tuple(request for _, request in await self._build(plan.required_transactions))

    async def execute(
        self, plan: RebalancingPlan, decision_id: str, *, batch: PlanBatchSender | None = None
    ) -> ExecutionReport:
        """Simulate the plan, then send it step by step (see module doc). `batch`, when given,
        sends the whole plan as one transaction instead of the engine's own way (the owners'
        signed Safe transaction); such a plan is never run move by move.

        Raises:
            ExecutionRefused: the plan already has recorded steps (it runs at most once).
        """
        async with self._lock:
            async with self._uow() as uow:
                if await uow.executions.by_plan(plan.plan_id):
                    raise ExecutionRefused(plan.plan_id, ("the plan has already been executed",))
            self._builder.start_plan()
            # An earlier plan's signed step must be settled first: sent now, it would run
            # outside its plan, and this plan was computed without it.
            _, pending = await self._reconcile()
            if pending:
                waiting = ", ".join(f"{p.step_id} (nonce {p.nonce})" for p in pending)
                return await self._refuse(
                    plan, decision_id, f"an earlier step is not settled on chain yet: {waiting}"
                )
            try:
                built = await self._build(plan.required_transactions)
            except InsufficientBalance as exc:
                if len(plan.required_transactions) < 2 or batch is not None:
                    return await self._refuse(plan, decision_id, f"could not build the plan: {exc}")
                # Later moves spend what earlier ones bring in (sell, then deposit): they can
                # only be built once those have landed, so the plan runs move by move.
                return await self._run_staged(plan, decision_id)
            except (ApplicationError, DomainError) as exc:
                return await self._refuse(plan, decision_id, f"could not build the plan: {exc}")
            steps = await self._persist_intent(plan, decision_id, built)
            self._faults.reach(FaultPoint.AFTER_INTENT)
            outcome = await self._chunk(plan, built, steps, batch)
            return await self._finish(plan, decision_id, outcome)

    async def _build(
        self, moves: tuple[Transaction, ...]
    ) -> list[tuple[Transaction, TransactionRequest]]:
        built: list[tuple[Transaction, TransactionRequest]] = []
        for tx in moves:
            for request in await self._builder.build(tx):
                if request.value_usd is None and request.kind.is_trade:
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
            # Each move is built from the chain as the earlier ones left it.
            self._builder.start_plan()
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
                kind=StepKind(tx.tx_type.value),
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
                kind=request.kind,
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
        batch: PlanBatchSender | None = None,
    ) -> _Outcome:
        """Simulate `built` as one bundle, then send what the simulation kept, in order (with
        a batch sender: all of it as one transaction)."""
        batch = batch or self._batch
        if batch is not None:
            return await self._send_batch(batch, plan, built, steps)
        outcome = _Outcome()
        requests = tuple(request for _, request in built)
        try:
            eth_usd = await self._eth_usd()
            simulation = await self._executor.simulate_plan(requests, eth_usd)
        except (ApplicationError, DomainError, ValueError) as exc:
            return await self._simulation_failed(plan, steps, f"simulation failed: {exc}")

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
            if error is None and request.kind.is_trade:
                outcome.confirmed.add(id(tx))
        return outcome

    async def _simulation_failed(
        self, plan: RebalancingPlan, steps: list[ExecutedTransaction], reason: str
    ) -> _Outcome:
        """Every step failed, nothing was sent: record why."""
        now = self._clock.now()
        note = f"{reason}; nothing was sent"
        finished = [s.advance(StepStatus.FAILED, now, error=note) for s in steps]
        await self._settle_plan_steps(
            plan,
            finished,
            "execution.simulation_failed",
            {"steps": [s.id for s in steps], "reason": reason},
        )
        return _Outcome(steps=finished, error=reason)

    async def _settle_plan_steps(
        self,
        plan: RebalancingPlan,
        steps: list[ExecutedTransaction],
        action: str,
        payload: dict[str, object],
    ) -> None:
        """Save the steps and one audit entry for the plan in one commit: the steps of one
        batch (or of one failed simulation) are never seen half settled."""
        async with self._uow() as uow:
            for step in steps:
                await uow.executions.update(step)
            await uow.audit.append(
                ACTOR, action, "plan", plan.plan_id, payload, at=self._clock.now()
            )
            await uow.commit()

    async def _send_batch(
        self,
        batch: PlanBatchSender,
        plan: RebalancingPlan,
        built: list[tuple[Transaction, TransactionRequest]],
        steps: list[ExecutedTransaction],
    ) -> _Outcome:
        """Simulate `built` as one batch, then send it as ONE transaction: every step is
        confirmed or failed together, and one `execution.batch_*` audit entry names the
        transaction, who signed it, for whom, and its inner calls in order."""
        requests = tuple(request for _, request in built)
        batch_id = batch_id_of(plan.plan_id, steps[0].step_index)
        try:
            eth_usd = await self._eth_usd()
            simulation = await batch.simulate(requests)
        except (ApplicationError, DomainError, ValueError) as exc:
            return await self._simulation_failed(plan, steps, f"simulation failed: {exc}")
        if not simulation.success:
            reason = simulation.revert_reason or "reverted"
            return await self._simulation_failed(plan, steps, f"batch simulation failed: {reason}")
        try:
            receipt = await batch.send(requests, batch_id)
        except SimulationFailed as exc:
            return await self._simulation_failed(plan, steps, str(exc))
        except (ApplicationError, DomainError) as exc:
            # Nothing recorded as sent: reconciling the batch id settles it for good.
            return _Outcome(steps=list(steps), error=str(exc))
        error = None if receipt.success else "the batch reverted on chain; no call of it ran"
        status = StepStatus.CONFIRMED if receipt.success else StepStatus.FAILED
        settled = self._batch_steps(steps, receipt, eth_usd, status, error)
        calls = [
            {"step": s.id, "to": r.to, "call": r.data[:10], "what": r.description}
            for s, r in zip(steps, requests, strict=True)
        ]
        await self._settle_plan_steps(
            plan,
            settled,
            "execution.batch_confirmed" if receipt.success else "execution.batch_failed",
            {
                "batch": batch_id,
                **batch.accounts,
                "tx_hash": receipt.tx_hash,
                "nonce": receipt.nonce,
                "block": receipt.block_number,
                "gas_estimated": receipt.gas_estimated,
                "gas_used": receipt.gas_used,
                "calls": calls,
            },
        )
        if receipt.success:
            self._faults.reach(FaultPoint.AFTER_RECEIPT)
        confirmed = {id(tx) for tx, r in built if r.kind.is_trade} if receipt.success else set()
        return _Outcome(steps=settled, error=error, confirmed=confirmed)

    def _batch_steps(
        self,
        steps: list[ExecutedTransaction],
        receipt: SendReceipt,
        eth_usd: Decimal,
        status: StepStatus,
        error: str | None,
    ) -> list[ExecutedTransaction]:
        """The batch's steps with its receipt: each carries the one transaction's hash, nonce
        and block; the gas (paid once) is on the first step only."""
        first = self._with_receipt(steps[0], receipt, eth_usd, status, error)
        return [
            first,
            *(
                s.advance(
                    status,
                    first.updated_at,
                    nonce=receipt.nonce,
                    tx_hash=receipt.tx_hash,
                    block_number=receipt.block_number,
                    gas_cost_usd=ZERO,
                    error=error,
                )
                for s in steps[1:]
            ),
        ]

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
        """Settle every signed-but-unconfirmed step for good (see module doc); returns the
        step records that changed. Sends none of the steps themselves."""
        async with self._lock:
            changed, _ = await self._reconcile()
            return changed

    async def _reconcile(self) -> tuple[list[ExecutedTransaction], list[StepResolution]]:
        """Resolve each unfinished step: the plan's recorded ones (a batch's steps together,
        by the batch id) and any journaled transaction outside a plan. Returns the changed
        records and what is still pending."""
        ids, unfinished, batches = await self._steps_to_resolve()
        changed: list[ExecutedTransaction] = []
        pending: list[StepResolution] = []
        eth_usd: Decimal | None = None
        for step_id in ids:
            resolution = await self._executor.resolve(step_id)
            if not resolution.settled:
                pending.append(resolution)
            steps = batches.get(step_id) or ([unfinished[step_id]] if step_id in unfinished else [])
            if not steps:
                # A journaled transaction outside any plan (paper funding), or a plan step
                # already settled whose nonce another transaction took (found every time: only
                # what changes on chain is audited).
                if resolution.fate in (StepFate.MINED, StepFate.CANCELLED):
                    await self._audit_outside_plan(resolution)
                continue
            if resolution.fate is StepFate.MINED and eth_usd is None:
                eth_usd = await self._eth_usd()
            settled = self._settle_steps(steps, resolution, eth_usd or ZERO, step_id in batches)
            moved = [new for old, new in zip(steps, settled, strict=True) if old != new]
            if moved:
                batch = step_id if step_id in batches else None
                await self._record_reconciled(moved, resolution, batch)
                changed.extend(moved)
        if pending:
            log.warning(
                "steps still unsettled on chain; nothing new is sent until they are",
                extra={"steps": [p.step_id for p in pending], "why": [p.detail for p in pending]},
            )
        return changed, pending

    async def _steps_to_resolve(
        self,
    ) -> tuple[list[str], dict[str, ExecutedTransaction], dict[str, list[ExecutedTransaction]]]:
        """The ids to resolve (batches first, then single steps, then journaled transactions
        outside any plan), the unfinished steps by id and the unfinished batches' steps."""
        async with self._uow() as uow:
            unfinished = {s.id: s for s in await uow.executions.unfinished()}
        journaled = await self._executor.unresolved_steps()
        batches = await self._unfinished_batches(list(unfinished.values()))
        in_batch = {s.id for steps in batches.values() for s in steps}
        ids = [
            *batches,
            *(i for i in unfinished if i not in in_batch),
            *(i for i in journaled if i not in unfinished and i not in batches),
        ]
        return ids, unfinished, batches

    async def _record_reconciled(
        self, moved: list[ExecutedTransaction], resolution: StepResolution, batch: str | None
    ) -> None:
        """Store and audit the steps a resolution settled, in one commit: a batch's steps are
        never left half settled."""
        async with self._uow() as uow:
            for new in moved:
                await uow.executions.update(new)
                await uow.audit.append(
                    ACTOR,
                    "execution.reconciled",
                    "transaction",
                    new.id,
                    {
                        "status": new.status.value,
                        "fate": resolution.fate.value,
                        "tx_hash": new.tx_hash,
                        "nonce": resolution.nonce,
                        "cancel_hash": resolution.cancel_hash,
                        "detail": resolution.detail or new.error,
                        **({"batch": batch} if batch is not None else {}),
                    },
                    at=new.updated_at,
                )
            await uow.commit()

    async def _unfinished_batches(
        self, unfinished: list[ExecutedTransaction]
    ) -> dict[str, list[ExecutedTransaction]]:
        """With a batch sender: the unfinished steps sent (or about to be) as one batch, by
        batch id. A batch's steps are settled in one commit, so a plan's unfinished steps all
        belong to the batch that starts at the first of them. A step with journal attempts of
        its own was sent alone (before custody changed) and is resolved alone."""
        if self._batch is None:
            return {}
        by_plan: dict[str, list[ExecutedTransaction]] = {}
        for step in sorted(unfinished, key=lambda s: (s.plan_id, s.step_index)):
            if await self._journal.attempts(step.id):
                continue
            by_plan.setdefault(step.plan_id, []).append(step)
        return {
            batch_id_of(plan_id, steps[0].step_index): steps for plan_id, steps in by_plan.items()
        }

    def _settle_steps(
        self,
        steps: list[ExecutedTransaction],
        resolution: StepResolution,
        eth_usd: Decimal,
        batch: bool,
    ) -> list[ExecutedTransaction]:
        if batch and resolution.fate is StepFate.MINED and resolution.receipt is not None:
            receipt = resolution.receipt
            status = StepStatus.CONFIRMED if receipt.success else StepStatus.FAILED
            error = None if receipt.success else "reverted on chain (found on reconciling)"
            return self._batch_steps(steps, receipt, eth_usd, status, error)
        return [self._settle_step(step, resolution, eth_usd) for step in steps]

    def _settle_step(
        self, step: ExecutedTransaction, resolution: StepResolution, eth_usd: Decimal
    ) -> ExecutedTransaction:
        now = self._clock.now()
        fate = resolution.fate
        if fate is StepFate.MINED and resolution.receipt is not None:
            receipt = resolution.receipt
            status = StepStatus.CONFIRMED if receipt.success else StepStatus.FAILED
            error = None if receipt.success else "reverted on chain (found on reconciling)"
            return self._with_receipt(step, receipt, eth_usd, status, error)
        if fate is StepFate.NEVER_SIGNED:
            return step.advance(
                StepStatus.FAILED, now, error="interrupted before it was signed; nothing was sent"
            )
        if fate is StepFate.CANCELLED:
            return step.advance(
                StepStatus.FAILED,
                now,
                nonce=resolution.nonce,
                error=(
                    f"signed but never mined; cancelled by a no-op with the same nonce "
                    f"{resolution.nonce} ({resolution.cancel_hash}): this step never ran"
                ),
            )
        if fate is StepFate.NONCE_TAKEN:
            return step.advance(
                StepStatus.FAILED,
                now,
                nonce=resolution.nonce,
                error=f"{resolution.detail}: this step never ran",
            )
        error = f"not settled yet: {resolution.detail}"
        if step.status is StepStatus.BROADCAST and step.error == error:
            return step
        return step.advance(StepStatus.BROADCAST, now, nonce=resolution.nonce, error=error)

    async def _audit_outside_plan(self, resolution: StepResolution) -> None:
        async with self._uow() as uow:
            await uow.audit.append(
                ACTOR,
                "execution.reconciled",
                "transaction",
                resolution.step_id,
                {
                    "fate": resolution.fate.value,
                    "nonce": resolution.nonce,
                    "tx_hash": resolution.receipt.tx_hash if resolution.receipt else None,
                    "cancel_hash": resolution.cancel_hash,
                    "detail": resolution.detail or "a journaled transaction outside any plan",
                },
                at=self._clock.now(),
            )
            await uow.commit()


def batch_id_of(plan_id: str, first_step: int) -> str:
    """The journal id of the batch whose first step is `first_step`: the plan id for a whole
    plan; `<plan id>+<first step>` for a later stage of a plan run move by move."""
    return plan_id if first_step == 0 else f"{plan_id}+{first_step}"


def plan_of_batch(batch_id: str) -> str:
    """The plan a batch id (see `batch_id_of`) belongs to."""
    plan_id, plus, first = batch_id.rpartition("+")
    return plan_id if plus and first.isdigit() else batch_id


def moves_of(plan: RebalancingPlan, kind: TransactionType) -> tuple[Transaction, ...]:
    """The plan's moves of one kind (for reports)."""
    return tuple(t for t in plan.required_transactions if t.tx_type is kind)
