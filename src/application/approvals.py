"""Approvals: a human approves or rejects a pending decision; approved plans execute once.

Approving re-checks nothing but the decision's state; executing re-runs the safety policy
against the treasury as it is then (emergency stop, trades today, gas, limits), waiving only
the approval threshold the human just answered. Pending decisions expire after their window.

With several service instances, only the leader executes: an approval recorded on a standby
leaves the decision approved, and the leader's `ExecuteWaitingApprovals` runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from application.errors import (
    CycleBusy,
    EmergencyStopActive,
    ExecutionRefused,
    NotFound,
    NotLeader,
)
from application.execution import ExecutionReport, PlanRunner, settle_execution
from application.notifications import announce, decision_answered, execution_failed
from application.ports.clock import Clock
from application.ports.notify import Notifier
from application.ports.owners import OwnersMustSign
from application.ports.persistence import EMERGENCY_STOP, UnitOfWork, UnitOfWorkFactory
from application.ports.treasury import ChainConditions, CycleLock, PortfolioReader
from domain.decisions import Decision, DecisionStatus
from domain.errors import DecisionExpired
from domain.plans import RebalancingPlan
from domain.safety import Outcome, SafetyContext, Severity, evaluate
from domain.strategy import StrategyConfig, reentry_blocked_until

log = logging.getLogger(__name__)


class ProposalClearing(Protocol):
    """Under Safe custody: clears the Safe nonce of a closed decision's owners' proposal
    (`application.cancellation.CancelOwnerProposals`)."""

    async def clear(self, decision_id: str, actor: str) -> object:
        """Propose the no-op at the nonce of the expired or rejected decision's proposal, if
        it has one; failures are logged, never raised."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalCommand:
    """A human's answer to a pending decision."""

    decision_id: str
    approved: bool
    approver: str
    notes: str | None = None


class DecideOnApproval:
    """Approve or reject a pending decision, recording who and why."""

    def __init__(
        self,
        *,
        clock: Clock,
        uow: UnitOfWorkFactory,
        notifier: Notifier | None = None,
        dashboard_url: str = "",
        owners_sign: bool = False,
        clear: ProposalClearing | None = None,
    ) -> None:
        self._clock = clock
        self._uow = uow
        self._notifier = notifier
        self._dashboard_url = dashboard_url
        self._owners_sign = owners_sign
        self._clear = clear

    async def execute(self, command: ApprovalCommand) -> Decision:
        """Record the answer. Approval of an expired decision expires it and fails.

        Raises:
            NotFound: no such decision.
            DecisionNotPending: it is no longer pending.
            DecisionExpired: its approval window has passed.
            ConcurrencyConflict: another approver answered at the same moment.
            EmergencyStopActive: approving while the emergency stop is on (rejecting is allowed).
            OwnersMustSign: approving under Safe custody, where the Safe's owners approve by
                signing (rejecting is allowed).
        """
        if command.approved and self._owners_sign:
            raise OwnersMustSign(
                command.decision_id,
                "under Safe custody the Safe's owners approve by signing its proposal: "
                f"POST /decisions/{command.decision_id}/signatures",
            )
        now = self._clock.now()
        async with self._uow() as uow:
            decision = await uow.decisions.get(command.decision_id)
            if (
                command.approved
                and decision.status is DecisionStatus.PENDING
                and decision.is_expired(now)
            ):
                await self._expire(uow, decision, command.approver, now)
                raise DecisionExpired(decision.id)
            if (
                command.approved
                and decision.status is DecisionStatus.PENDING
                and await uow.flags.is_active(EMERGENCY_STOP)
            ):
                raise EmergencyStopActive(decision.id)  # nothing written: it stays pending
            if command.approved:
                answered = decision.approve(command.approver, command.notes, now)
            else:
                answered = decision.reject(command.approver, command.notes, now)
            await uow.decisions.update(answered)
            await uow.audit.append(
                command.approver,
                "decision.approved" if command.approved else "decision.rejected",
                "decision",
                decision.id,
                {"notes": command.notes, "plan_id": decision.plan_id},
                at=now,
            )
            await uow.commit()
        announce(self._notifier, lambda: decision_answered(answered, self._dashboard_url))
        if self._clear is not None and not command.approved:
            await self._clear.clear(answered.id, command.approver)
        return answered

    async def _expire(
        self, uow: UnitOfWork, decision: Decision, approver: str, now: datetime
    ) -> None:
        """Expire a decision whose approval came after its window, audited and announced."""
        expired = decision.expire(now, "approval window passed")
        await uow.decisions.update(expired)
        await uow.audit.append(
            approver, "decision.expired", "decision", decision.id, {"reason": expired.notes}, at=now
        )
        await uow.commit()
        announce(self._notifier, lambda: decision_answered(expired, self._dashboard_url))


