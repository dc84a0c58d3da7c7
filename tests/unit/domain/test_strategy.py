"""The shared decision step: when to act, and that it plans and judges with the domain rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.allocation import TargetAllocations
from domain.errors import InvalidValue, PlanInfeasible
from domain.planner import PlannerConfig
from domain.plans import PlanKind, TransactionType
from domain.safety import Outcome, SafetyLimits
from domain.strategy import StrategyConfig, planning_prices, propose
from tests.unit.domain.builders import (
    NOW,
    PRICES,
    balanced_400k,
    context,
    market,
    portfolio,
    position,
)

D = Decimal
EUPHORIA = TargetAllocations(D("0.6"), D("0.24"), D("0.16"))


def test_no_rebalance_while_drift_is_within_the_band_only_the_cash_sweep() -> None:
    result = propose(
        balanced_400k(), EUPHORIA, market(), context(), prices=PRICES, plan_id="p", now=NOW
    )
    assert not result.rebalance_due
    assert "within the band" in result.reason
    # The 16 % of idle stablecoins is swept into the base venues; nothing else moves.
    assert result.plan is not None
    assert {t.tx_type for t in result.plan.required_transactions} == {TransactionType.DEPOSIT}
    assert {t.from_asset for t in result.plan.required_transactions} == {"USDC"}
    # Without idle cash above the buffer, there is nothing to do.
    settled = propose(
        balanced_400k(),
        EUPHORIA,
        market(),
        context(),
        prices=PRICES,
        plan_id="p",
        now=NOW,
        config=StrategyConfig(planner=PlannerConfig(cash_buffer_share=D("0.16"))),
    )
    assert settled.plan is None


def test_forced_and_threshold_rebalances_plan_even_within_the_band() -> None:
    forced = propose(
        balanced_400k(),
        EUPHORIA,
        market(),
        context(),
        prices=PRICES,
        plan_id="p",
        now=NOW,
        force=True,
    )
    assert forced.rebalance_due
    assert forced.reason == "forced"
    crossed = propose(
        balanced_400k(),
        EUPHORIA,
        market(),
        context(),
        prices=PRICES,
        plan_id="p",
        now=NOW,
        threshold_crossed=True,
    )
    assert crossed.reason == "threshold crossed"


def test_drift_beyond_the_band_plans_and_judges() -> None:
    top = TargetAllocations(D("0.6"), D("0.12"), D("0.28"))
    result = propose(balanced_400k(), top, market(), context(), prices=PRICES, plan_id="p", now=NOW)
    assert result.plan is not None
    assert result.verdict is not None
    # It sells $48,000 of BTC/ETH and sweeps it with the idle cash into the base venues: more
    # than $50,000 traded in all, so a human approves it.
    assert result.verdict.outcome is Outcome.NEEDS_APPROVAL, result.verdict.reasons
    assert [r.split(" ")[0] for r in result.verdict.reasons] == ["approval_total"]
    assert result.reason == "drift beyond band"


def test_black_swan_produces_an_automatic_exit() -> None:
    crash = market(btc_change="-0.25")
    result = propose(
        balanced_400k(), EUPHORIA, crash, context(), prices=PRICES, plan_id="x", now=NOW
    )
    assert result.black_swan is not None
    assert result.plan is not None
    assert result.plan.kind is PlanKind.EMERGENCY_EXIT
    assert result.verdict is not None
    assert result.verdict.outcome is Outcome.ALLOWED


def test_exit_without_volatile_positions_has_nothing_to_do() -> None:
    calm = portfolio(position("aave", "USDC", 100_000), cash=300_000)
    result = propose(
        calm,
        EUPHORIA,
        market(),
        context(),
        prices=PRICES,
        plan_id="x",
        now=NOW,
        exit_requested=True,
    )
    assert result.plan is None
    assert "no volatile position" in result.reason


def test_planning_prices_come_from_market_data() -> None:
    prices = planning_prices(market(stablecoins={"DAI": D("0.999")}), D(15), {"3CRV": D("1.03")})
    assert prices.price("WBTC") == 60_000
    assert prices.price("ETH") == 3_000
    assert prices.price("DAI") == D("0.999")
    assert prices.price("3CRV") == D("1.03")
    with pytest.raises(PlanInfeasible, match="ETH price"):
        planning_prices(market(eth=None), D(15))


def test_the_planner_may_not_be_looser_than_the_policy() -> None:
    with pytest.raises(InvalidValue):
        StrategyConfig(planner=PlannerConfig(max_single_position_share=D("0.3")))
    with pytest.raises(InvalidValue):
        StrategyConfig(limits=SafetyLimits(max_volatile_share=D("0.3")))
    with pytest.raises(InvalidValue):
        StrategyConfig(drift_band=D(-1))
