"""The learning loop: once a decision is `horizon_days` old, measure how it turned out and store
the outcome, so the next prompt can summarise the last few (see `domain.outcomes`).

For each finished decision old enough and not yet measured at this horizon:
- the previous allocation is the plan's `current_allocations` (what the treasury held when the
  decision was made), or, without a plan, the last snapshot at or before the decision;
- the value series is the portfolio snapshots from the decision to the horizon;
- prices come from the market data recorded at the decision and at the horizon;
- the base-yield rate is the value-weighted APY of the base positions at the decision.
A decision whose history is too thin (no snapshot near the horizon, a missing price) is left
unmeasured and reported in `skipped`, never given a made-up outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from types import MappingProxyType

from application.ports.clock import Clock
from application.ports.persistence import DecisionOutcome, UnitOfWork, UnitOfWorkFactory
from domain.allocation import Bucket, TargetAllocations
from domain.decisions import TERMINAL_STATUSES, Decision
from domain.errors import InvalidValue
from domain.market import MarketData
from domain.outcomes import (
    OutcomeNotMeasurable,
    ValuePoint,
    base_yield_apy,
    measure_outcome,
)
from domain.portfolio import PortfolioState

log = logging.getLogger(__name__)

DEFAULT_TACTICAL_WEIGHTS: Mapping[str, Decimal] = MappingProxyType(
    {"BTC": Decimal("0.5"), "ETH": Decimal("0.5")}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeConfig:
    """How far ahead outcomes are measured, and how the tactical sleeve is weighted.

    `tolerance` is how far before the horizon the last snapshot may be and still count, and how
    far before the decision the snapshot it starts from may be. A decision that still cannot be
    measured `give_up_after` past its horizon (no snapshots then: the service was down) is left
    alone, so every run looks only at the decisions that have just come due.
    """

    horizon_days: int = 7
    tactical_weights: Mapping[str, Decimal] = field(
        default_factory=lambda: DEFAULT_TACTICAL_WEIGHTS
    )
    tolerance: timedelta = timedelta(days=1)
    give_up_after: timedelta = timedelta(days=2)
    scan_limit: int = 500

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise InvalidValue("horizon_days", self.horizon_days, "must be 1 or more")


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeReport:
    """What one run measured, and which decisions it could not measure and why."""

    recorded: tuple[DecisionOutcome, ...]
    skipped: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "skipped", MappingProxyType(dict(self.skipped)))


def _prices(market: MarketData) -> dict[str, Decimal]:
    prices: dict[str, Decimal] = {}
    if market.btc_price is not None:
        prices["BTC"] = market.btc_price
    if market.eth_price is not None:
        prices["ETH"] = market.eth_price
    return prices


def _allocations(shares: Mapping[Bucket, Decimal]) -> TargetAllocations:
    return TargetAllocations(
        base_yield=shares.get(Bucket.BASE_YIELD, Decimal(0)),
        tactical=shares.get(Bucket.TACTICAL, Decimal(0)),
        cash=shares.get(Bucket.CASH, Decimal(0)),
    )


class RecordDecisionOutcomes:
    """Measure and store the outcome of every decision that has reached the horizon."""

    def __init__(
        self, *, clock: Clock, uow: UnitOfWorkFactory, config: OutcomeConfig | None = None
    ) -> None:
        self._clock = clock
        self._uow = uow
        self._config = config or OutcomeConfig()

    async def execute(self) -> OutcomeReport:
        """Measure what is due, record it with an audit entry, and report what was skipped."""
        config = self._config
        horizon = timedelta(days=config.horizon_days)
        due_before = self._clock.now() - horizon
        recorded: list[DecisionOutcome] = []
        skipped: dict[str, str] = {}
        give_up_before = due_before - config.give_up_after
        async with self._uow() as uow:
            due = await uow.decisions.created_between(give_up_before, due_before, config.scan_limit)
            if not due:
                return OutcomeReport(recorded=(), skipped={})
            # Outcomes are measured in decision order, so those of the due decisions are among
            # the newest: one query rules most of them out; `for_decision` confirms the rest.
            measured = {
                o.decision_id
                for o in await uow.outcomes.recent(2 * len(due))
                if o.horizon_days == config.horizon_days
            }
            for decision in due:
                if decision.status not in TERMINAL_STATUSES or decision.id in measured:
                    continue
                done = await uow.outcomes.for_decision(decision.id)
                if any(o.horizon_days == config.horizon_days for o in done):
                    continue
                try:
                    outcome = await self._measure(uow, decision, horizon)
                except OutcomeNotMeasurable as exc:
                    skipped[decision.id] = exc.reason
                    continue
                await uow.outcomes.record(outcome)
                await uow.audit.append(
                    "learning",
                    "decision.outcome",
                    "decision",
                    decision.id,
                    {
                        "horizon_days": outcome.horizon_days,
                        "portfolio_return": str(outcome.portfolio_return),
                        "hold_return": str(outcome.hold_return),
                        "excess_return": str(outcome.excess_return),
                    },
                    at=outcome.measured_at,
                )
                recorded.append(outcome)
            await uow.commit()
        if skipped:
            log.info("decision outcomes not measurable yet", extra={"skipped": skipped})
        return OutcomeReport(recorded=tuple(recorded), skipped=skipped)

    async def _measure(
        self, uow: UnitOfWork, decision: Decision, horizon: timedelta
    ) -> DecisionOutcome:
        config = self._config
        start, end = decision.created_at, decision.created_at + horizon
        snapshots = await uow.snapshots.between(start - config.tolerance, end)
        before = [s for s in snapshots if s.as_of is not None and s.as_of <= start]
        after = [s for s in snapshots if s.as_of is not None and s.as_of > start]
        if not before:
            raise OutcomeNotMeasurable("no portfolio snapshot at or before the decision")
        first: PortfolioState = before[-1]
        last_at = after[-1].as_of if after else None
        if last_at is None or last_at < end - config.tolerance:
            raise OutcomeNotMeasurable("no portfolio snapshot near the end of the horizon")
        if first.total_value_usd <= 0:
            raise OutcomeNotMeasurable("the treasury was empty when the decision was made")
        plans = await uow.plans.for_decision(decision.id)
        previous = _allocations(
            plans[0].current_allocations if plans else first.current_allocations()
        )
        markets_before = await uow.market_data.between(start - config.tolerance, start)
        markets_after = await uow.market_data.between(end - config.tolerance, end)
        if not markets_before or not markets_after:
            raise OutcomeNotMeasurable("no market data at the start or end of the horizon")
        measurement = measure_outcome(
            values=[
                ValuePoint(at=s.as_of, value_usd=s.total_value_usd, net_flow_usd=s.net_flow_usd)
                for s in (first, *after)
                if s.as_of is not None
            ],
            previous=previous,
            start_prices=_prices(markets_before[-1]),
            end_prices=_prices(markets_after[-1]),
            tactical_weights=config.tactical_weights,
            base_apy=base_yield_apy(first),
            horizon_days=config.horizon_days,
        )
        return DecisionOutcome(
            decision_id=decision.id,
            horizon_days=config.horizon_days,
            portfolio_return=measurement.portfolio_return,
            hold_return=measurement.hold_return,
            measured_at=self._clock.now(),
        )