class ApprovedExecution(Protocol):
    """Executes an approved decision's plan (`ExecuteApprovedDecision`, or it with the read
    models refreshed after it)."""

    async def execute(self, decision_id: str) -> ExecutionReport | None:
        """Execute the plan if the decision is still approved."""
        ...


class ExecuteApprovedDecision:
    """Run an approved decision's plan, once, after re-checking the safety policy."""

    def __init__(
        self,
        *,
        clock: Clock,
        uow: UnitOfWorkFactory,
        portfolio: PortfolioReader,
        conditions: ChainConditions,
        runner: PlanRunner,
        lock: CycleLock,
        strategy: StrategyConfig | None = None,
        notifier: Notifier | None = None,
        dashboard_url: str = "",
    ) -> None:
        self._clock = clock
        self._uow = uow
        self._portfolio = portfolio
        self._conditions = conditions
        self._runner = runner
        self._lock = lock
        self._strategy = strategy or StrategyConfig()
        self._notifier = notifier
        self._dashboard_url = dashboard_url

    async def execute(self, decision_id: str) -> ExecutionReport | None:
        """Execute the plan if the decision is still approved; None if there was nothing to do
        here (a standby leaves it approved for the leader).

        Raises:
            NotFound: no such decision, or it has no plan.
        """
        try:
            async with self._lock.hold():
                return await self._execute(decision_id)
        except NotLeader:
            log.info("approved decision left for the leader", extra={"decision_id": decision_id})
            return None

    async def _execute(self, decision_id: str) -> ExecutionReport | None:
        async with self._uow() as uow:
            decision = await uow.decisions.get(decision_id)
            if decision.status is not DecisionStatus.APPROVED:
                return None
            if decision.plan_id is None:
                raise NotFound("plan of decision", decision_id)
            plan = await uow.plans.get(decision.plan_id)
            stopped = await uow.flags.is_active(EMERGENCY_STOP)
            breaker = await uow.strategy.breaker()
            slippage = await uow.strategy.slippage_budget()
            last_exit_at = (await uow.strategy.ratchet()).last_exit_at
            now = self._clock.now()
            trades_today = await uow.executions.count_sent_on(now.date())
            already = await uow.executions.by_plan(plan.plan_id)
        portfolio = await self._portfolio.read()
        context = SafetyContext(
            now=now,
            emergency_stop=stopped,
            trades_today=max(0, trades_today - sum(1 for s in already if s.tx_hash)),
            base_fee_gwei=await self._conditions.base_fee_gwei(),
            protocol_tvl_usd=await self._conditions.protocol_tvl_usd(),
            slippage_state=slippage,
            consecutive_failures=breaker.consecutive_failures,
            # A plan approved before an exit must not buy back during the cooldown.
            reentry_blocked_until=reentry_blocked_until(last_exit_at, self._strategy.limits),
        )
        if not already:
            verdict = evaluate(plan, portfolio, context, self._strategy.limits)
            hard = tuple(v.reason for v in verdict.failures if v.severity is Severity.HARD)
            if verdict.outcome is Outcome.REJECTED and hard:
                return await self._refuse(decision, plan, hard)
        report = await self._runner.execute(plan, decision.id)
        await settle_execution(
            self._uow,
            self._clock,
            decision,
            plan,
            report,
            portfolio,
            self._strategy,
            notifier=self._notifier,
            dashboard_url=self._dashboard_url,
        )
        return report

    async def _refuse(
        self, decision: Decision, plan: RebalancingPlan, reasons: tuple[str, ...]
    ) -> ExecutionReport:
        now = self._clock.now()
        async with self._uow() as uow:
            failed = decision.mark_failed(now, "refused at execution: " + "; ".join(reasons))
            await uow.decisions.update(failed)
            await uow.audit.append(
                "policy",
                "plan.refused",
                "plan",
                plan.plan_id,
                {"decision_id": decision.id, "reasons": list(reasons)},
                at=now,
            )
            await uow.commit()
        error = failed.notes or "refused at execution"
        announce(
            self._notifier,
            lambda: execution_failed(decision.id, plan, error, (), self._dashboard_url, at=now),
        )
        return ExecutionReport(plan_id=plan.plan_id, succeeded=False, steps=(), error=failed.notes)


