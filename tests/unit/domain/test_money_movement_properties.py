"""Properties of the whole decision step over generated treasuries from $0 to $1B.

Each example builds a portfolio (any mix of yield venues, an unknown venue, BTC, ETH and cash),
a market (prices that moved, crashes, stablecoin depegs, missing fields) and targets, then runs
`propose`: the black-swan check, the drift check, the planner and the safety policy together.

1. A plan the policy does not reject never breaches a limit, or makes worse a breach it found:
   the volatile share ends within the cap or no higher than before; a position ends within its
   cap, or was above it before and the plan put no money into it (for a black-swan exit, whose
   slippage shrinks the total and so may lift an untouched position's share: the plan put no
   money into it).
2. A plan that runs without a human never moves more than the approval limit, in one move or
   in total (black-swan exits are automatic by the spec and excluded).
3. Every planned swap is within its slippage bound, and each skipped move is recorded once.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from domain.allocation import TargetAllocations
from domain.errors import PlanInfeasible
from domain.market import MarketData, MarketPhase
from domain.planner import swap_slippage_fraction
from domain.plans import PlanKind, TransactionType
from domain.portfolio import PortfolioState, Position
from domain.projection import holdings_of
from domain.safety import Outcome, SafetyContext, Severity
from domain.strategy import Proposal, StrategyConfig, planning_prices, propose
from tests.unit.domain.builders import NOW, TVL

D = Decimal
CONFIG = StrategyConfig()
LIMITS = CONFIG.limits
# (protocol, asset, USD per unit; None for BTC/ETH, priced by the market)
HOLDINGS = (
    ("aave", "USDC", D(1)),
    ("pendle", "PT-USDC", D("0.96")),
    ("curve", "3CRV", D("1.03")),
    ("compound", "USDC", D(1)),
    ("wallet", "WBTC", None),
    ("wallet", "WETH", None),
)
PROPERTY_SETTINGS = settings(
    max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

fraction = st.decimals(min_value=0, max_value=1, places=3)
change = st.one_of(
    st.none(),
    st.decimals(min_value=D("-0.6"), max_value=D("0.6"), places=3),
)


@st.composite
def totals(draw: st.DrawFn) -> Decimal:
    """$0, or a treasury between $100 and $1B, spread evenly over the orders of magnitude."""
    if draw(st.integers(0, 20)) == 0:
        return D(0)
    exponent = draw(st.integers(2, 8))
    return D(10) ** exponent * draw(st.decimals(min_value=1, max_value=10, places=2))


@st.composite
def treasuries(draw: st.DrawFn) -> tuple[PortfolioState, MarketData, TargetAllocations, Decimal]:
    btc = draw(st.decimals(min_value=100, max_value=200_000, places=2))
    eth = draw(st.decimals(min_value=10, max_value=10_000, places=2))
    total = draw(totals())
    weights = [draw(fraction) if draw(st.booleans()) else D(0) for _ in HOLDINGS]
    weights.append(draw(fraction))  # idle cash
    weight_sum = sum(weights, D(0))
    positions = []
    for (protocol, asset, unit), weight in zip(HOLDINGS, weights, strict=False):
        value = (total * weight / weight_sum).quantize(D("0.01")) if weight_sum else D(0)
        if value <= 0:
            continue
        price = unit if unit is not None else (btc if asset == "WBTC" else eth)
        positions.append(
            Position(
                protocol=protocol,
                asset=asset,
                amount=value / price,
                value_usd=value,
                apy=D("0.05"),
                entered_at=NOW,
            )
        )
    cash = max(D(0), total - sum((p.value_usd for p in positions), D(0)))
    portfolio = PortfolioState.build(positions=tuple(positions), cash_balance=cash, as_of=NOW)
    depeg = draw(
        st.one_of(
            st.just({}),
            st.fixed_dictionaries(
                {"USDC": st.decimals(min_value=D("0.90"), max_value=D("1.05"), places=3)}
            ),
        )
    )
    market = MarketData(
        btc_price=None if draw(st.integers(0, 9)) == 0 else btc,
        eth_price=None if draw(st.integers(0, 19)) == 0 else eth,
        mvrv_z_score=draw(st.one_of(st.none(), st.decimals(-2, 10, places=2))),
        funding_rate=draw(st.one_of(st.none(), st.decimals(D("-0.001"), D("0.001"), places=5))),
        fear_greed_index=draw(st.one_of(st.none(), st.integers(0, 100))),
        market_phase=draw(st.sampled_from(list(MarketPhase))),
        timestamp=NOW,
        btc_change_24h=draw(change),
        eth_change_24h=draw(change),
        stablecoin_prices=depeg,
    )
    base = draw(fraction)
    tactical = draw(st.decimals(min_value=0, max_value=1 - base, places=3))
    targets = TargetAllocations(base, tactical, 1 - base - tactical)
    gas = draw(st.decimals(min_value=1, max_value=150, places=1))
    return portfolio, market, targets, gas


def _propose(
    case: tuple[PortfolioState, MarketData, TargetAllocations, Decimal],
) -> tuple[PortfolioState, Proposal]:
    portfolio, market, targets, gas = case
    try:
        prices = planning_prices(market, gas)
        proposal = propose(
            portfolio,
            targets,
            market,
            SafetyContext(now=NOW, protocol_tvl_usd=TVL, base_fee_gwei=gas),
            prices=prices,
            plan_id="p",
            now=NOW,
            config=CONFIG,
        )
    except PlanInfeasible:
        assume(False)  # a price the plan needs is missing: nothing is planned, nothing moves
        raise
    return portfolio, proposal


@PROPERTY_SETTINGS
@given(treasuries())
def test_no_plan_the_policy_lets_through_breaches_a_limit_or_worsens_a_breach(
    case: tuple[PortfolioState, MarketData, TargetAllocations, Decimal],
) -> None:
    portfolio, proposal = _propose(case)
    plan, verdict = proposal.plan, proposal.verdict
    if plan is None or verdict is None:
        event("no plan")
        return
    event(f"{plan.kind.value} {verdict.outcome.value}")
    descriptions = [s.description for s in plan.skipped]
    assert len(descriptions) == len(set(descriptions)), descriptions
    for tx in plan.required_transactions:
        if tx.tx_type is TransactionType.SWAP:
            expected = swap_slippage_fraction(tx.amount_usd, CONFIG.planner)
            assert expected <= tx.slippage_tolerance
    if verdict.outcome is Outcome.REJECTED:
        return
    after = verdict.projection
    total = portfolio.total_value_usd
    volatile_before = portfolio.volatile_value() / total if total > 0 else D(0)
    if after.volatile_share > LIMITS.max_volatile_share:
        # Only a breach found before the plan, and the plan adds no BTC/ETH: the share is no
        # higher, or the volatile holdings are untouched (costs alone shrink the total).
        assert volatile_before > LIMITS.max_volatile_share
        assert (
            after.volatile_share <= volatile_before
            or after.volatile_value == portfolio.volatile_value()
        )
    before_values = holdings_of(portfolio)
    before_shares = portfolio.position_shares()
    for key, share in after.position_shares().items():
        if share > LIMITS.max_single_position_share:
            assert after.values[key] <= before_values[key]
            if plan.kind is PlanKind.REBALANCE:
                assert before_shares[key] > LIMITS.max_single_position_share
    assert after.lowest_cash >= 0
    assert after.lowest_position >= 0
    held = {p.key: p.amount for p in portfolio.positions}
    sold: dict[tuple[str, str], Decimal] = {}
    for tx in plan.required_transactions:
        if tx.source_key is not None:
            sold[tx.source_key] = sold.get(tx.source_key, D(0)) + tx.amount
    for key, amount in sold.items():
        assert amount <= held[key]
    if plan.kind is PlanKind.REBALANCE:
        assert len(plan.required_transactions) <= LIMITS.max_trades_per_day


@PROPERTY_SETTINGS
@given(treasuries())
def test_no_plan_without_a_human_moves_more_than_the_approval_limit(
    case: tuple[PortfolioState, MarketData, TargetAllocations, Decimal],
) -> None:
    portfolio, proposal = _propose(case)
    plan, verdict = proposal.plan, proposal.verdict
    if plan is None or verdict is None or verdict.outcome is not Outcome.ALLOWED:
        return
    if plan.kind is PlanKind.EMERGENCY_EXIT:
        return  # automatic by the spec
    limit = LIMITS.approval_threshold_usd
    assert not plan.requires_approval
    assert plan.largest_move_usd <= limit
    # Measured apart from the planner's own measure: what left positions and what entered them.
    before = holdings_of(portfolio)
    after = verdict.projection.values
    keys = set(before) | set(after)
    out = sum((max(D(0), before.get(k, D(0)) - after.get(k, D(0))) for k in keys), D(0))
    into = sum((max(D(0), after.get(k, D(0)) - before.get(k, D(0))) for k in keys), D(0))
    assert out <= limit
    assert into <= limit


@PROPERTY_SETTINGS
@given(treasuries())
def test_a_black_swan_exit_leaves_no_volatile_position_unsold(
    case: tuple[PortfolioState, MarketData, TargetAllocations, Decimal],
) -> None:
    _, proposal = _propose(case)
    plan, verdict = proposal.plan, proposal.verdict
    if plan is None or verdict is None or plan.kind is not PlanKind.EMERGENCY_EXIT:
        return
    # Only a position that would bring in less than the gas to sell it is left; the cap on the
    # base fee is the one limit that may hold the exit back (the executor waits for cheaper gas).
    gas_usd = CONFIG.planner.gas_units[TransactionType.SWAP] * case[3] * D("1e-9")
    gas_usd *= case[1].eth_price or D(0)
    for key, value in verdict.projection.values.items():
        if key[1] in ("WBTC", "WETH"):
            assert value * (1 - swap_slippage_fraction(value, CONFIG.planner)) <= gas_usd
    # With every stablecoin off its peg there is no safe coin to exit into: a human decides.
    no_coin_on_peg = {v.rule for v in verdict.failures if v.severity is Severity.APPROVAL} & {
        "exit_into_stablecoin_on_peg"
    }
    assert {v.rule for v in verdict.failures} - no_coin_on_peg <= {"gas_price_cap"}
