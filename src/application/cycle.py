"""The decision cycle: market data, signal, advice, plan, safety verdict, then act.

Gather (market, portfolio, chain conditions, stored strategy state, signal), ask the advisor,
propose (`domain.strategy.propose`), decide (`domain.deciding.decide`), record, then act.
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
from application.execution import ExecutionReport, PlanRunner, settle_execution
from application.notifications import announce, approval_pending, black_swan_exit, stale_sources
from application.ports.advisor import AdvisorRequest, AllocationAdvisor
from application.ports.clock import Clock, IdGenerator
from application.ports.market import MarketDataSource
from application.ports.notify import Notifier
from application.ports.persistence import EMERGENCY_STOP, DecisionOutcome, UnitOfWorkFactory
from application.ports.treasury import (
    ChainConditions,
    CycleLock,
    PortfolioReader,
    StateFileWriter,
    TermMarkets,
)
from domain.deciding import acted_on, decide, exit_reasons
from domain.decisions import AdvisorDecision, Decision, DecisionKind, DecisionStatus
from domain.errors import PlanInfeasible
from domain.market import MarketData
from domain.maturity import TermHolding, TermMarket, next_roll, roll_due
from domain.plans import PlanKind, RebalancingPlan
from domain.portfolio import PortfolioState
from domain.safety import SafetyContext, SafetyVerdict
from domain.signals import AllocationSignal, generate_signal
from domain.strategy import Proposal, StrategyConfig, planning_prices, propose
from domain.tactical import RatchetState

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


@dataclass(frozen=True, slots=True, kw_only=True)
class _Gathered:
    """What a cycle read before deciding."""

    market: MarketData
    portfolio: PortfolioState
    unit_prices: Mapping[str, Decimal]
    gas_price_gwei: Decimal
    now: datetime
    holdings: tuple[TermHolding, ...]
    term_markets: tuple[TermMarket, ...]
    ratchet: RatchetState
    new_ratchet: RatchetState
    signal: AllocationSignal
    context: SafetyContext
    outcomes: tuple[DecisionOutcome, ...]
    pending: Decision | None
    """The decision waiting for a human, if any (one at a time)."""


_OUTCOME_OF_STATUS: Mapping[DecisionStatus, CycleOutcome] = MappingProxyType(
    {
        DecisionStatus.HELD: CycleOutcome.HELD,
        DecisionStatus.REJECTED: CycleOutcome.REJECTED,
        DecisionStatus.PENDING: CycleOutcome.PENDING_APPROVAL,
        DecisionStatus.APPROVED: CycleOutcome.EXECUTED,
    }
)


def cycle_outcome(decided: DecisionStatus, execution: ExecutionReport | None) -> CycleOutcome:
    """How the cycle ended: from the decision's status as decided, or when its plan ran, from
    whether the execution succeeded."""
    if execution is not None:
        return CycleOutcome.EXECUTED if execution.succeeded else CycleOutcome.FAILED
    return _OUTCOME_OF_STATUS[decided]


def decision_payload(
    decision: Decision,
    advice: AdvisorDecision,
    signal: AllocationSignal,
    timings: Mapping[str, Decimal],
) -> dict[str, object]:
    """The decision as audit payload: status, who advised what, the signal and stage timings."""
    return {
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
        "timings_ms": {k: str(v) for k, v in timings.items()},
    }


def plan_payload(
    decision: Decision, plan: RebalancingPlan, verdict: SafetyVerdict | None
) -> dict[str, object]:
    """The plan as audit payload: its transactions, what it skipped, and the verdict."""
    return {
        "decision_id": decision.id,
        "transactions": [t.describe() for t in plan.required_transactions],
        "skipped": [f"{s.description}: {s.reason}" for s in plan.skipped],
        "verdict": verdict_payload(verdict),
    }


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
        seen = await self._gather(watch)
        advice = await self._advisor.advise(
            AdvisorRequest(
                market=seen.market,
                portfolio=seen.portfolio,
                signal=seen.signal,
                limits=self._config.strategy.limits,
                recent_outcomes=seen.outcomes,
            )
        )
        watch.lap("advisor")
        decision_id = self._ids.new_id("dec")  # taken before the plan's id
        proposal = self._propose(seen, advice, command)
        decision = decide(
            proposal,
            advice,
            seen.pending,
            decision_id=decision_id,
            signal=seen.signal,
            now=seen.now,
            expiry=self._config.approval_expiry,
        )
        plan = proposal.plan if proposal is not None else None
        verdict = proposal.verdict if proposal is not None else None
        watch.lap("plan")
        await self._record(command.requested_by, seen, advice, decision, proposal, watch.timings)
        watch.lap("record")
        self._announce_decision(seen.market, decision, plan, exit_reasons(proposal), seen.now)
        decided = decision.status
        decision, execution, refreshed = await self._act(decision, plan, seen.portfolio, watch)
        outcome = cycle_outcome(decided, execution)
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
            market=seen.market,
            signal=seen.signal,
            advice=advice,
            plan=plan,
            verdict=verdict,
            outcome=outcome,
            execution=execution,
            portfolio=refreshed,
            timings_ms=watch.timings,
        )

    async def _gather(self, watch: _Stopwatch) -> _Gathered:
        """Market data, the portfolio and chain conditions, the stored strategy state, and the
        signal they give."""
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
        signal, new_ratchet = generate_signal(market, ratchet, now, self._config.strategy.signal)
        watch.lap("signal")
        return _Gathered(
            market=market,
            portfolio=portfolio,
            unit_prices=unit_prices,
            gas_price_gwei=gas_price,
            now=now,
            holdings=holdings,
            term_markets=term_markets,
            ratchet=ratchet,
            new_ratchet=new_ratchet,
            signal=signal,
            context=SafetyContext(
                now=now,
                emergency_stop=stopped,
                trades_today=trades_today,
                base_fee_gwei=base_fee,
                protocol_tvl_usd=tvl,
                slippage_state=slippage_state,
                consecutive_failures=breaker.consecutive_failures,
            ),
            outcomes=tuple(outcomes),
            pending=waiting[0] if waiting else None,
        )

    def _propose(
        self, seen: _Gathered, advice: AdvisorDecision, command: CycleCommand
    ) -> Proposal | None:
        """The strategy's proposal the cycle acts on (`domain.deciding.acted_on`).

        A hold still sweeps idle cash above the buffer into the base venues, if it is worth a
        plan of its own; nothing else moves, and a hold that cannot be planned (a price
        unknown) moves nothing. A PT roll that is due is planned whatever the advice.
        """
        strategy = self._config.strategy
        rolling = next_roll(seen.holdings, seen.term_markets, seen.now, strategy.roll) is not None
        holding = advice.decision is DecisionKind.HOLD and not command.force and not rolling
        try:
            proposal = propose(
                seen.portfolio,
                advice.target_allocations,
                seen.market,
                seen.context,
                prices=planning_prices(seen.market, seen.gas_price_gwei, seen.unit_prices),
                plan_id=self._ids.new_id("plan"),
                now=seen.now,
                config=strategy,
                threshold_crossed=seen.signal.threshold_crossed,
                force=command.force,
                exit_requested=advice.decision is DecisionKind.EMERGENCY_EXIT,
                hold=holding,
                last_exit_at=seen.ratchet.last_exit_at,
                exposure_known=seen.signal.exposure_known,
                max_slippage=command.max_slippage,
                risk_level=advice.risk_assessment,
                signal_targets=seen.signal.target_allocations,
                term_holdings=seen.holdings,
                term_markets=seen.term_markets,
            )
        except PlanInfeasible:
            if not holding:
                raise
            return None
        return acted_on(proposal, hold=holding)

    async def _record(
        self,
        actor: str,
        seen: _Gathered,
        advice: AdvisorDecision,
        decision: Decision,
        proposal: Proposal | None,
        timings: Mapping[str, Decimal],
    ) -> None:
        """Commit market data, signal, ratchet, decision and plan with their audit entries, in
        one unit of work, before anything takes effect."""
        plan = proposal.plan if proposal is not None else None
        verdict = proposal.verdict if proposal is not None else None
        async with self._uow() as uow:
            await uow.market_data.add(seen.market)
            await uow.signals.add(seen.signal)
            # The exit time may have changed since the cycle read it (a human lifted the
            # cooldown): keep the stored one, which only settling an exit or a lift writes.
            stored = await uow.strategy.ratchet()
            await uow.strategy.save_ratchet(
                replace(seen.new_ratchet, last_exit_at=stored.last_exit_at)
            )
            await uow.decisions.add(decision)
            await uow.audit.append(
                actor,
                "decision.created",
                "decision",
                decision.id,
                decision_payload(decision, advice, seen.signal, timings),
                at=seen.now,
            )
            if plan is not None:
                await uow.plans.add(plan, decision_id=decision.id)
                await uow.audit.append(
                    "policy",
                    f"plan.{verdict.outcome.value}" if verdict else "plan.empty",
                    "plan",
                    plan.plan_id,
                    plan_payload(decision, plan, verdict),
                    at=seen.now,
                )
            await uow.commit()

    async def _act(
        self,
        decision: Decision,
        plan: RebalancingPlan | None,
        before: PortfolioState,
        watch: _Stopwatch,
    ) -> tuple[Decision, ExecutionReport | None, PortfolioState]:
        """Execute a plan the policy approved and settle it; then snapshot the portfolio (read
        again when money may have moved). Returns the settled decision, the execution report
        (None when nothing ran) and the portfolio snapshotted."""
        execution: ExecutionReport | None = None
        if decision.status is DecisionStatus.APPROVED and plan is not None:
            execution = await self._runner.execute(plan, decision.id)
            decision = await self._settle(decision, plan, execution, before)
            watch.lap("execute")
        refreshed = await self._portfolio.read() if execution is not None else before
        await self._snapshot(refreshed)
        watch.lap("snapshot")
        return decision, execution, refreshed

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