class ExecuteWaitingApprovals:
    """The leader's sweep: execute approved decisions whose plan has not started (approved on a
    standby, or approved just before a leader died), while their approval window is still open.
    A plan with recorded steps is left to crash recovery: it never runs twice. An approval whose
    window closed before any leader ran it stays as it is: nobody meant it to run that late."""

    def __init__(self, *, clock: Clock, uow: UnitOfWorkFactory, execute: ApprovedExecution) -> None:
        self._clock = clock
        self._uow = uow
        self._execute = execute

    async def execute(self) -> list[str]:
        """Execute what is waiting, oldest first; returns the decision ids that ran.

        Raises:
            NotFound: a decision's plan is missing.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            approved = await uow.decisions.list_by_status(DecisionStatus.APPROVED)
            waiting = [
                d
                for d in sorted(approved, key=lambda d: d.created_at)
                if d.plan_id is not None
                and not d.is_expired(now)
                and not await uow.executions.by_plan(d.plan_id)
            ]
        ran: list[str] = []
        for decision in waiting:
            try:
                report = await self._execute.execute(decision.id)
            except (CycleBusy, ExecutionRefused) as exc:
                # A cycle or the approval's own background run got there first; the decision
                # is settled by that run, or looked at again next sweep.
                log.info(
                    "approved decision not run now",
                    extra={"decision_id": decision.id, "reason": str(exc)},
                )
                continue
            if report is not None:
                ran.append(decision.id)
        return ran


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpiryResult:
    """Which pending decisions expired, and why."""

    expired: tuple[tuple[str, str], ...]


class ExpirePendingDecisions:
    """Expire pending decisions whose approval window has passed."""

    def __init__(
        self,
        *,
        clock: Clock,
        uow: UnitOfWorkFactory,
        notifier: Notifier | None = None,
        dashboard_url: str = "",
        clear: ProposalClearing | None = None,
    ) -> None:
        self._clock = clock
        self._uow = uow
        self._notifier = notifier
        self._dashboard_url = dashboard_url
        self._clear = clear

    async def execute(
        self,
        *,
        actor: str = "scheduler",
        cause: Mapping[str, object] | None = None,
    ) -> ExpiryResult:
        """Expire what is due. Each expiry is audited as done by `actor`, with `cause` (what
        made it due) added to its payload."""
        now = self._clock.now()
        reason = "approval window passed"
        expired: list[tuple[str, str]] = []
        answered: list[Decision] = []
        async with self._uow() as uow:
            for decision in await uow.decisions.list_by_status(DecisionStatus.PENDING):
                if not decision.is_expired(now):
                    continue
                gone = decision.expire(now, reason)
                await uow.decisions.update(gone)
                answered.append(gone)
                await uow.audit.append(
                    actor,
                    "decision.expired",
                    "decision",
                    decision.id,
                    {"reason": reason, **(cause or {})},
                    at=now,
                )
                expired.append((decision.id, reason))
            await uow.commit()
        url = self._dashboard_url
        announce(self._notifier, lambda: [decision_answered(d, url) for d in answered])
        if self._clear is not None:
            for decision_id, _ in expired:
                await self._clear.clear(decision_id, actor)
        return ExpiryResult(expired=tuple(expired))
