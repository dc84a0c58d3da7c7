"""Outcome maths (hand-computed) and the learning loop that records outcomes after the horizon."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.persistence.memory import InMemoryUnitOfWorkFactory
from application.learning import OutcomeConfig, RecordDecisionOutcomes
from domain.allocation import TargetAllocations
from domain.decisions import Decision, DecisionStatus
from domain.errors import AllocationsDoNotSumToOne
from domain.market import MarketData
from domain.outcomes import (
    BucketReturns,
    OutcomeNotMeasurable,
    ValuePoint,
    allocation_return,
    base_yield_apy,
    base_yield_return,
    measure_outcome,
    series_return,
    tactical_return,
)
from domain.portfolio import PortfolioState
from domain.signals import RiskLevel, generate_signal
from domain.tactical import RatchetState
from tests.fakes.treasury import FixedClock
from tests.unit.domain.builders import balanced_400k, market, portfolio, position

D = Decimal
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
WEIGHTS = {"BTC": D("0.5"), "ETH": D("0.5")}


def test_series_return_chains_growth_and_takes_out_deposits() -> None:
    points = [
        ValuePoint(at=T0, value_usd=D(100)),
        ValuePoint(at=T0 + timedelta(days=1), value_usd=D(110)),
        # +50 deposited: the value rose by 55 but only 5 of it is performance.
        ValuePoint(at=T0 + timedelta(days=2), value_usd=D(165), net_flow_usd=D(50)),
    ]

    # 1.10 x (115 / 110) - 1 = 0.15
    assert series_return(points) == D("0.15")


def test_series_return_needs_two_points_and_a_non_zero_start() -> None:
    with pytest.raises(OutcomeNotMeasurable):
        series_return([ValuePoint(at=T0, value_usd=D(100))])
    with pytest.raises(OutcomeNotMeasurable):
        series_return(
            [ValuePoint(at=T0, value_usd=D(0)), ValuePoint(at=T0 + timedelta(1), value_usd=D(5))]
        )


def test_tactical_return_weights_each_assets_price_change() -> None:
    start = {"BTC": D(60_000), "ETH": D(3_000)}
    end = {"BTC": D(66_000), "ETH": D(2_700)}

    # 0.5 x 10 % + 0.5 x -10 % = 0
    assert tactical_return(start, end, WEIGHTS) == D(0)
    assert tactical_return(start, end, {"BTC": D(1)}) == D("0.1")


def test_tactical_return_refuses_missing_prices_and_bad_weights() -> None:
    with pytest.raises(OutcomeNotMeasurable, match="ETH"):
        tactical_return({"BTC": D(1)}, {"BTC": D(2)}, WEIGHTS)
    with pytest.raises(AllocationsDoNotSumToOne):
        tactical_return({"BTC": D(1)}, {"BTC": D(2)}, {"BTC": D("0.9")})


def test_base_yield_return_is_simple_interest_over_the_days() -> None:
    assert base_yield_return(D("0.073"), 7) == D("0.0014")


def test_base_yield_apy_is_value_weighted_over_base_positions_only() -> None:
    state = portfolio(
        position("aave", "USDC", 100_000),
        position("curve", "3CRV", 100_000),
        position("wallet", "WBTC", 100_000, 60_000),
        cash=10_000,
    )
    # builders give every position 5 % APY; the wallet BTC and the cash are not base yield.
    assert base_yield_apy(state) == D("0.05")
    assert base_yield_apy(portfolio(cash=1)) == D(0)


def test_allocation_return_sums_bucket_returns_by_weight() -> None:
    held = TargetAllocations(base_yield=D("0.6"), tactical=D("0.4"), cash=D(0))
    returns = BucketReturns(base_yield=D("0.01"), tactical=D("0.1"))

    assert allocation_return(held, returns) == D("0.046")


def test_measure_outcome_compares_the_portfolio_with_holding_the_previous_allocation() -> None:
    previous = TargetAllocations(base_yield=D("0.6"), tactical=D("0.4"), cash=D(0))
    outcome = measure_outcome(
        values=[
            ValuePoint(at=T0, value_usd=D(400_000)),
            ValuePoint(at=T0 + timedelta(days=7), value_usd=D(404_000)),
        ],
        previous=previous,
        start_prices={"BTC": D(60_000), "ETH": D(3_000)},
        end_prices={"BTC": D(54_000), "ETH": D(2_700)},
        tactical_weights=WEIGHTS,
        base_apy=D("0.073"),
        horizon_days=7,
    )

    assert outcome.portfolio_return == D("0.01")
    # 0.6 x 0.0014 + 0.4 x -0.1 = -0.03916: selling before a 10 % fall added 4.9 points.
    assert outcome.hold_return == D("-0.03916")
    assert outcome.excess_return == D("0.04916")


def _at(state: PortfolioState, at: datetime) -> PortfolioState:
    return replace(state, as_of=at)


def _market_at(at: datetime, btc: str, eth: str) -> MarketData:
    return replace(market(btc=btc, eth=eth), timestamp=at)


def _decision(decision_id: str, at: datetime, status: DecisionStatus) -> Decision:
    signal, _ = generate_signal(market(), RatchetState(), at)
    return Decision(
        id=decision_id,
        created_at=at,
        signal=signal,
        advisor="rules",
        target_allocations=signal.target_allocations,
        reasoning="test",
        risk_assessment=RiskLevel.MEDIUM,
        status=status,
    )


async def test_the_learning_loop_records_outcomes_once_the_horizon_has_passed() -> None:
    clock = FixedClock(T0)
    uow = InMemoryUnitOfWorkFactory(clock=clock.now)
    start_state = balanced_400k()
    end_state = portfolio(
        position("aave", "USDC", 96_000),
        position("pendle", "PT-USDC", 72_000, "0.96"),
        position("curve", "3CRV", 72_000, "1.03"),
        position("wallet", "WBTC", 52_800, 66_000),
        position("wallet", "WETH", 52_800, 3_300),
        cash=64_000,
    )
    async with uow() as u:
        await u.snapshots.add(_at(start_state, T0))
        await u.snapshots.add(_at(end_state, T0 + timedelta(days=7)))
        await u.market_data.add(_market_at(T0, "60000", "3000"))
        await u.market_data.add(_market_at(T0 + timedelta(days=7), "66000", "3300"))
        await u.decisions.add(_decision("dec-old", T0, DecisionStatus.HELD))
        await u.decisions.add(_decision("dec-pending", T0, DecisionStatus.PENDING))
        await u.decisions.add(_decision("dec-new", T0 + timedelta(days=3), DecisionStatus.HELD))
        await u.commit()
    learning = RecordDecisionOutcomes(clock=clock, uow=uow, config=OutcomeConfig(horizon_days=7))

    clock.advance(timedelta(days=7, hours=1))
    report = await learning.execute()
    again = await learning.execute()

    assert [o.decision_id for o in report.recorded] == ["dec-old"]
    outcome = report.recorded[0]
    # The treasury grew from 400,000 to 409,600 with BTC and ETH both up 10 %.
    assert outcome.portfolio_return == D("0.024")
    # Holding 60 / 24 / 16 at 5 % base APY: 0.6 x 0.05 x 7/365 + 0.24 x 0.1.
    assert outcome.hold_return == D("0.6") * D("0.05") * 7 / 365 + D("0.024")
    assert outcome.horizon_days == 7
    assert again.recorded == ()
    async with uow() as u:
        stored = await u.outcomes.recent(10)
        trail = await u.audit.for_subject("decision", "dec-old")
    assert [o.decision_id for o in stored] == ["dec-old"]
    assert trail[-1].action == "decision.outcome"


async def test_the_learning_loop_skips_a_decision_whose_history_is_too_thin() -> None:
    clock = FixedClock(T0)
    uow = InMemoryUnitOfWorkFactory(clock=clock.now)
    async with uow() as u:
        await u.snapshots.add(_at(balanced_400k(), T0))
        await u.decisions.add(_decision("dec-1", T0, DecisionStatus.HELD))
        await u.commit()
    clock.advance(timedelta(days=8))

    report = await RecordDecisionOutcomes(clock=clock, uow=uow).execute()

    assert report.recorded == ()
    assert report.skipped == {"dec-1": "no portfolio snapshot near the end of the horizon"}


async def test_the_learning_loop_gives_up_on_a_decision_long_past_its_horizon() -> None:
    clock = FixedClock(T0)
    uow = InMemoryUnitOfWorkFactory(clock=clock.now)
    async with uow() as u:
        await u.snapshots.add(_at(balanced_400k(), T0))
        await u.decisions.add(_decision("dec-1", T0, DecisionStatus.HELD))
        await u.commit()
    learning = RecordDecisionOutcomes(
        clock=clock, uow=uow, config=OutcomeConfig(give_up_after=timedelta(days=2))
    )

    clock.advance(timedelta(days=7 + 2))  # the last day it is still tried
    last_try = await learning.execute()
    clock.advance(timedelta(seconds=1))
    after = await learning.execute()

    assert last_try.skipped == {"dec-1": "no portfolio snapshot near the end of the horizon"}
    assert after.skipped == {}
    assert after.recorded == ()
