"""The rebalancing planner: ordering, splits, minimum size, slippage, caps and approvals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.allocation import TargetAllocations
from domain.errors import InvalidValue, PlanInfeasible
from domain.planner import (
    PlannerConfig,
    PlanningPrices,
    TacticalAsset,
    YieldVenue,
    exceeds_gas_share,
    plan_emergency_exit,
    plan_rebalance,
)
from domain.plans import PlanKind, TransactionType
from domain.projection import project
from domain.signals import RiskLevel
from tests.unit.domain.builders import NOW, PRICES, balanced_400k, portfolio, position

D = Decimal
EUPHORIA = TargetAllocations(D("0.6"), D("0.24"), D("0.16"))
TOP = TargetAllocations(D("0.6"), D("0.12"), D("0.28"))


def test_plan_from_cash_buys_then_deposits_in_order() -> None:
    plan = plan_rebalance(portfolio(cash=400_000), EUPHORIA, prices=PRICES, plan_id="p", now=NOW)
    kinds = [t.tx_type for t in plan.required_transactions]
    assert kinds == [TransactionType.SWAP] * 2 + [TransactionType.DEPOSIT] * 3
    by_dest = {t.to_asset: t.amount_usd for t in plan.required_transactions}
    assert by_dest == {
        "WBTC": 48_000,
        "WETH": 48_000,
        "USDC": 96_000,
        "3CRV": 72_000,
        "PT-USDC": 72_000,
    }
    wbtc = plan.required_transactions[0]
    assert wbtc.amount == 48_000  # USDC spent
    assert wbtc.estimated_gas == 300_000
    assert wbtc.estimated_gas_usd == D(18)  # 300k gas x 20 gwei x $3000
    assert wbtc.estimated_slippage_usd == D("26.304")  # (5 bps + 10 bps x 0.048) x 48k
    assert plan.requires_approval  # $96K into Aave is above $50K
    assert plan.approval_reasons
    assert "approval limit" in plan.approval_reasons[0]
    assert plan.risk_level is RiskLevel.MEDIUM


def test_withdrawals_come_before_swaps_before_deposits() -> None:
    heavy = portfolio(
        position("aave", "USDC", 150_000),
        position("wallet", "WBTC", 10_000, 60_000),
        cash=0,
    )
    target = TargetAllocations(D("0.6"), D("0.3"), D("0.1"))
    plan = plan_rebalance(heavy, target, prices=PRICES, plan_id="p", now=NOW)
    kinds = [t.tx_type for t in plan.required_transactions]
    assert kinds.index(TransactionType.WITHDRAW) < kinds.index(TransactionType.SWAP)
    assert kinds.index(TransactionType.SWAP) < kinds.index(TransactionType.DEPOSIT)
    assert project(heavy, plan).lowest_cash >= 0


def test_top_sells_half_the_tactical_sleeve_to_cash() -> None:
    plan = plan_rebalance(balanced_400k(), TOP, prices=PRICES, plan_id="p", now=NOW)
    sells = [t for t in plan.required_transactions if t.to_asset == "USDC"]
    assert {t.from_asset for t in sells} == {"WBTC", "WETH"}
    assert all(t.amount_usd == 24_000 for t in sells)
    assert sells[0].amount == D("0.4")  # 24k / 60k per WBTC
    assert not plan.requires_approval


def test_moves_below_the_minimum_trade_are_skipped_with_a_reason() -> None:
    near = portfolio(
        position("aave", "USDC", 96_000),
        position("pendle", "PT-USDC", 72_000),
        position("curve", "3CRV", 72_000),
        position("wallet", "WBTC", 48_300, 60_000),
        position("wallet", "WETH", 47_700, 3_000),
        cash=64_000,
    )
    plan = plan_rebalance(near, EUPHORIA, prices=PRICES, plan_id="p", now=NOW)
    assert plan.is_empty
    assert {s.reason for s in plan.skipped} == {"below the minimum trade size $500"}


def test_max_slippage_drops_swaps_expected_to_slip_more() -> None:
    plan = plan_rebalance(
        portfolio(cash=400_000),
        EUPHORIA,
        prices=PRICES,
        plan_id="p",
        now=NOW,
        max_slippage=D("0.0003"),
    )
    assert all(t.tx_type is not TransactionType.SWAP for t in plan.required_transactions)
    assert any("exceeds the bound 0.0003" in s.reason for s in plan.skipped)
    assert all(t.slippage_tolerance == D("0.0003") for t in plan.required_transactions)
    with pytest.raises(InvalidValue):
        plan_rebalance(
            portfolio(cash=1), EUPHORIA, prices=PRICES, plan_id="p", now=NOW, max_slippage=D(2)
        )


@pytest.mark.parametrize(
    ("gas_usd", "exceeds"),
    [
        pytest.param(D("9.99"), False, id="under the share"),
        pytest.param(D(10), False, id="exactly the share is allowed"),
        pytest.param(D("10.01"), True, id="over the share"),
    ],
)
def test_the_gas_share_rule_refuses_gas_above_the_share_of_the_value(
    gas_usd: Decimal, exceeds: bool
) -> None:
    assert exceeds_gas_share(gas_usd, D(1000), D("0.01")) is exceeds


def test_gas_heavier_than_one_percent_of_a_move_drops_it() -> None:
    pricey_gas = PlanningPrices(asset_usd=PRICES.asset_usd, gas_price_gwei=D(200), eth_usd=D(3000))
    plan = plan_rebalance(portfolio(cash=40_000), EUPHORIA, prices=pricey_gas, plan_id="p", now=NOW)
    # gas is 300k x 200 gwei x $3000 = $180 a step; a $4,800 WBTC buy would pay 3.75 %.
    assert all(t.amount_usd * D("0.01") >= t.estimated_gas_usd for t in plan.required_transactions)
    assert any("gas $180.00 exceeds" in s.reason for s in plan.skipped)


def test_targets_are_clamped_below_the_caps() -> None:
    greedy = TargetAllocations(D("0.4"), D("0.6"), D("0"))
    config = PlannerConfig(tactical_assets=(TacticalAsset(asset="WBTC", weight=D(1)),))
    plan = plan_rebalance(
        portfolio(cash=100_000), greedy, prices=PRICES, plan_id="p", now=NOW, config=config
    )
    after = project(portfolio(cash=100_000), plan)
    assert after.volatile_share <= D("0.25")
    assert any("volatile cap" in n for n in plan.notes)
    assert any("single-position cap" in n for n in plan.notes)


def test_a_position_over_its_cap_is_cured_even_below_the_minimum_trade() -> None:
    over = portfolio(position("aave", "USDC", 25_300), cash=74_700)
    target = TargetAllocations(D("0.6"), D("0"), D("0.4"))
    config = PlannerConfig(
        venues=(YieldVenue(protocol="aave", asset="USDC", weight=D(1)),),
        min_trade_usd=D(1_000),
    )
    plan = plan_rebalance(over, target, prices=PRICES, plan_id="p", now=NOW, config=config)
    assert [t.tx_type for t in plan.required_transactions] == [TransactionType.WITHDRAW]
    assert project(over, plan).largest_position[1] <= D("0.25")


def test_buys_are_scaled_down_when_cash_cannot_fund_them() -> None:
    thin = portfolio(cash=10_000)
    target = TargetAllocations(D("0.6"), D("0.4"), D("0"))
    plan = plan_rebalance(thin, target, prices=PRICES, plan_id="p", now=NOW)
    needed = sum(t.amount_usd + t.estimated_gas_usd for t in plan.required_transactions)
    assert needed <= 10_000
    assert project(thin, plan).lowest_cash >= 0


def test_unfunded_buys_below_minimum_after_scaling_are_skipped() -> None:
    thin = portfolio(cash=2_000)
    plan = plan_rebalance(
        thin,
        TargetAllocations(D(0), D("1"), D(0)),
        prices=PRICES,
        plan_id="p",
        now=NOW,
        config=PlannerConfig(
            max_single_position_share=D(1),
            max_volatile_share=D(1),
            limit_headroom=D(0),
            max_gas_share=D("0.5"),
        ),
    )
    assert project(thin, plan).lowest_cash >= 0
    assert sum(t.amount_usd for t in plan.required_transactions) <= 2_000


def test_unknown_positions_are_exited_in_full() -> None:
    odd = portfolio(position("compound", "USDC", 50_000), cash=50_000)
    plan = plan_rebalance(odd, EUPHORIA, prices=PRICES, plan_id="p", now=NOW)
    exit_tx = plan.required_transactions[0]
    assert (exit_tx.protocol, exit_tx.tx_type, exit_tx.full_exit) == (
        "compound",
        TransactionType.WITHDRAW,
        True,
    )
    assert exit_tx.amount == 50_000


def test_a_buy_without_a_price_is_infeasible() -> None:
    no_btc = PlanningPrices(asset_usd={"WETH": D(3000)}, gas_price_gwei=D(20), eth_usd=D(3000))
    with pytest.raises(PlanInfeasible, match="no price for WBTC"):
        plan_rebalance(portfolio(cash=400_000), EUPHORIA, prices=no_btc, plan_id="p", now=NOW)


def test_planning_prices_validate() -> None:
    with pytest.raises(InvalidValue):
        PlanningPrices(asset_usd={}, gas_price_gwei=D(1), eth_usd=D(0))
    assert PRICES.price("DAI") == 1


def test_planner_config_validates_weights_and_cash_asset() -> None:
    with pytest.raises(InvalidValue):
        PlannerConfig(venues=(YieldVenue(protocol="aave", asset="USDC", weight=D("0.5")),))
    with pytest.raises(InvalidValue):
        PlannerConfig(cash_asset="WETH")
    with pytest.raises(InvalidValue):
        TacticalAsset(asset="USDC", weight=D(1))


def test_emergency_exit_sells_every_volatile_position_without_approval() -> None:
    plan = plan_emergency_exit(
        balanced_400k(), prices=PRICES, plan_id="x", now=NOW, reason="BTC -25%"
    )
    assert plan.kind is PlanKind.EMERGENCY_EXIT
    assert {t.from_asset for t in plan.required_transactions} == {"WBTC", "WETH"}
    assert all(t.full_exit and t.to_asset == "USDC" for t in plan.required_transactions)
    assert not plan.requires_approval
    assert plan.target_allocations.tactical == 0
    assert plan.notes == ("black-swan exit: BTC -25%",)
    after = project(balanced_400k(), plan)
    assert after.volatile_value == 0


def test_emergency_exit_skips_dust_and_slices_a_position_too_large_for_one_swap() -> None:
    dusty = portfolio(
        position("wallet", "WBTC", 5, 60_000), position("wallet", "WETH", 90_000_000, 3_000)
    )
    plan = plan_emergency_exit(dusty, prices=PRICES, plan_id="x", now=NOW, reason="crash")
    # $90M at 5 bps + 10 bps per $1M would slip 9.05 %; four slices of $22.5M slip 2.3 % each.
    assert [t.amount_usd for t in plan.required_transactions] == [D(22_500_000)] * 4
    assert [t.full_exit for t in plan.required_transactions] == [False] * 3 + [True]
    assert sum(t.amount for t in plan.required_transactions) == D(30_000)
    assert {s.reason for s in plan.skipped} == {"gas would cost more than the position is worth"}
    fee_above_bound = PlannerConfig(emergency_slippage_tolerance=D("0.0004"))
    plan = plan_emergency_exit(
        dusty, prices=PRICES, plan_id="x", now=NOW, reason="crash", config=fee_above_bound
    )
    assert plan.is_empty
    assert len(plan.skipped) == 2
    assert all("exceeds the emergency bound" in s.reason for s in plan.skipped)
