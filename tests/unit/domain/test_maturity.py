"""Pendle PT maturity: when a PT position is rolled, into which market, and the roll plan."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from domain.allocation import TargetAllocations
from domain.maturity import (
    RollRules,
    TermHolding,
    TermMarket,
    choose_roll_market,
    ineligibility,
    next_roll,
    plan_roll,
    roll_due,
)
from domain.planner import PlannerConfig
from domain.plans import TransactionType
from domain.safety import Outcome
from domain.strategy import StrategyConfig, propose
from tests.unit.domain.builders import (
    NOW,
    PRICES,
    balanced_400k,
    context,
    market,
)

D = Decimal
RULES = RollRules()
USDC = "0xa0b8"


def term(
    name: str,
    days: float,
    apy: str = "0.07",
    liquidity: int = 20_000_000,
    accounting: str = USDC,
    asset: str = "PT-USDC",
) -> TermMarket:
    return TermMarket(
        protocol="pendle",
        asset=asset,
        market=f"0x{name}",
        name=name,
        matures_at=NOW + timedelta(days=days),
        apy=D(apy),
        liquidity_usd=D(liquidity),
        accounting_asset=accounting,
    )


def holding(market: TermMarket, value: int = 72_000) -> TermHolding:
    return TermHolding(market=market, amount=D(value), value_usd=D(value))


def test_a_position_is_due_within_the_window_and_after_maturity_but_not_before() -> None:
    assert not roll_due(holding(term("a", 30)), NOW, RULES)
    assert roll_due(holding(term("a", 7)), NOW, RULES)
    assert roll_due(holding(term("a", 0)), NOW, RULES)
    assert roll_due(holding(term("a", -40)), NOW, RULES)
    assert not roll_due(holding(term("a", -1), value=0), NOW, RULES)


def test_the_best_market_is_the_highest_apy_among_the_eligible_ones() -> None:
    held = term("old", 1)
    candidates = [
        held,
        term("soon", 5, apy="0.20"),  # matures inside the window itself
        term("thin", 120, apy="0.15", liquidity=100_000),  # too little liquidity
        term("eth", 120, apy="0.12", accounting="0xae7a"),  # redeems for another asset
        term("low", 120, apy="0.01"),  # below the APY floor
        term("good", 90, apy="0.08"),
        term("better", 180, apy="0.09"),
    ]
    chosen = choose_roll_market(held, candidates, NOW, RULES)
    assert chosen is not None
    assert chosen.name == "better"
    reasons = {c.name: ineligibility(c, held, NOW, RULES) for c in candidates}
    assert reasons["good"] is None
    assert all(reasons[n] for n in ("old", "soon", "thin", "eth", "low"))


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-30, max_value=400),
            st.decimals(min_value=0, max_value=D("0.3"), places=3),
            st.integers(min_value=0, max_value=50_000_000),
        ),
        max_size=8,
    )
)
def test_the_chosen_market_is_eligible_and_none_eligible_pays_more(
    specs: list[tuple[int, Decimal, int]],
) -> None:
    held = term("held", 2)
    candidates = [term(f"m{i}", d, str(a), liq) for i, (d, a, liq) in enumerate(specs)]
    chosen = choose_roll_market(held, candidates, NOW, RULES)
    eligible = [c for c in candidates if ineligibility(c, held, NOW, RULES) is None]
    if chosen is None:
        assert not eligible
        return
    assert ineligibility(chosen, held, NOW, RULES) is None
    assert chosen.matures_at - NOW > RULES.window
    assert chosen.apy >= RULES.min_apy
    assert chosen.liquidity_usd >= RULES.min_liquidity_usd
    assert all(c.apy <= chosen.apy for c in eligible)


def test_no_eligible_market_holds_before_maturity_and_redeems_after() -> None:
    assert next_roll([holding(term("a", 3))], [], NOW, RULES) is None
    matured = next_roll([holding(term("a", -1))], [], NOW, RULES)
    assert matured is not None
    assert matured[1] is None


@given(st.integers(min_value=1_000, max_value=5_000_000), st.integers(min_value=-60, max_value=7))
def test_the_roll_plan_redeems_everything_and_buys_no_more_than_it_brings_back(
    value: int, days: int
) -> None:
    held, into = term("old", days), term("new", 180)
    plan = plan_roll(
        balanced_400k(),
        holding(held, value),
        into,
        prices=PRICES,
        plan_id="roll",
        now=NOW,
        config=PlannerConfig(),
    )
    sell, *rest = plan.required_transactions
    assert sell.tx_type is TransactionType.WITHDRAW
    assert sell.full_exit
    assert sell.market == held.market
    assert sell.amount == D(value)
    for buy in rest:
        assert buy.tx_type is TransactionType.DEPOSIT
        assert buy.market == into.market
        assert buy.amount_usd <= sell.amount_usd - sell.estimated_slippage_usd
        assert buy.to_asset == "PT-USDC"
    assert len(rest) == (1 if value >= 500 else 0)
    assert plan.requires_approval is (value > 50_000)


def test_a_roll_too_small_to_buy_redeems_and_records_the_deposit_it_skipped() -> None:
    held, into = term("old", -1), term("new", 180)
    plan = plan_roll(
        balanced_400k(),
        holding(held, 400),
        into,
        prices=PRICES,
        plan_id="roll",
        now=NOW,
        config=PlannerConfig(),
    )
    (sell,) = plan.required_transactions
    assert sell.tx_type is TransactionType.WITHDRAW
    assert sell.market == held.market
    (skip,) = plan.skipped
    assert skip.description.startswith("deposit USDC->PT-USDC $")
    assert skip.description.endswith(" into new")
    assert skip.reason == "below the minimum trade size $500"
    assert not any(note.startswith("into ") for note in plan.notes)


def test_a_matured_roll_without_a_market_only_redeems_and_says_why() -> None:
    held = term("old", -1)
    plan = plan_roll(
        balanced_400k(),
        holding(held),
        None,
        prices=PRICES,
        plan_id="roll",
        now=NOW,
        config=PlannerConfig(),
    )
    (sell,) = plan.required_transactions
    assert sell.full_exit
    assert sell.market == held.market
    assert sell.estimated_slippage_usd == 0  # a matured PT is redeemed, not sold
    assert plan.skipped == ()
    assert plan.notes[-1] == "no eligible market to roll into: the PT is redeemed to cash"
    assert "(matured)" in plan.notes[0]


def test_a_due_roll_comes_before_a_rebalance_and_is_judged_by_the_policy() -> None:
    held, into = term("old", -1), term("new", 180)
    proposal = propose(
        balanced_400k(),
        TargetAllocations(base_yield=D("0.6"), tactical=D("0.24"), cash=D("0.16")),
        market(),
        context(),
        prices=PRICES,
        plan_id="p",
        now=NOW,
        config=StrategyConfig(),
        force=True,
        term_holdings=[holding(held)],
        term_markets=[held, into],
    )
    assert proposal.plan is not None
    assert proposal.verdict is not None
    markets = [t.market for t in proposal.plan.required_transactions]
    assert markets == [held.market, into.market]
    assert proposal.verdict.outcome is Outcome.NEEDS_APPROVAL  # $72K is above the limit
    assert "roll" in proposal.reason


def test_a_roll_is_not_rejected_for_a_volatile_breach_it_found_nor_for_its_gas() -> None:
    # BTC/ETH rallied above the 40 % cap; the roll buys none, but its gas and slippage shrink the
    # total a little, which lifts the volatile share by a hair. With no idle cash, the deposit
    # must also leave the gas: no balance may go below zero during the plan.
    from tests.unit.domain.builders import portfolio, position

    above_cap = portfolio(
        position("aave", "USDC", 98_000),
        position("curve", "3CRV", 72_000),
        position("pendle", "PT-USDC", 74_574),
        position("wallet", "WBTC", 100_780, 60_000),
        position("wallet", "WETH", 89_888, 3_000),
    )
    held, into = term("old", -1), term("new", 180)
    proposal = propose(
        above_cap,
        TargetAllocations(base_yield=D("0.6"), tactical=D("0.4"), cash=D(0)),
        market(),
        context(),
        prices=PRICES,
        plan_id="p",
        now=NOW,
        config=StrategyConfig(),
        term_holdings=[holding(held, 74_574)],
        term_markets=[into],
    )
    assert proposal.verdict is not None
    assert proposal.verdict.outcome is Outcome.NEEDS_APPROVAL, proposal.verdict.reasons
