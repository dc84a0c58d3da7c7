"""Fixed-term positions (Pendle PT): when one must be rolled, into which market, and the plan.

A PT position pays its fixed APY only until its market matures; after that it is redeemable
cash that earns nothing. So a PT position at or past maturity, or within `RollRules.window` of
it, is redeemed and rolled into the best eligible market of the same venue:

- the same protocol and position (`pendle` / `PT-USDC`) and the same accounting asset (a USDC
  treasury's PT must redeem for USDC);
- not itself due: it matures after the roll window from now;
- liquidity of at least `min_liquidity_usd` and a fixed APY of at least `min_apy`.

Best is the highest APY; between equal APYs the later maturity (fewer rolls). The protocol's
TVL floor and risk score are the safety policy's rules, which judge the roll plan like any
other plan. The roll is an ordinary plan: a full withdrawal (a redemption once matured) from
the market held, then a deposit of what it brings back into the new market; each move names
its market. With no eligible market, a matured position is still redeemed (its money would
otherwise sit idle in a dead market) and the plan says why nothing was bought; before maturity
it is held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from domain.allocation import Bucket, TargetAllocations
from domain.errors import InvalidValue
from domain.money import ONE, ZERO, require_aware, require_no_floats, require_non_negative
from domain.planner import (
    PlanDraft,
    PlannerConfig,
    PlanningPrices,
    Priced,
    assemble_plan,
    gas_cost_usd,
)
from domain.plans import RebalancingPlan, SkippedMove, Transaction, TransactionType
from domain.portfolio import PortfolioState
from domain.signals import RiskLevel

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True, kw_only=True)
class TermMarket:
    """A fixed-term market a yield position can be held in (a Pendle PT market).

    `protocol`/`asset` name the position it fills (`pendle`/`PT-USDC`); `market` is the venue's
    id for it (the market address); `accounting_asset` is what its PT redeems for.
    """

    protocol: str
    asset: str
    market: str
    name: str
    matures_at: datetime
    apy: Decimal
    liquidity_usd: Decimal
    accounting_asset: str

    def __post_init__(self) -> None:
        require_no_floats(self)
        require_aware(self.matures_at, "matures_at")
        require_non_negative(self.liquidity_usd, "liquidity_usd")
        if not self.market:
            raise InvalidValue("market", self.market, "must not be empty")

    @property
    def key(self) -> tuple[str, str]:
        """The (protocol, asset) position this market's PT counts towards."""
        return (self.protocol, self.asset)

    def label(self) -> str:
        """The market for a human: name, maturity date and fixed APY."""
        return f"{self.name} maturing {self.matures_at.date().isoformat()} at {self.apy:.2%}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TermHolding:
    """PT held in one market: `amount` in PT units, `value_usd` at the market's price."""

    market: TermMarket
    amount: Decimal
    value_usd: Decimal

    def __post_init__(self) -> None:
        require_no_floats(self)
        require_non_negative(self.amount, "amount")
        require_non_negative(self.value_usd, "value_usd")


@dataclass(frozen=True, slots=True, kw_only=True)
class RollRules:
    """When a fixed-term position is rolled and what it may be rolled into."""

    days_before_maturity: int = 7
    min_apy: Decimal = Decimal("0.03")
    min_liquidity_usd: Decimal = Decimal(1_000_000)

    def __post_init__(self) -> None:
        require_no_floats(self)
        if self.days_before_maturity < 0:
            raise InvalidValue(
                "days_before_maturity", self.days_before_maturity, "must not be negative"
            )
        require_non_negative(self.min_liquidity_usd, "min_liquidity_usd")

    @property
    def window(self) -> timedelta:
        """How long before maturity a position is rolled."""
        return timedelta(days=self.days_before_maturity)


def roll_due(holding: TermHolding, now: datetime, rules: RollRules) -> bool:
    """Whether a holding must be rolled now: it holds something and its market matures within
    the roll window (or has matured)."""
    return holding.amount > 0 and holding.market.matures_at - now <= rules.window


def ineligibility(
    candidate: TermMarket, held: TermMarket, now: datetime, rules: RollRules
) -> str | None:
    """Why `candidate` may not receive a roll out of `held` (None: it may)."""
    if candidate.key != held.key:
        return f"it fills {candidate.protocol} {candidate.asset}, not {held.protocol} {held.asset}"
    if candidate.accounting_asset.lower() != held.accounting_asset.lower():
        return f"it redeems for {candidate.accounting_asset}, not {held.accounting_asset}"
    if candidate.market.lower() == held.market.lower():
        return "it is the market held"
    if candidate.matures_at - now <= rules.window:
        return "it matures within the roll window itself"
    if candidate.liquidity_usd < rules.min_liquidity_usd:
        return f"liquidity ${candidate.liquidity_usd:,.0f} is below ${rules.min_liquidity_usd:,.0f}"
    if candidate.apy < rules.min_apy:
        return f"APY {candidate.apy:.2%} is below the floor {rules.min_apy:.2%}"
    return None


def choose_roll_market(
    held: TermMarket, candidates: Sequence[TermMarket], now: datetime, rules: RollRules
) -> TermMarket | None:
    """The best eligible market to roll `held` into (see module doc), or None."""
    eligible = [c for c in candidates if ineligibility(c, held, now, rules) is None]
    if not eligible:
        return None
    return max(eligible, key=lambda c: (c.apy, c.matures_at, c.market.lower()))


