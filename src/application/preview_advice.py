"""Preview advice: the decision the advisor would make now, and the plan and verdict the safety
policy would make of it. Nothing is recorded or executed.

The plan comes from the same `propose` step the decision cycle runs, so the advice is bounded
by `max_advisor_deviation` as it would be in the cycle. No chain is asked: gas is costed at
the gas cap (the dearest gas the policy lets a plan pay) and the base fee counts as unknown;
the notes say so. The portfolio, the MVRV ratchet and the recent decision outcomes are the
stored ones; without a portfolio snapshot there is nothing true to advise on, and no portfolio
is assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from application.errors import NotFound
from application.ports.advisor import AdvisorRequest, AllocationAdvisor
from application.ports.clock import Clock
from application.ports.persistence import UnitOfWorkFactory
from domain.decisions import AdvisorDecision, DecisionKind
from domain.errors import DomainError
from domain.market import MarketData
from domain.portfolio import PortfolioState
from domain.safety import SafetyContext
from domain.signals import AllocationSignal, generate_signal
from domain.strategy import Proposal, StrategyConfig, planning_prices, propose


class NoPortfolioSnapshot(NotFound):
    """No portfolio snapshot is stored: there is nothing true to advise on."""

    def __init__(self, why: str = "the database holds no snapshot") -> None:
        super().__init__("portfolio snapshot", "latest")
        self.args = (
            f"no portfolio snapshot to advise on ({why}); start the service with `treasury "
            "serve` (or `treasury paper`) so that a decision cycle records one, then ask again",
        )


@dataclass(frozen=True, slots=True)
class AdvicePreview:
    """The advisor's decision on the stored portfolio, the signal it was given, and what the
    policy would make of it (None for a hold)."""

    decision: AdvisorDecision
    signal: AllocationSignal
    notes: list[str] = field(default_factory=list)
    proposal: Proposal | None = None


class PreviewAdvice:
    """Ask the advisor once about the stored portfolio and the given market, and propose as the
    cycle would; writes nothing."""

    def __init__(
        self,
        *,
        clock: Clock,
        uow: UnitOfWorkFactory,
        advisor: AllocationAdvisor,
        strategy: StrategyConfig,
        outcome_history: int,
    ) -> None:
        self._clock = clock
        self._uow = uow
        self._advisor = advisor
        self._strategy = strategy
        self._outcome_history = outcome_history

    async def execute(self, market: MarketData) -> AdvicePreview:
        """The advice and its proposal.

        Raises:
            NoPortfolioSnapshot: no portfolio snapshot is stored.
            AdvisorUnavailable: the advisor could not answer.
        """
        async with self._uow() as uow:
            portfolio = await uow.snapshots.latest()
            ratchet = await uow.strategy.ratchet()
            history = self._outcome_history
            outcomes = tuple(await uow.outcomes.recent(history)) if history else ()
        if portfolio is None:
            raise NoPortfolioSnapshot()
        now = self._clock.now()
        signal, _ = generate_signal(market, ratchet, now, self._strategy.signal)
        decision = await self._advisor.advise(
            AdvisorRequest(
                market=market,
                portfolio=portfolio,
                signal=signal,
                limits=self._strategy.limits,
                recent_outcomes=outcomes,
            )
        )
        notes: list[str] = []
        proposal = None
        if decision.decision is not DecisionKind.HOLD:
            proposal = self._propose(decision, portfolio, market, signal, now, notes)
        return AdvicePreview(decision=decision, signal=signal, notes=notes, proposal=proposal)

    def _propose(
        self,
        decision: AdvisorDecision,
        portfolio: PortfolioState,
        market: MarketData,
        signal: AllocationSignal,
        now: datetime,
        notes: list[str],
    ) -> Proposal | None:
        gas = self._strategy.limits.gas_price_cap_gwei
        try:
            proposal = propose(
                portfolio,
                decision.target_allocations,
                market,
                SafetyContext(now=now),
                prices=planning_prices(market, gas),
                plan_id="advise-preview",
                now=now,
                config=self._strategy,
                threshold_crossed=signal.threshold_crossed,
                exit_requested=decision.decision is DecisionKind.EMERGENCY_EXIT,
                risk_level=decision.risk_assessment,
                signal_targets=signal.target_allocations,
            )
        except DomainError as exc:
            notes.append(f"no plan could be built: {exc}")
            return None
        notes.append(f"plan costed at the gas cap ({gas} gwei); the base fee was not read")
        return proposal
