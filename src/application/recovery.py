"""Start-up recovery: settle what a crash or a kill left half done, before anything new runs.

`Recover.execute()` runs once when the service starts, before the scheduler or the API may
plan or send anything:

1. every signed-but-unconfirmed step is resolved for good through the plan runner's
   `reconcile()`: its receipt recorded when it was mined, or, while its nonce is still free,
   cancelled by a same-nonce no-op so it can never run later outside its plan; steps never
   signed are marked failed with nothing sent;
2. every decision still `approved` (its execution was cut off) is settled from its plan's
   steps: executed (every step confirmed), partially executed (money moved, then a step
   failed or never ran) or failed (nothing moved), with a `plan.executed` / `plan.failed`
   audit entry listing what happened to each step, the circuit breaker and slippage budget
   updated as after any execution, and a notification.

A decision whose step is still unsettled on chain (a cancellation not mined in time) stays
approved and is reported; the engine refuses new plans until that step settles.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from application.execution import ExecutionReport, PlanRunner, settle_execution
from application.ports.clock import Clock
from application.ports.notify import Notifier
from application.ports.persistence import UnitOfWorkFactory
from domain.decisions import Decision, DecisionStatus
from domain.execution import ExecutedTransaction, PlanOutcome, StepStatus, plan_outcome
from domain.strategy import StrategyConfig

log = logging.getLogger(__name__)

ACTOR = "recovery"
INTERRUPTED = "interrupted by a restart"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryReport:
    """What start-up recovery settled, and what it could not settle yet."""

    steps: tuple[ExecutedTransaction, ...]
    """Step records that changed (receipt found, cancelled, failed unsigned)."""
    decisions: tuple[Decision, ...]
    """Decisions moved out of `approved`."""
    unsettled: tuple[str, ...]
    """Ids of decisions left approved because a step of theirs is still pending on chain."""


def _summary(steps: list[ExecutedTransaction], outcome: PlanOutcome) -> str | None:
    if outcome is PlanOutcome.EXECUTED:
        return None
    if not steps:
        return f"{INTERRUPTED} before any step was recorded; nothing was sent"
    confirmed = sum(1 for s in steps if s.status is StepStatus.CONFIRMED)
    first = next((s for s in steps if s.status is StepStatus.FAILED), None)
    why = f"; step {first.step_index} ({first.kind}): {first.error}" if first else ""
    return f"{INTERRUPTED}: {confirmed} of {len(steps)} steps confirmed{why}"


class Recover:
    """Resolve every signed-but-unconfirmed step, then settle interrupted decisions."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        runner: PlanRunner,
        clock: Clock,
        strategy: StrategyConfig | None = None,
        notifier: Notifier | None = None,
        dashboard_url: str = "",
    ) -> None:
        self._uow = uow
        self._runner = runner
        self._clock = clock
        self._strategy = strategy or StrategyConfig()
        self._notifier = notifier
        self._dashboard_url = dashboard_url

    async def execute(self) -> RecoveryReport:
        """Run recovery (see module doc).

        Raises:
            RpcUnavailable: the node could not be asked about a signed step (start-up stops:
                nothing may be planned while a step's fate is unknown).
        """
        changed = await self._runner.reconcile()
        settled: list[Decision] = []
        unsettled: list[str] = []
        async with self._uow() as uow:
            interrupted = await uow.decisions.list_by_status(DecisionStatus.APPROVED, limit=1000)
        for decision in interrupted:
            done = await self._settle(decision)
            if done is None:
                unsettled.append(decision.id)
            else:
                settled.append(done)
        report = RecoveryReport(
            steps=tuple(changed), decisions=tuple(settled), unsettled=tuple(unsettled)
        )
        if changed or settled or unsettled:
            log.warning(
                "recovered from an interrupted run",
                extra={
                    "steps": [f"{s.id}: {s.status.value}" for s in changed],
                    "decisions": [f"{d.id}: {d.status.value}" for d in settled],
                    "unsettled": unsettled,
                },
            )
        return report

    async def _settle(self, decision: Decision) -> Decision | None:
        async with self._uow() as uow:
            plan = await uow.plans.find(decision.plan_id) if decision.plan_id else None
            steps = await uow.executions.by_plan(plan.plan_id) if plan else []
            before = await uow.snapshots.latest()
        if plan is None:
            return await self._fail_without_plan(decision)
        if any(not s.finished for s in steps):
            log.warning(
                "an interrupted decision waits for a step still pending on chain",
                extra={"decision_id": decision.id, "plan_id": plan.plan_id},
            )
            return None
        ordered = sorted(steps, key=lambda s: s.step_index)
        outcome = plan_outcome(ordered) if ordered else PlanOutcome.FAILED
        report = ExecutionReport(
            plan_id=plan.plan_id,
            succeeded=outcome is PlanOutcome.EXECUTED,
            steps=tuple(ordered),
            error=_summary(ordered, outcome),
        )
        return await settle_execution(
            self._uow,
            self._clock,
            decision,
            plan,
            report,
            before,
            self._strategy,
            notifier=self._notifier,
            dashboard_url=self._dashboard_url,
            actor=ACTOR,
        )

    async def _fail_without_plan(self, decision: Decision) -> Decision:
        now = self._clock.now()
        reason = f"{INTERRUPTED}; the decision has no stored plan, nothing was sent"
        failed = decision.mark_failed(now, reason)
        async with self._uow() as uow:
            await uow.decisions.update(failed)
            await uow.audit.append(
                ACTOR,
                "plan.failed",
                "decision",
                decision.id,
                {"decision_id": decision.id, "outcome": "failed", "error": reason, "steps": []},
                at=now,
            )
            await uow.commit()
        return failed
