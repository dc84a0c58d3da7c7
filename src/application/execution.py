"""The execution engine's contract as the rest of the application sees it, and settling what
an execution did.

The engine runs a plan's transactions in order through the chain ports: it simulates the
whole plan first, persists each step's intent before signing and its nonce and hash before
broadcast, stops at the first failed step, and on start-up reconciles unfinished steps with
the chain so that a crash never sends a step twice nor loses one. `settle_execution` records
the result (decision, circuit breaker, slippage budget, exit time, emergency stop) for the
decision cycle, approved executions and crash recovery alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from application.notifications import announce, breaker_tripped, execution_failed, plan_executed
from application.ports.clock import Clock
from application.ports.notify import Notifier
from application.ports.persistence import (
    EMERGENCY_STOP,
    OperatorFlag,
    UnitOfWork,
    UnitOfWorkFactory,
)
from domain.budget import BreakerState, consume_slippage
from domain.decisions import Decision
from domain.execution import ExecutedTransaction, PlanOutcome, StepStatus, moved_money
from domain.money import ZERO
from domain.plans import PlanKind, RebalancingPlan
from domain.portfolio import PortfolioState
from domain.strategy import StrategyConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionReport:
    """What happened when a plan ran."""

    plan_id: str
    succeeded: bool
    steps: tuple[ExecutedTransaction, ...]
    error: str | None = None
    realised_slippage_usd: Decimal = ZERO

    @property
    def gas_cost_usd(self) -> Decimal:
        """Actual gas paid by confirmed steps."""
        return sum((s.gas_cost_usd or ZERO for s in self.steps), ZERO)

    @property
    def outcome(self) -> PlanOutcome:
        """Executed, partially executed (money moved, then a step failed) or failed."""
        if self.succeeded:
            return PlanOutcome.EXECUTED
        return PlanOutcome.PARTIALLY_EXECUTED if moved_money(self.steps) else PlanOutcome.FAILED

    @property
    def sent(self) -> int:
        """How many steps reached the chain."""
        return sum(
            1
            for s in self.steps
            if s.status in (StepStatus.CONFIRMED, StepStatus.FAILED) and s.tx_hash
        )


class PlanRunner(Protocol):
    """Runs approved or allowed plans; implemented by the execution engine."""

    async def execute(self, plan: RebalancingPlan, decision_id: str) -> ExecutionReport:
        """Simulate the plan, then send it step by step. Never raises for a failed step: the
        report says what failed and why.

        Raises:
            ExecutionRefused: the plan was already executed (a plan runs at most once).
        """
        ...

    async def reconcile(self) -> list[ExecutedTransaction]:
        """Settle unfinished steps left by a crash against the chain; returns what changed."""
        ...


async def settle_execution(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    decision: Decision,
    plan: RebalancingPlan,
    report: ExecutionReport,
    before: PortfolioState | None,
    strategy: StrategyConfig,
    *,
    notifier: Notifier | None = None,
    dashboard_url: str = "",
    actor: str = "engine",
) -> Decision:
    """Record an execution's result: decision executed, partially executed or failed, circuit
    breaker, slippage budget (when money moved and the portfolio before is known), last
    rebalance, the emergency stop if the breaker trips, and for an exit that sold anything the
    time of the exit (it starts the re-entry cooldown). Once committed, tell the notifier (if
    any) what happened."""
    now = clock.now()
    limit = strategy.limits.circuit_breaker_failures
    async with uow_factory() as uow:
        breaker = (await uow.strategy.breaker()).after(report.succeeded)
        await uow.strategy.save_breaker(breaker)
        if plan.kind is PlanKind.EMERGENCY_EXIT and _sold(report):
            ratchet = await uow.strategy.ratchet()
            await uow.strategy.save_ratchet(replace(ratchet, last_exit_at=now))
        settled = settled_decision(decision, report, now)
        if report.outcome is not PlanOutcome.FAILED and before is not None:
            await _consume_slippage(uow, plan, report, before, strategy, now)
        await uow.decisions.update(settled)
        await uow.audit.append(
            actor,
            "plan.executed" if report.succeeded else "plan.failed",
            "plan",
            plan.plan_id,
            execution_payload(decision, report),
            at=now,
        )
        tripped = breaker.tripped(limit)
        if tripped:
            await _stop_on_breaker(uow, breaker, now)
        await uow.commit()
    _announce_settled(notifier, decision, plan, report, dashboard_url, now)
    if tripped:
        announce(notifier, lambda: breaker_tripped(breaker.consecutive_failures, limit, at=now))
    return settled


def settled_decision(decision: Decision, report: ExecutionReport, now: datetime) -> Decision:
    """The decision marked with the execution's outcome."""
    outcome = report.outcome
    if outcome is PlanOutcome.EXECUTED:
        return decision.mark_executed(now)
    if outcome is PlanOutcome.PARTIALLY_EXECUTED:
        return decision.mark_partially_executed(now, report.error or "execution failed")
    return decision.mark_failed(now, report.error or "execution failed")


