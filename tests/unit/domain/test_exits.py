"""Exits: only a detected black swan waives approval, an exit only sells volatile assets into a
healthy stablecoin, and the policy judges what an exit does, not what it is called."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from domain.allocation import TargetAllocations
from domain.planner import plan_rebalance
from domain.plans import PlanKind, TransactionType
from domain.safety import Outcome, Severity, evaluate
from domain.strategy import propose
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


def _failed(verdict_rules: object) -> set[str]:
    return {v.rule for v in verdict_rules if not v.passed}  # type: ignore[attr-defined]


def test_an_exit_the_advisor_asks_for_in_a_calm_market_waits_for_a_human() -> None:
    calm = market()
    result = propose(
        balanced_400k(),
        EUPHORIA,
        calm,
        context(trades_today=9),
        prices=PRICES,
        plan_id="x",
        now=NOW,
        exit_requested=True,
    )
    assert result.black_swan is None
    assert result.plan is not None
    assert result.verdict is not None
    assert result.verdict.outcome is not Outcome.ALLOWED, result.verdict.reasons
    # Every ordinary limit applies: nine trades today plus two more breaks the cap of ten.
    assert "max_trades_per_day" in _failed(result.verdict.verdicts)


def test_a_small_exit_the_advisor_asks_for_in_a_calm_market_still_needs_approval() -> None:
    small = portfolio(
        position("aave", "USDC", 6_000),
        position("wallet", "WBTC", 2_000, 60_000),
        position("wallet", "WETH", 2_000, 3_000),
        cash=10_000,
    )
    result = propose(
        small,
        EUPHORIA,
        market(),
        context(),
        prices=PRICES,
        plan_id="x",
        now=NOW,
        exit_requested=True,
    )
    assert result.plan is not None
    assert result.verdict is not None
    assert result.verdict.outcome is Outcome.NEEDS_APPROVAL, result.verdict.reasons
    assert "automatic_exit_needs_black_swan" in _failed(result.verdict.verdicts)


def test_a_plan_labelled_exit_that_buys_volatile_assets_is_rejected() -> None:
    cash_only = portfolio(position("aave", "USDC", 60_000), cash=40_000)
    buys = plan_rebalance(
        cash_only,
        TargetAllocations(D("0.6"), D("0.1"), D("0.3")),
        prices=PRICES,
        plan_id="p",
        now=NOW,
    )
    assert any(t.to_asset == "WBTC" for t in buys.required_transactions)
    labelled = replace(buys, kind=PlanKind.EMERGENCY_EXIT)
    verdict = evaluate(labelled, cash_only, context())
    assert verdict.outcome is Outcome.REJECTED
    shape = next(v for v in verdict.verdicts if v.rule == "exit_only_sells_volatile")
    assert not shape.passed
    assert shape.severity is Severity.HARD


def test_a_depeg_exit_does_not_sell_into_the_coin_that_depegged() -> None:
    depeg = market(stablecoins={"USDC": D("0.90"), "USDT": D("1.000"), "DAI": D("0.999")})
    result = propose(
        balanced_400k(), EUPHORIA, depeg, context(), prices=PRICES, plan_id="x", now=NOW
    )
    assert result.black_swan is not None
    assert result.plan is not None
    swaps = [t for t in result.plan.required_transactions if t.tx_type is TransactionType.SWAP]
    assert swaps
    assert {t.to_asset for t in swaps} == {"USDT"}
    assert result.verdict is not None
    assert result.verdict.outcome is Outcome.ALLOWED, result.verdict.reasons


def test_an_exit_when_every_stablecoin_is_off_peg_asks_a_human() -> None:
    all_off = market(stablecoins={"USDC": D("0.90"), "USDT": D("0.95"), "DAI": D("0.94")})
    result = propose(
        balanced_400k(), EUPHORIA, all_off, context(), prices=PRICES, plan_id="x", now=NOW
    )
    assert result.black_swan is not None
    assert result.plan is not None
    assert result.verdict is not None
    assert result.verdict.outcome is Outcome.NEEDS_APPROVAL, result.verdict.reasons


def test_an_exit_into_a_depegged_coin_while_another_is_on_peg_is_rejected() -> None:
    depeg = market(stablecoins={"USDC": D("0.90"), "USDT": D("1.000")})
    crash_exit = propose(
        balanced_400k(),
        EUPHORIA,
        market(btc_change="-0.25"),
        context(),
        prices=PRICES,
        plan_id="x",
        now=NOW,
    ).plan
    assert crash_exit is not None
    assert {t.to_asset for t in crash_exit.required_transactions} == {"USDC"}
    verdict = evaluate(
        crash_exit,
        balanced_400k(),
        context(stablecoin_prices=depeg.stablecoin_prices),
    )
    assert verdict.outcome is Outcome.REJECTED
    assert "exit_into_stablecoin_on_peg" in _failed(verdict.verdicts)