def next_roll(
    holdings: Sequence[TermHolding],
    candidates: Sequence[TermMarket],
    now: datetime,
    rules: RollRules,
) -> tuple[TermHolding, TermMarket | None] | None:
    """The roll to plan now: the holding due soonest and the market to roll it into; None when
    nothing is due, or when the one due has no eligible market and has not matured yet (it is
    held until one appears or it matures, when it is redeemed to cash)."""
    due = [h for h in holdings if roll_due(h, now, rules)]
    if not due:
        return None
    holding = min(due, key=lambda h: (h.market.matures_at, h.market.market.lower()))
    into = choose_roll_market(holding.market, candidates, now, rules)
    if into is None and holding.market.matures_at > now:
        return None
    return holding, into


def _unchanged_targets(portfolio: PortfolioState) -> TargetAllocations:
    """A roll moves money within the base sleeve: its targets are the allocations now."""
    now = portfolio.current_allocations()
    base, tactical = now[Bucket.BASE_YIELD], now[Bucket.TACTICAL]
    return TargetAllocations(
        base_yield=base, tactical=tactical, cash=max(ZERO, ONE - base - tactical)
    )


def plan_roll(
    portfolio: PortfolioState,
    holding: TermHolding,
    into: TermMarket | None,
    *,
    prices: PlanningPrices,
    plan_id: str,
    now: datetime,
    config: PlannerConfig,
    risk_level: RiskLevel = RiskLevel.LOW,
) -> RebalancingPlan:
    """Redeem (or, before maturity, sell) every PT of `holding` and buy PT of `into` with what
    comes back, net of the expected slippage, rounded down to the cent.

    Both moves name their market. Without `into`, the plan only redeems, and says why. The
    approval limit applies as to any plan.
    """
    held = holding.market
    matured = held.matures_at <= now
    sell = _redemption(holding, matured=matured, prices=prices, config=config)
    moves = [sell]
    skipped: list[SkippedMove] = []
    verb = "matured" if matured else "matures"
    notes = [f"roll: {held.protocol} {held.asset} in {held.label()} ({verb})"]
    if into is None:
        notes.append("no eligible market to roll into: the PT is redeemed to cash")
    else:
        bought = _roll_deposit(into, sell, prices=prices, config=config)
        if isinstance(bought, SkippedMove):
            skipped.append(bought)
        else:
            moves.append(bought)
            notes.append(f"into {into.label()}")
    draft = PlanDraft(
        targets=_unchanged_targets(portfolio),
        transactions=tuple(moves),
        skipped=tuple(skipped),
        notes=tuple(notes),
        risk_level=risk_level,
    )
    return assemble_plan(portfolio, draft, plan_id=plan_id, now=now, config=config)


def _redemption(
    holding: TermHolding, *, matured: bool, prices: PlanningPrices, config: PlannerConfig
) -> Transaction:
    """The full withdrawal of `holding` from its market: a redemption, without slippage, once
    the market has matured; a sale at the venue's slippage before."""
    held = holding.market
    slippage = ZERO if matured else config.protocol_slippage.get(held.protocol, ZERO)
    gas = config.gas_units[TransactionType.WITHDRAW]
    return Transaction(
        tx_type=TransactionType.WITHDRAW,
        protocol=held.protocol,
        from_asset=held.asset,
        to_asset=config.cash_asset,
        amount=holding.amount,
        amount_usd=holding.value_usd,
        estimated_gas=gas,
        estimated_gas_usd=gas_cost_usd(gas, prices),
        estimated_slippage_usd=holding.value_usd * slippage,
        slippage_tolerance=config.default_slippage_tolerance,
        full_exit=True,
        market=held.market,
    )


def _roll_deposit(
    into: TermMarket, sell: Transaction, *, prices: PlanningPrices, config: PlannerConfig
) -> Priced:
    """The deposit into `into` of what `sell` brings back, or why it is skipped (below the
    minimum trade size).

    What comes back is counted less the plan's costs (as the planner counts them, gas is paid
    from the treasury's value), so that no balance goes below zero during the plan.
    """
    gas = config.gas_units[TransactionType.DEPOSIT]
    back = (
        sell.amount_usd
        - sell.estimated_slippage_usd
        - sell.estimated_gas_usd
        - gas_cost_usd(gas, prices)
    )
    usd = (back / prices.price(config.cash_asset)).quantize(CENT, rounding=ROUND_DOWN)
    if usd < config.min_trade_usd or usd <= 0:
        return SkippedMove(
            description=f"deposit {config.cash_asset}->{into.asset} ${usd:.2f} into {into.name}",
            reason=f"below the minimum trade size ${config.min_trade_usd}",
        )
    return Transaction(
        tx_type=TransactionType.DEPOSIT,
        protocol=into.protocol,
        from_asset=config.cash_asset,
        to_asset=into.asset,
        amount=usd,
        amount_usd=usd,
        estimated_gas=gas,
        estimated_gas_usd=gas_cost_usd(gas, prices),
        estimated_slippage_usd=usd * config.protocol_slippage.get(into.protocol, ZERO),
        slippage_tolerance=config.default_slippage_tolerance,
        market=into.market,
    )
