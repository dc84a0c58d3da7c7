"""The safety policy: every rule at both sides of its limit, and the overall outcome."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from domain.allocation import TargetAllocations
from domain.budget import SlippageBudgetState
from domain.errors import InvalidValue
from domain.planner import PlanningPrices, plan_emergency_exit, plan_rebalance
from domain.plans import PlanKind, RebalancingPlan, Transaction, TransactionType
from domain.portfolio import PortfolioState
from domain.safety import (
    RULES,
    BlackSwan,
    Outcome,
    RuleVerdict,
    SafetyContext,
    SafetyLimits,
    Severity,
    detect_black_swan,
    evaluate,
)
from domain.signals import RiskLevel
from tests.unit.domain.builders import (
    NOW,
    PRICES,
    TVL,
    balanced_400k,
    context,
    market,
    portfolio,
    position,
)

D = Decimal
EUPHORIA = TargetAllocations(D("0.6"), D("0.24"), D("0.16"))


CRASH = BlackSwan(reasons=("BTC -25.00% in 24 h",))


def tx(
    kind: TransactionType,
    usd: int | str,
    *,
    protocol: str = "aave",
    src: str = "USDC",
    dst: str = "USDC",
    slippage: str = "0",
    gas: str = "0",
) -> Transaction:
    return Transaction(
        tx_type=kind,
        protocol=protocol,
        from_asset=src,
        to_asset=dst,
        amount=D(usd),
        amount_usd=D(usd),
        estimated_gas=100_000,
        estimated_gas_usd=D(gas),
        estimated_slippage_usd=D(slippage),
        slippage_tolerance=D("0.005"),
    )


def plan_of(*txs: Transaction, kind: PlanKind = PlanKind.REBALANCE) -> RebalancingPlan:
    return RebalancingPlan(
        plan_id="p",
        created_at=NOW,
        current_allocations={},
        target_allocations=EUPHORIA,
        required_transactions=txs,
        estimated_gas_cost=sum((t.estimated_gas_usd for t in txs), D(0)),
        estimated_slippage=sum((t.estimated_slippage_usd for t in txs), D(0)),
        requires_approval=False,
        risk_level=RiskLevel.MEDIUM,
        kind=kind,
    )


def verdict_of(
    rule: str,
    plan: RebalancingPlan,
    ctx: SafetyContext | None = None,
    limits: SafetyLimits | None = None,
    pf: PortfolioState | None = None,
) -> bool:
    result = evaluate(
        plan, pf or portfolio(cash=400_000), ctx or context(), limits or SafetyLimits()
    )
    return next(v for v in result.verdicts if v.rule == rule).passed


@pytest.mark.parametrize(
    ("btc_usd", "passed"),
    [
        pytest.param(160_000, True, id="exactly-40pct"),
        pytest.param(160_001, False, id="above-40pct"),
    ],
)
def test_volatile_cap_is_hard_at_40_percent(btc_usd: int, passed: bool) -> None:
    plan = plan_of(tx(TransactionType.SWAP, btc_usd, protocol="oneinch", dst="WBTC"))
    limits = SafetyLimits(max_single_position_share=D(1))
    assert verdict_of("max_volatile_share", plan, limits=limits) is passed


@pytest.mark.parametrize(
    ("usd", "passed"),
    [
        pytest.param(100_000, True, id="exactly-25pct"),
        pytest.param(100_001, False, id="above-25pct"),
    ],
)
def test_single_position_cap_at_25_percent(usd: int, passed: bool) -> None:
    plan = plan_of(tx(TransactionType.DEPOSIT, usd))
    assert verdict_of("max_single_position_share", plan) is passed


def test_cash_is_not_a_position_for_the_single_position_cap() -> None:
    assert verdict_of("max_single_position_share", plan_of()) is True


def over_cap_400k() -> PortfolioState:
    """Aave at 26 % of $400K: above the cap before any plan (a market move took it there)."""
    return portfolio(position("aave", "USDC", 104_000), cash=296_000)


def single_cap(plan: RebalancingPlan, pf: PortfolioState) -> RuleVerdict:
    result = evaluate(plan, pf, context())
    return next(v for v in result.verdicts if v.rule == "max_single_position_share")


def test_a_position_already_over_the_cap_does_not_fail_a_plan_that_leaves_it_alone() -> None:
    verdict = single_cap(
        plan_of(tx(TransactionType.DEPOSIT, 1_000, protocol="curve")), over_cap_400k()
    )
    assert verdict.passed
    assert verdict.actual == "26.00%"
    assert "already above the cap before the plan" in verdict.message
    assert "aave USDC (26.00% before, 26.00% after)" in verdict.message


@pytest.mark.parametrize(
    ("added", "passed"),
    [
        pytest.param("0", True, id="unchanged"),
        pytest.param("0.01", False, id="one-cent-more"),
    ],
)
def test_a_plan_that_adds_to_a_position_over_the_cap_fails(added: str, passed: bool) -> None:
    txs = (tx(TransactionType.DEPOSIT, added),) if D(added) else ()
    verdict = single_cap(plan_of(*txs), over_cap_400k())
    assert verdict.passed is passed
    if not passed:
        assert verdict.message == "above the cap after the plan: aave USDC (26.00%)"


def test_trimming_a_position_over_the_cap_passes_even_if_it_stays_over() -> None:
    plan = plan_of(tx(TransactionType.WITHDRAW, 2_000))
    verdict = single_cap(plan, over_cap_400k())
    assert verdict.passed
    assert verdict.actual == "25.50%"


def test_costs_that_lift_a_position_over_the_cap_share_without_adding_to_it_pass() -> None:
    # Gas paid from cash shrinks the total, so aave's share rises from 26 % to 26.0007 %;
    # its value does not grow, so the plan does not make the breach worse.
    plan = plan_of(tx(TransactionType.DEPOSIT, 1_000, protocol="curve", gas="100"))
    assert single_cap(plan, over_cap_400k()).passed


def test_a_position_exactly_at_the_cap_is_not_over_it_before_the_plan() -> None:
    # Aave at exactly 25 %: gas of $100 lifts its share to 25.006 % without adding to it.
    # Being at the cap is not being over it, so the plan takes aave above the cap and fails.
    pf = portfolio(position("aave", "USDC", 100_000), cash=300_000)
    plan = plan_of(tx(TransactionType.DEPOSIT, 1_000, protocol="curve", gas="100"))
    verdict = single_cap(plan, pf)
    assert not verdict.passed
    assert "aave USDC (25.01%)" in verdict.message


def test_a_second_position_taken_over_the_cap_fails_even_beside_one_already_over() -> None:
    pf = portfolio(
        position("aave", "USDC", 104_000), position("curve", "3CRV", 96_000), cash=200_000
    )
    plan = plan_of(tx(TransactionType.DEPOSIT, 8_000, protocol="curve", dst="3CRV"))
    verdict = single_cap(plan, pf)
    assert not verdict.passed
    assert verdict.message == "above the cap after the plan: curve 3CRV (26.00%)"


def test_the_black_swan_exit_passes_when_the_crash_lifted_aave_over_the_cap() -> None:
    # The reference treasury after BTC and ETH fell 40 %: aave's $96,000 is 26.55 % of
    # $361,600. The exit only sells WBTC and WETH into cash, so aave does not grow.
    crashed = portfolio(
        position("aave", "USDC", 96_000),
        position("pendle", "PT-USDC", 72_000, "0.96"),
        position("curve", "3CRV", 72_000, "1.03"),
        position("wallet", "WBTC", 28_800, 36_000),
        position("wallet", "WETH", 28_800, 1_800),
        cash=64_000,
    )
    prices = PlanningPrices(
        asset_usd={"WBTC": D(36_000), "WETH": D(1_800)}, gas_price_gwei=D(20), eth_usd=D(1_800)
    )
    plan = plan_emergency_exit(crashed, prices=prices, plan_id="x", now=NOW, reason="crash")
    result = evaluate(plan, crashed, context(black_swan=CRASH))
    assert result.outcome is Outcome.ALLOWED, result.reasons
    verdict = next(v for v in result.verdicts if v.rule == "max_single_position_share")
    assert verdict.passed
    assert "aave USDC (26.55% before" in verdict.message


@pytest.mark.parametrize(
    ("tvl", "passed"),
    [
        pytest.param(D(10_000_000), True, id="exactly-10M"),
        pytest.param(D(9_999_999), False, id="below-10M"),
        pytest.param(None, False, id="unknown"),
    ],
)
def test_protocol_tvl_floor_for_deposits(tvl: Decimal | None, passed: bool) -> None:
    tvls = {} if tvl is None else {"aave": tvl}
    plan = plan_of(tx(TransactionType.DEPOSIT, 1_000))
    assert verdict_of("min_protocol_tvl", plan, context(protocol_tvl_usd=tvls)) is passed


def test_withdrawals_ignore_the_tvl_floor() -> None:
    pf = portfolio(*balanced_400k().positions)
    plan = plan_of(tx(TransactionType.WITHDRAW, 1_000))
    assert verdict_of("min_protocol_tvl", plan, context(protocol_tvl_usd={}), pf=pf) is True


@pytest.mark.parametrize(
    ("score", "passed"),
    [pytest.param(5, True, id="score-5"), pytest.param(6, False, id="score-6")],
)
def test_protocol_risk_score_at_most_5(score: int, passed: bool) -> None:
    limits = SafetyLimits(protocol_risk_scores={"aave": score})
    assert (
        verdict_of(
            "max_protocol_risk_score", plan_of(tx(TransactionType.DEPOSIT, 1_000)), limits=limits
        )
        is passed
    )


def test_unscored_protocols_fail_the_risk_rule() -> None:
    plan = plan_of(tx(TransactionType.DEPOSIT, 1_000, protocol="mystery"))
    assert (
        verdict_of("max_protocol_risk_score", plan, context(protocol_tvl_usd={"mystery": D(10**9)}))
        is False
    )


@pytest.mark.parametrize(
    ("usd", "outcome"),
    [
        pytest.param("50000", Outcome.ALLOWED, id="exactly-50k"),
        pytest.param("50000.01", Outcome.NEEDS_APPROVAL, id="above-50k"),
    ],
)
def test_approval_threshold_at_50k(usd: str, outcome: Outcome) -> None:
    plan = plan_of(tx(TransactionType.DEPOSIT, usd))
    assert evaluate(plan, portfolio(cash=400_000), context()).outcome is outcome


@pytest.mark.parametrize(
    ("today", "passed"),
    [pytest.param(9, True, id="10th-trade"), pytest.param(10, False, id="11th-trade")],
)
def test_at_most_10_trades_per_day(today: int, passed: bool) -> None:
    plan = plan_of(tx(TransactionType.DEPOSIT, 1_000))
    assert verdict_of("max_trades_per_day", plan, context(trades_today=today)) is passed


@pytest.mark.parametrize(
    ("fee", "passed"),
    [
        pytest.param(D(100), True, id="100-gwei"),
        pytest.param(D("100.1"), False, id="above-100-gwei"),
        pytest.param(None, True, id="unknown-checked-at-send"),
    ],
)
def test_gas_price_cap_100_gwei(fee: Decimal | None, passed: bool) -> None:
    plan = plan_of(tx(TransactionType.DEPOSIT, 1_000))
    assert verdict_of("gas_price_cap", plan, context(base_fee_gwei=fee)) is passed


def test_emergency_stop_blocks_every_plan() -> None:
    plan = plan_of(tx(TransactionType.DEPOSIT, 1_000))
    result = evaluate(plan, portfolio(cash=400_000), context(emergency_stop=True))
    assert result.outcome is Outcome.REJECTED
    assert any("emergency_stop FAILED" in r for r in result.reasons)
    exit_plan = plan_emergency_exit(
        balanced_400k(), prices=PRICES, plan_id="x", now=NOW, reason="r"
    )
    assert (
        evaluate(exit_plan, balanced_400k(), context(emergency_stop=True)).outcome
        is Outcome.REJECTED
    )


@pytest.mark.parametrize(
    ("failures", "passed"),
    [pytest.param(2, True, id="two-failures"), pytest.param(3, False, id="three-trip-it")],
)
def test_circuit_breaker_after_three_failures(failures: int, passed: bool) -> None:
    plan = plan_of(tx(TransactionType.DEPOSIT, 1_000))
    assert verdict_of("circuit_breaker", plan, context(consecutive_failures=failures)) is passed


def test_slippage_budget_at_one_percent_per_week() -> None:
    # capacity: 1 % of $400K = $4,000; $3,000 already used just now.
    used = SlippageBudgetState(used_usd=D(3_000), as_of=NOW)
    at_limit = plan_of(tx(TransactionType.DEPOSIT, 10_000, slippage="1000"))
    over = plan_of(tx(TransactionType.DEPOSIT, 10_000, slippage="1000.01"))
    assert verdict_of("slippage_budget", at_limit, context(slippage_state=used)) is True
    assert verdict_of("slippage_budget", over, context(slippage_state=used)) is False
    # after 3.5 days half the capacity ($2,000) has refilled
    later = context(now=NOW + timedelta(days=3, hours=12), slippage_state=used)
    assert (
        verdict_of(
            "slippage_budget", plan_of(tx(TransactionType.DEPOSIT, 10_000, slippage="3000")), later
        )
        is True
    )


def test_black_swan_exit_plans_skip_approval_trade_count_and_slippage_budget() -> None:
    pf = balanced_400k()
    plan = plan_emergency_exit(pf, prices=PRICES, plan_id="x", now=NOW, reason="crash")
    drained = SlippageBudgetState(used_usd=D(4_000), as_of=NOW)
    result = evaluate(plan, pf, context(trades_today=10, slippage_state=drained, black_swan=CRASH))
    assert result.outcome is Outcome.ALLOWED, result.reasons


def test_an_exit_without_a_detected_black_swan_gets_no_waiver() -> None:
    pf = balanced_400k()
    plan = plan_emergency_exit(pf, prices=PRICES, plan_id="x", now=NOW, reason="advisor")
    drained = SlippageBudgetState(used_usd=D(4_000), as_of=NOW)
    result = evaluate(plan, pf, context(trades_today=10, slippage_state=drained))
    assert result.outcome is Outcome.REJECTED
    assert {
        "max_trades_per_day",
        "slippage_budget",
        "automatic_exit_needs_black_swan",
    } <= {v.rule for v in result.failures}


def test_overdrawn_cash_is_rejected() -> None:
    plan = plan_of(tx(TransactionType.DEPOSIT, 500_000))
    result = evaluate(
        plan, portfolio(cash=400_000), context(), SafetyLimits(max_single_position_share=D(1))
    )
    assert result.outcome is Outcome.REJECTED
    assert {"no_negative_balance", "approval_threshold"} <= {v.rule for v in result.failures}


def test_the_policy_returns_every_verdict_and_all_failures() -> None:
    plan = plan_rebalance(portfolio(cash=400_000), EUPHORIA, prices=PRICES, plan_id="p", now=NOW)
    result = evaluate(
        plan,
        portfolio(cash=400_000),
        context(emergency_stop=True, trades_today=9, base_fee_gwei=D(150)),
    )
    assert len(result.verdicts) == len(RULES) == 16
    failed = {v.rule for v in result.failures}
    assert failed == {
        "emergency_stop",
        "max_trades_per_day",
        "gas_price_cap",
        "approval_threshold",
        "approval_total",
    }
    assert result.outcome is Outcome.REJECTED
    assert not result.allowed
    approval = next(v for v in result.verdicts if v.rule == "approval_threshold")
    assert approval.severity is Severity.APPROVAL


def test_a_clean_small_plan_is_allowed() -> None:
    pf = balanced_400k()
    plan = plan_rebalance(
        pf, TargetAllocations(D("0.6"), D("0.12"), D("0.28")), prices=PRICES, plan_id="p", now=NOW
    )
    result = evaluate(plan, pf, context())
    assert result.outcome is Outcome.ALLOWED, result.reasons
    assert result.reasons == ()


def test_empty_plans_pass_flags() -> None:
    result = evaluate(
        plan_of(),
        portfolio(cash=1),
        context(emergency_stop=True, consecutive_failures=5, base_fee_gwei=D(500)),
    )
    assert result.outcome is Outcome.ALLOWED


@pytest.mark.parametrize(
    ("btc_change", "eth_change", "stables", "fires"),
    [
        pytest.param("-0.20", "0", {}, True, id="btc-down-20pct"),
        pytest.param("-0.1999", "0", {}, False, id="btc-down-19.99pct"),
        pytest.param("0", "-0.25", {}, True, id="eth-down-25pct"),
        pytest.param("0", "0", {"USDC": D("0.979")}, True, id="usdc-depeg-2.1pct"),
        pytest.param("0", "0", {"USDC": D("0.98")}, False, id="usdc-at-2pct"),
        pytest.param("0", "0", {"DAI": D("1.021")}, True, id="dai-above-peg"),
    ],
)
def test_black_swan_detection(
    btc_change: str, eth_change: str, stables: dict[str, Decimal], fires: bool
) -> None:
    found = detect_black_swan(
        market(btc_change=btc_change, eth_change=eth_change, stablecoins=stables)
    )
    assert (found is not None) is fires
    if found:
        assert found.reasons


def test_limits_and_context_validate() -> None:
    with pytest.raises(InvalidValue):
        SafetyLimits(max_volatile_share=D("1.5"))
    with pytest.raises(InvalidValue):
        SafetyLimits(max_trades_per_day=-1)
    with pytest.raises(InvalidValue):
        SafetyContext(now=NOW, trades_today=-1)
    assert dict(SafetyContext(now=NOW, protocol_tvl_usd=TVL).protocol_tvl_usd) == TVL
