"""Ways money could move without a human, or the wrong way, that the planner and policy close.

Each test is named after the defect it pins (issue #15, items 6 and 8 to 11).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.allocation import TargetAllocations
from domain.errors import InvalidValue, PlanInfeasible
from domain.planner import (
    PlannerConfig,
    TacticalAsset,
    YieldVenue,
    plan_emergency_exit,
    plan_rebalance,
    swap_slippage_fraction,
)
from domain.plans import RebalancingPlan, Transaction, TransactionType
from domain.portfolio import PortfolioState, Position
from domain.projection import project
from domain.safety import BlackSwan, Outcome, SafetyLimits, evaluate
from domain.signals import RiskLevel
from domain.strategy import StrategyConfig, propose
from tests.unit.domain.builders import NOW, PRICES, context, market, portfolio, position

D = Decimal
ACCUMULATION = TargetAllocations(D("0.6"), D("0.4"), D("0"))
EUPHORIA = TargetAllocations(D("0.6"), D("0.24"), D("0.16"))
BTC_ONLY = PlannerConfig(tactical_assets=(TacticalAsset(asset="WBTC", weight=D(1)),))
THREE_VENUES = PlannerConfig(
    venues=(
        YieldVenue(protocol="aave", asset="USDC", weight=D("0.5")),
        YieldVenue(protocol="pendle", asset="PT-USDC", weight=D("0.25")),
        YieldVenue(protocol="curve", asset="3CRV", weight=D("0.25")),
    )
)


def _failed(plan: RebalancingPlan, before: PortfolioState) -> set[str]:
    verdict = evaluate(plan, before, context())
    return {v.rule for v in verdict.failures}


# Item 6: the $50K approval limit dodged by splitting.


@pytest.mark.parametrize(
    ("before", "targets", "config"),
    [
        pytest.param(
            portfolio(cash=120_000), ACCUMULATION, PlannerConfig(), id="120k-deployed-in-5-legs"
        ),
        pytest.param(
            portfolio(
                position("aave", "USDC", 100_000),
                position("compound", "USDC", 30_000),
                cash=270_000,
            ),
            TargetAllocations(D("0.3"), D("0"), D("0.7")),
            THREE_VENUES,
            id="70k-moved-between-venues-in-legs-of-40k-or-less",
        ),
    ],
)
def test_a_plan_split_into_legs_under_the_approval_limit_moves_money_without_a_human(
    before: PortfolioState, targets: TargetAllocations, config: PlannerConfig
) -> None:
    plan = plan_rebalance(before, targets, prices=PRICES, plan_id="p", now=NOW, config=config)
    limit = SafetyLimits().approval_threshold_usd
    assert plan.required_transactions
    assert all(t.amount_usd <= limit for t in plan.required_transactions)
    assert plan.requires_approval
    assert any("in total" in r for r in plan.approval_reasons)
    verdict = evaluate(plan, before, context())
    assert verdict.outcome is Outcome.NEEDS_APPROVAL


# Item 8: drift measured against a target the planner never reaches.


def test_drift_against_an_unreachable_target_trades_every_day() -> None:
    # BTC alone: 40 % tactical is clamped to 24.5 % by the single-position cap. A treasury
    # already at the capped target has nothing to do.
    at_capped_target = portfolio(
        position("aave", "USDC", 96_000),
        position("pendle", "PT-USDC", 72_000, "0.96"),
        position("curve", "3CRV", 72_000, "1.03"),
        position("wallet", "WBTC", 98_000, 60_000),
        cash=62_000,
    )
    result = propose(
        at_capped_target,
        ACCUMULATION,
        market(mvrv="-0.5"),
        context(),
        prices=PRICES,
        plan_id="p",
        now=NOW,
        config=StrategyConfig(planner=BTC_ONLY),
    )
    assert not result.rebalance_due
    assert "within the band" in result.reason
    # Only the idle cash above the buffer moves: into the base venues' room under their caps.
    moves = result.plan.required_transactions if result.plan is not None else ()
    assert all(t.tx_type is TransactionType.DEPOSIT and t.from_asset == "USDC" for t in moves)


# Item 9: the buy-funding loop revives skipped moves.


def test_the_buy_funding_loop_revives_skipped_moves_and_overspends_cash() -> None:
    # The Pendle exit is skipped (its 0.1 % entry slippage is above the bound), so cash is short;
    # the funding loop scales the buys, and used to revive the WBTC/WETH buys it had skipped
    # for slippage at their full size, paying for them with cash it did not have.
    before = portfolio(position("pendle", "PT-USDC", 300_000, "0.96"), cash=100_000)
    plan = plan_rebalance(
        before, ACCUMULATION, prices=PRICES, plan_id="p", now=NOW, max_slippage=D("0.00055")
    )
    assert project(before, plan).lowest_cash >= 0
    assert "no_negative_balance" not in _failed(plan, before)
    descriptions = [s.description for s in plan.skipped]
    assert len(descriptions) == len(set(descriptions)), descriptions
    for tx in plan.required_transactions:
        expected = tx.estimated_slippage_usd / tx.amount_usd
        assert expected <= D("0.00055")


# Item 10: a large treasury cannot exit.


def _large(scale: int, wbtc: int, weth: int) -> PortfolioState:
    m = 1_000_000 * scale
    return portfolio(
        position("aave", "USDC", 24 * m),
        position("pendle", "PT-USDC", 13 * m, "0.96"),
        position("curve", "3CRV", 13 * m, "1.03"),
        position("wallet", "WBTC", wbtc * m, 60_000),
        position("wallet", "WETH", weth * m, 3_000),
    )


@pytest.mark.parametrize(
    "before",
    [
        pytest.param(_large(1, 42, 8), id="100M-with-a-42M-BTC-position"),
        pytest.param(_large(10, 30, 20), id="1B-half-volatile"),
    ],
)
def test_a_large_treasury_cannot_exit(before: PortfolioState) -> None:
    config = PlannerConfig()
    plan = plan_emergency_exit(before, prices=PRICES, plan_id="x", now=NOW, reason="crash")
    after = project(before, plan)
    assert after.volatile_value == 0
    for tx in plan.required_transactions:
        assert swap_slippage_fraction(tx.amount_usd, config) <= config.emergency_slippage_tolerance
        assert tx.slippage_tolerance == config.emergency_slippage_tolerance
    sold = {
        a: sum(t.amount for t in plan.required_transactions if t.from_asset == a)
        for a in ("WBTC", "WETH")
    }
    held = {p.asset: p.amount for p in before.positions if p.is_volatile}
    assert sold == held
    crash = BlackSwan(reasons=("BTC -25 % in 24 h",))
    verdict = evaluate(plan, before, context(black_swan=crash))
    assert verdict.outcome is Outcome.ALLOWED, verdict.reasons


def test_a_plan_that_reduces_a_volatile_breach_is_rejected_for_not_curing_it() -> None:
    before = portfolio(
        position("aave", "USDC", 2_400_000),
        position("pendle", "PT-USDC", 1_300_000, "0.96"),
        position("curve", "3CRV", 1_300_000, "1.03"),
        position("wallet", "WBTC", 2_500_000, 60_000),
        position("wallet", "WETH", 2_500_000, 3_000),
    )
    # A tight slippage bound leaves the sells to later cycles: this plan only starts the cure.
    plan = plan_rebalance(
        before,
        EUPHORIA,
        prices=PRICES,
        plan_id="p",
        now=NOW,
        max_slippage=D("0.00055"),
    )
    after = project(before, plan)
    assert D("0.40") < after.volatile_share < before.volatile_value() / before.total_value_usd
    assert "max_volatile_share" not in _failed(plan, before)


def test_the_policy_rejects_a_sale_that_reduces_a_volatile_breach_without_curing_it() -> None:
    before = _large(1, 42, 8)
    sale = Transaction(
        tx_type=TransactionType.SWAP,
        protocol="oneinch",
        from_asset="WETH",
        to_asset="USDC",
        amount=D(8_000_000) / D(3_000),
        amount_usd=D(8_000_000),
        estimated_gas=300_000,
        estimated_gas_usd=D(18),
        estimated_slippage_usd=D(68_000),
        slippage_tolerance=D("0.03"),
        full_exit=True,
    )
    plan = RebalancingPlan(
        plan_id="p",
        created_at=NOW,
        current_allocations=before.current_allocations(),
        target_allocations=EUPHORIA,
        required_transactions=(sale,),
        estimated_gas_cost=D(18),
        estimated_slippage=D(68_000),
        requires_approval=True,
        risk_level=RiskLevel.HIGH,
    )
    assert D("0.40") < project(before, plan).volatile_share < D("0.50")
    assert "max_volatile_share" not in _failed(plan, before)


def test_a_plan_that_adds_to_a_volatile_breach_is_still_rejected() -> None:
    before = portfolio(
        position("wallet", "WBTC", 240_000, 60_000),
        position("wallet", "WETH", 240_000, 3_000),
        cash=520_000,
    )
    plan = plan_rebalance(
        before,
        TargetAllocations(D("0"), D("0.5"), D("0.5")),
        prices=PRICES,
        plan_id="p",
        now=NOW,
        config=PlannerConfig(
            max_volatile_share=D("0.6"),
            max_single_position_share=D("0.5"),
            venues=(YieldVenue(protocol="aave", asset="USDC", weight=D(1)),),
        ),
    )
    assert project(before, plan).volatile_share > D("0.48")
    assert "max_volatile_share" in _failed(plan, before)


# Item 11: the same position on two chains, and a cash asset other than USDC.


def test_the_same_position_on_two_chains_is_planned_as_one() -> None:
    before = PortfolioState.build(
        positions=(
            Position(
                protocol="compound",
                asset="USDC",
                amount=D(50_000),
                value_usd=D(50_000),
                apy=D("0.05"),
                entered_at=NOW,
                chain="ethereum",
            ),
            Position(
                protocol="compound",
                asset="USDC",
                amount=D(30_000),
                value_usd=D(30_000),
                apy=D("0.05"),
                entered_at=NOW,
                chain="arbitrum",
            ),
        ),
        cash_balance=D(20_000),
    )
    with pytest.raises(PlanInfeasible, match=r"compound USDC is held on arbitrum and ethereum"):
        plan_rebalance(before, EUPHORIA, prices=PRICES, plan_id="p", now=NOW)


def test_venues_of_the_same_position_on_two_chains_are_accepted_at_start_up() -> None:
    with pytest.raises(InvalidValue, match="one chain"):
        PlannerConfig(
            venues=(
                YieldVenue(protocol="aave", asset="USDC", weight=D("0.5")),
                YieldVenue(protocol="aave", asset="USDC", weight=D("0.5"), chain="arbitrum"),
            )
        )


def test_a_venue_that_takes_another_stablecoin_than_the_cash_asset_is_accepted() -> None:
    with pytest.raises(InvalidValue, match="deposits USDC"):
        PlannerConfig(cash_asset="DAI")


def test_a_plan_in_dai_books_its_sale_proceeds_as_a_wallet_position() -> None:
    config = PlannerConfig(
        cash_asset="DAI",
        tactical_assets=BTC_ONLY.tactical_assets,
        venues=(YieldVenue(protocol="aave", asset="aDAI", weight=D(1), deposit_asset="DAI"),),
    )
    before = portfolio(position("wallet", "WBTC", 100_000, 60_000))
    plan = plan_rebalance(
        before,
        TargetAllocations(D("0.2"), D("0.2"), D("0.6")),
        prices=PRICES,
        plan_id="p",
        now=NOW,
        config=config,
    )
    kinds = [(t.tx_type, t.from_asset, t.to_asset) for t in plan.required_transactions]
    assert kinds == [
        (TransactionType.SWAP, "WBTC", "DAI"),
        (TransactionType.DEPOSIT, "DAI", "aDAI"),
    ]
    after = project(before, plan)
    assert ("wallet", "DAI") not in after.values
    assert after.lowest_cash >= 0
    assert "no_negative_balance" not in _failed(plan, before)


def test_a_planner_approval_limit_above_the_policys_is_accepted() -> None:
    # The plan's requires_approval must never be looser than the policy's approval rules.
    looser = PlannerConfig(approval_threshold_usd=SafetyLimits().approval_threshold_usd + 1)
    with pytest.raises(InvalidValue, match="approval limit"):
        StrategyConfig(planner=looser)