def execution_payload(decision: Decision, report: ExecutionReport) -> dict[str, object]:
    """The execution as audit payload: outcome, error, every step and the gas paid."""
    return {
        "decision_id": decision.id,
        "outcome": report.outcome.value,
        "error": report.error,
        "steps": [
            {
                "id": s.id,
                "step": s.step_index,
                "kind": s.kind,
                "status": s.status.value,
                "tx_hash": s.tx_hash,
                "nonce": s.nonce,
                "error": s.error,
            }
            for s in report.steps
        ],
        "gas_cost_usd": str(report.gas_cost_usd),
    }


def _sold(report: ExecutionReport) -> bool:
    """Whether any of the plan's steps landed (for an exit: whether it sold anything)."""
    return report.succeeded or any(s.status is StepStatus.CONFIRMED for s in report.steps)


async def _consume_slippage(
    uow: UnitOfWork,
    plan: RebalancingPlan,
    report: ExecutionReport,
    before: PortfolioState,
    strategy: StrategyConfig,
    now: datetime,
) -> None:
    """Charge the slippage the execution realised (or the plan's estimate) to the budget."""
    spent = report.realised_slippage_usd or plan.estimated_slippage
    budget = await uow.strategy.slippage_budget()
    await uow.strategy.save_slippage_budget(
        consume_slippage(
            budget, strategy.limits.slippage_budget, before.total_value_usd, spent, now
        )
    )


async def _stop_on_breaker(uow: UnitOfWork, breaker: BreakerState, now: datetime) -> None:
    """Turn the emergency stop on because the circuit breaker tripped, and audit it."""
    await uow.flags.set(
        OperatorFlag(
            name=EMERGENCY_STOP,
            active=True,
            set_by="circuit_breaker",
            reason=f"{breaker.consecutive_failures} consecutive failed executions",
            set_at=now,
        )
    )
    await uow.audit.append(
        "circuit_breaker",
        "emergency_stop.on",
        "flag",
        EMERGENCY_STOP,
        {"consecutive_failures": breaker.consecutive_failures},
        at=now,
    )


def _announce_settled(
    notifier: Notifier | None,
    decision: Decision,
    plan: RebalancingPlan,
    report: ExecutionReport,
    dashboard_url: str,
    now: datetime,
) -> None:
    """Tell the notifier (if any) that the plan executed, or why it failed."""
    if report.succeeded:
        announce(
            notifier,
            lambda: plan_executed(decision.id, plan, report.steps, dashboard_url, at=now),
        )
        return
    error = report.error or "execution failed"
    if report.outcome is PlanOutcome.PARTIALLY_EXECUTED:
        error = f"partially executed: {error}"
    announce(
        notifier,
        lambda: execution_failed(decision.id, plan, error, report.steps, dashboard_url, at=now),
    )
