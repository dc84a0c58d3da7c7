"""The decision cycle: market data, signal, advice, plan, safety verdict, then act.

One cycle or execution at a time, in this process and across processes (`CycleLock`). Every step is
recorded in units of work with audit entries, before it takes effect: the decision, plan and
verdict are committed before any transaction is sent. Per-stage timings are kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from application.errors import TransientError
from application.execution import ExecutionReport, PlanRunner
from application.notifications import (
    announce,
    approval_pending,
    black_swan_exit,
    breaker_tripped,
    execution_failed,
    plan_executed,
    stale_sources,
)
from application.ports.advisor import AdvisorRequest, AllocationAdvisor
from application.ports.clock import Clock, IdGenerator
from application.ports.market import MarketDataSource
from application.ports.notify import Notifier
from application.ports.persistence import EMERGENCY_STOP, OperatorFlag, UnitOfWorkFactory
from application.ports.treasury import (
    ChainConditions,
    CycleLock,
    PortfolioReader,
    StateFileWriter,
    TermMarkets,
)
from domain.budget import consume_slippage
from domain.decisions import AdvisorDecision, Decision, DecisionKind, DecisionStatus
from domain.errors import PlanInfeasible
from domain.execution import PlanOutcome, StepStatus
from domain.market import MarketData
from domain.maturity import TermHolding, TermMarket, next_roll, roll_due
from domain.plans import PlanKind, RebalancingPlan
from domain.portfolio import PortfolioState
from domain.safety import Outcome, SafetyContext, SafetyVerdict
from domain.signals import AllocationSignal, generate_signal
from domain.strategy import Proposal, StrategyConfig, planning_prices, propose

log = logging.getLogger(__name__)


class CycleOutcome(StrEnum):
    """How a cycle ended."""

    HELD = "held"
    EXECUTED = "executed"
    PENDING_APPROVAL = "pending_approval"
    REJECTED = "rejected"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleCommand:
    """Run one cycle; `force` plans even within the drift band."""

    requested_by: str = "scheduler"
    force: bool = False
    max_slippage: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleResult:
    """Everything one cycle saw, decided and did."""

    decision: Decision
    market: MarketData
    signal: AllocationSignal
    advice: AdvisorDecision
    plan: RebalancingPlan | None
    verdict: SafetyVerdict | None
    outcome: CycleOutcome
    execution: ExecutionReport | None
    portfolio: PortfolioState
    timings_ms: Mapping[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timings_ms", MappingProxyType(dict(self.timings_ms)))


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleConfig:
    """Strategy settings plus how long a pending decision waits for a human."""

    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    approval_expiry: timedelta = timedelta(hours=24)
    recent_outcomes: int = 5
    stale_alert_after: timedelta = timedelta(minutes=15)


class _Stopwatch:
    def __init__(self) -> None:
        self.timings: dict[str, Decimal] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = Decimal(f"{(now - self._last) * 1000:.3f}")
        self._last = now


def decision_kind(plan: RebalancingPlan | None, advice: AdvisorDecision) -> DecisionKind:
    """What kind of decision this is: the plan's kind when there is one, else the advice's."""
    if plan is None:
        return advice.decision
    if plan.kind is PlanKind.EMERGENCY_EXIT:
        return DecisionKind.EMERGENCY_EXIT
    return DecisionKind.REBALANCE


def verdict_payload(verdict: SafetyVerdict | None) -> dict[str, object]:
    """The policy's verdict as audit payload: outcome and every rule's result."""
    if verdict is None:
        return {"outcome": None, "rules": []}
    return {
        "outcome": verdict.outcome.value,
        "rules": [
            {
                "rule": v.rule,
                "passed": v.passed,
                "limit": v.limit,
                "actual": v.actual,
                "severity": v.severity.value,
            }
            for v in verdict.verdicts
        ],
    }


class RunDecisionCycle:
    """The use case behind the scheduler, `POST /portfolio/rebalance` and `treasury cycle`."""

    def __init__(
        self,
        *,
        clock: Clock,
        ids: IdGenerator,
        market: MarketDataSource,
        portfolio: PortfolioReader,
        conditions: ChainConditions,
        advisor: AllocationAdvisor,
        uow: UnitOfWorkFactory,
        runner: PlanRunner,
        lock: CycleLock,
        state_file: StateFileWriter,
        config: CycleConfig | None = None,
        notifier: Notifier | None = None,
        dashboard_url: str = "",
        terms: TermMarkets | None = None,
    ) -> None:
        self._terms = terms
        self._clock = clock
        self._ids = ids
        self._market = market
        self._portfolio = portfolio
        self._conditions = conditions
        self._advisor = advisor
        self._uow = uow
        self._runner = runner
        self._lock = lock
        self._state_file = state_file
        self._config = config or CycleConfig()
        self._notifier = notifier
        self._dashboard_url = dashboard_url

    async def execute(self, command: CycleCommand) -> CycleResult:
        """Run one cycle end to end (see module doc).

        Raises:
            CycleBusy: another cycle holds the lock.
            MarketDataUnavailable: no market data at all could be read.
        """
        async with self._lock.hold():
            return await self._run(command)

    async def _run(self, command: CycleCommand) -> CycleResult:
        watch = _Stopwatch()
        strategy = self._config.strategy
        market = await self._market.fetch()
        watch.lap("market")
        portfolio = await self._portfolio.read()
        unit_prices = await self._portfolio.unit_prices()
        base_fee = await self._conditions.base_fee_gwei()
        gas_price = await self._conditions.gas_price_gwei()
        tvl = await self._conditions.protocol_tvl_usd()
        now = self._clock.now()
        holdings, term_markets = await self._term_markets(now)
        watch.lap("portfolio")
        async with self._uow() as uow:
            ratchet = await uow.strategy.ratchet()
            slippage_state = await uow.strategy.slippage_budget()
            breaker = await uow.strategy.breaker()
            stopped = await uow.flags.is_active(EMERGENCY_STOP)
            trades_today = await uow.executions.count_sent_on(now.date())
            outcomes = await uow.outcomes.recent(self._config.recent_outcomes)
            waiting = await uow.decisions.list_by_status(DecisionStatus.PENDING, limit=1)
        signal, new_ratchet = generate_signal(market, ratchet, now, strategy.signal)
        watch.lap("signal")
        advice = await self._advisor.advise(
            AdvisorRequest(
                market=market,
                portfolio=portfolio,
                signal=signal,
                limits=strategy.limits,
                recent_outcomes=tuple(outcomes),
            )
        )
        watch.lap("advisor")
        context = SafetyContext(
            now=now,
            emergency_stop=stopped,
            trades_today=trades_today,
            base_fee_gwei=base_fee,
            protocol_tvl_usd=tvl,
            slippage_state=slippage_state,
            consecutive_failures=breaker.consecutive_failures,
        )
        decision_id = self._ids.new_id("dec")
        plan: RebalancingPlan | None = None
        verdict: SafetyVerdict | None = None
        hold_reason = advice.reasoning
        exit_reasons: tuple[str, ...] = ()
        rolling = next_roll(holdings, term_markets, now, strategy.roll) is not None
        # A hold still sweeps idle cash above the buffer into the base venues, if it is worth
        # a plan of its own (`domain.strategy.propose`); nothing else moves, and a hold that
        # cannot be planned (a price unknown) moves nothing, as before. A PT roll that is due
        # is planned whatever the advice.
        holding = advice.decision is DecisionKind.HOLD and not command.force and not rolling
        proposal: Proposal | None = None
        try:
            proposal = propose(
                portfolio,
                advice.target_allocations,
                market,
                context,
                prices=planning_prices(market, gas_price, unit_prices),
                plan_id=self._ids.new_id("plan"),
                now=now,
                config=strategy,
                threshold_crossed=signal.threshold_crossed,
                force=command.force,
                exit_requested=advice.decision is DecisionKind.EMERGENCY_EXIT,
                hold=holding,
                last_exit_at=ratchet.last_exit_at,
                exposure_known=signal.exposure_known,
                max_slippage=command.max_slippage,
                risk_level=advice.risk_assessment,
                signal_targets=signal.target_allocations,
                term_holdings=holdings,
                term_markets=term_markets,
            )
        except PlanInfeasible:
            if not holding:
                raise
        if proposal is not None and (not holding or proposal.plan is not None):
            plan, verdict = proposal.plan, proposal.verdict
            hold_reason = proposal.reason
            exit_reasons = proposal.black_swan.reasons if proposal.black_swan else ()
        watch.lap("plan")
        if plan is None or plan.is_empty or verdict is None:
            status, outcome = DecisionStatus.HELD, CycleOutcome.HELD
        elif waiting and not exit_reasons and verdict.outcome is not (Outcome.REJECTED):
            # One human decision at a time: no trading around a plan someone is reviewing.
            # Expiry (time, or a material market move) clears the way for a fresh plan. Only a
            # black-swan exit goes ahead; an exit the advisor asked for waits its turn.
            status, outcome = DecisionStatus.HELD, CycleOutcome.HELD
            hold_reason = f"decision {waiting[0].id} is waiting for approval"
        elif verdict.outcome is Outcome.REJECTED:
            status, outcome = DecisionStatus.REJECTED, CycleOutcome.REJECTED
        elif verdict.outcome is Outcome.NEEDS_APPROVAL:
            status, outcome = DecisionStatus.PENDING, CycleOutcome.PENDING_APPROVAL
        else:
            status, outcome = DecisionStatus.APPROVED, CycleOutcome.EXECUTED
        decision = Decision(
            id=decision_id,
            created_at=now,
            signal=signal,
            advisor=advice.advisor,
            target_allocations=advice.target_allocations,
            reasoning=advice.reasoning
            if status is not DecisionStatus.HELD
            else f"{advice.reasoning} Held: {hold_reason}",
            risk_assessment=advice.risk_assessment,
            status=status,
            kind=decision_kind(plan, advice),
            plan_id=plan.plan_id if plan is not None else None,
            verdict_reasons=verdict.reasons if verdict is not None else (),
            approver="policy" if status is DecisionStatus.APPROVED else None,
            expires_at=now + self._config.approval_expiry
            if status is DecisionStatus.PENDING
            else None,
            model=advice.model,
            fallback_reason=advice.fallback_reason,
        )
        async with self._uow() as uow:
            await uow.market_data.add(market)
            await uow.signals.add(signal)
            # The exit time may have changed since the cycle read it (a human lifted the
            # cooldown): keep the stored one, which only settling an exit or a lift writes.
            stored = await uow.strategy.ratchet()
            await uow.strategy.save_ratchet(replace(new_ratchet, last_exit_at=stored.last_exit_at))
            await uow.decisions.add(decision)
            await uow.audit.append(
                command.requested_by,
                "decision.created",
                "decision",
                decision.id,
                {
                    "status": decision.status.value,
                    "advisor": advice.advisor,
                    "model": advice.model,
                    "fallback_reason": advice.fallback_reason,
                    "advice": advice.decision.value,
                    "targets": {k: str(v) for k, v in advice.target_allocations.as_dict().items()},
                    "signal": {
                        "phase": signal.market_phase.value,
                        "trigger": signal.trigger,
                        "confidence": str(signal.confidence),
                    },
                    "metadata": dict(advice.metadata),
                    "timings_ms": {k: str(v) for k, v in watch.timings.items()},
                },
                at=now,
            )
            if plan is not None:
                await uow.plans.add(plan, decision_id=decision.id)
                await uow.audit.append(
                    "policy",
                    f"plan.{verdict.outcome.value}" if verdict else "plan.empty",
                    "plan",
                    plan.plan_id,
                    {
                        "decision_id": decision.id,
                        "transactions": [t.describe() for t in plan.required_transactions],
                        "skipped": [f"{s.description}: {s.reason}" for s in plan.skipped],
                        "verdict": verdict_payload(verdict),
                    },
                    at=now,
                )
            await uow.commit()
        watch.lap("record")
        self._announce_decision(market, decision, plan, exit_reasons, now)
        execution: ExecutionReport | None = None
        if status is DecisionStatus.APPROVED and plan is not None:
            execution = await self._runner.execute(plan, decision.id)
            decision = await self._settle(decision, plan, execution, portfolio)
            outcome = CycleOutcome.EXECUTED if execution.succeeded else CycleOutcome.FAILED
            watch.lap("execute")
        refreshed = await self._portfolio.read() if execution is not None else portfolio
        await self._snapshot(refreshed)
        watch.lap("snapshot")
        log.info(
            "decision cycle finished",
            extra={
                "decision_id": decision.id,
                "outcome": outcome.value,
                "timings_ms": {k: str(v) for k, v in watch.timings.items()},
            },
        )
        return CycleResult(
            decision=decision,
            market=market,
            signal=signal,
            advice=advice,
            plan=plan,
            verdict=verdict,
            outcome=outcome,
            execution=execution,
            portfolio=refreshed,
            timings_ms=watch.timings,
        )

    async def _term_markets(
        self, now: datetime
    ) -> tuple[tuple[TermHolding, ...], tuple[TermMarket, ...]]:
        """Fixed-term holdings, and the markets to roll into when one is due. A protocol that
        cannot be read now leaves the roll to a later cycle; it does not stop this one."""
        if self._terms is None:
            return (), ()
        try:
            holdings = await self._terms.holdings()
            if not any(roll_due(h, now, self._config.strategy.roll) for h in holdings):
                return holdings, ()
            return holdings, await self._terms.candidates()
        except TransientError as exc:
            log.warning(
                "fixed-term markets unreadable; no roll this cycle", extra={"error": str(exc)}
            )
            return (), ()

    async def _settle(
        self,
        decision: Decision,
        plan: RebalancingPlan,
        report: ExecutionReport,
        before: PortfolioState,
    ) -> Decision:
        return await settle_execution(
            self._uow,
            self._clock,
            decision,
            plan,
            report,
            before,
            self._config.strategy,
            notifier=self._notifier,
            dashboard_url=self._dashboard_url,
        )

    def _announce_decision(
        self,
        market: MarketData,
        decision: Decision,
        plan: RebalancingPlan | None,
        exit_reasons: tuple[str, ...],
        now: datetime,
    ) -> None:
        # Published after the decision is committed; publishing only enqueues.
        notifier, url = self._notifier, self._dashboard_url
        announce(notifier, lambda: stale_sources(market, self._config.stale_alert_after, at=now))
        if plan is None or plan.is_empty:
            return
        if plan.kind is PlanKind.EMERGENCY_EXIT and exit_reasons:
            # Only a detected black swan is a black-swan exit; an exit the advisor asked for
            # is announced as the plan waiting for a human.
            announce(notifier, lambda: black_swan_exit(decision, plan, exit_reasons, url))
        if decision.status is DecisionStatus.PENDING:
            announce(notifier, lambda: approval_pending(decision, plan, url))

    async def _snapshot(self, state: PortfolioState) -> None:
        async with self._uow() as uow:
            await uow.snapshots.add(state)
            await uow.positions.replace_all(state.positions)
            await uow.commit()
        await self._state_file.write(state)


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
    outcome = report.outcome
    async with uow_factory() as uow:
        breaker = (await uow.strategy.breaker()).after(report.succeeded)
        await uow.strategy.save_breaker(breaker)
        sold = report.succeeded or any(s.status is StepStatus.CONFIRMED for s in report.steps)
        if plan.kind is PlanKind.EMERGENCY_EXIT and sold:
            ratchet = await uow.strategy.ratchet()
            await uow.strategy.save_ratchet(replace(ratchet, last_exit_at=now))
        if outcome is PlanOutcome.EXECUTED:
            settled = decision.mark_executed(now)
        elif outcome is PlanOutcome.PARTIALLY_EXECUTED:
            settled = decision.mark_partially_executed(now, report.error or "execution failed")
        else:
            settled = decision.mark_failed(now, report.error or "execution failed")
        if outcome is not PlanOutcome.FAILED and before is not None:
            spent = report.realised_slippage_usd or plan.estimated_slippage
            budget = await uow.strategy.slippage_budget()
            await uow.strategy.save_slippage_budget(
                consume_slippage(
                    budget, strategy.limits.slippage_budget, before.total_value_usd, spent, now
                )
            )
        await uow.decisions.update(settled)
        await uow.audit.append(
            actor,
            "plan.executed" if report.succeeded else "plan.failed",
            "plan",
            plan.plan_id,
            {
                "decision_id": decision.id,
                "outcome": outcome.value,
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
            },
            at=now,
        )
        tripped = breaker.tripped(strategy.limits.circuit_breaker_failures)
        if tripped:
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
        await uow.commit()
    if report.succeeded:
        announce(
            notifier,
            lambda: plan_executed(decision.id, plan, report.steps, dashboard_url, at=now),
        )
    else:
        error = report.error or "execution failed"
        if outcome is PlanOutcome.PARTIALLY_EXECUTED:
            error = f"partially executed: {error}"
        announce(
            notifier,
            lambda: execution_failed(decision.id, plan, error, report.steps, dashboard_url, at=now),
        )
    if tripped:
        limit = strategy.limits.circuit_breaker_failures
        announce(notifier, lambda: breaker_tripped(breaker.consecutive_failures, limit, at=now))
    return settled
