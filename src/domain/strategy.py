"""One decision step, shared by the live decision cycle and the backtester.

Given the portfolio, the targets an advisor chose and the market, it decides whether to act
(black-swan exit, drift beyond the band, a threshold crossing, or a forced rebalance), builds
the plan with the domain planner, and judges it with the safety policy. Live, paper and
backtest differ only in the adapters around this function, never in this code.

The policy is told what the market shows (the detected black swan, the stablecoin prices, the
re-entry cooldown); the caller cannot grant an exit its waivers. An exit sells into the
healthiest stablecoin the market data shows. After an exit, the tactical target may not rise
above what is held until the cooldown is over; when the tactical exposure is unknown (MVRV has
never been seen) the volatile holdings are held as they are: unknown data never trades.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from domain.allocation import Bucket, Drift, TargetAllocations, rebalance_due
from domain.errors import InvalidValue, PlanInfeasible
from domain.market import MarketData
from domain.maturity import RollRules, TermHolding, TermMarket, next_roll, plan_roll
from domain.money import ONE, ZERO
from domain.planner import (
    PlannerConfig,
    PlanningPrices,
    achievable_targets,
    allocations_counting_sweep,
    plan_emergency_exit,
    plan_rebalance,
)
from domain.plans import RebalancingPlan
from domain.portfolio import PortfolioState
from domain.safety import (
    BlackSwan,
    RuleVerdict,
    SafetyContext,
    SafetyLimits,
    SafetyVerdict,
    advisor_deviation,
    detect_black_swan,
    evaluate,
    with_verdict,
)
from domain.signals import RiskLevel, SignalConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyConfig:
    """Signal, planner and safety settings together; the planner may not be looser than policy."""

    signal: SignalConfig = field(default_factory=SignalConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    drift_band: Decimal = Decimal("0.05")
    roll: RollRules = field(default_factory=RollRules)

    def __post_init__(self) -> None:
        if self.planner.max_single_position_share > self.limits.max_single_position_share:
            raise InvalidValue(
                "planner.max_single_position_share",
                self.planner.max_single_position_share,
                "must not exceed the safety policy's cap",
            )
        if self.planner.max_volatile_share > self.limits.max_volatile_share:
            raise InvalidValue(
                "planner.max_volatile_share",
                self.planner.max_volatile_share,
                "must not exceed the safety policy's cap",
            )
        if self.planner.approval_threshold_usd > self.limits.approval_threshold_usd:
            raise InvalidValue(
                "planner.approval_threshold_usd",
                self.planner.approval_threshold_usd,
                "must not exceed the safety policy's approval limit",
            )
        if self.drift_band < 0:
            raise InvalidValue("drift_band", self.drift_band, "must not be negative")

    def limits_in_force(self) -> dict[str, str]:
        """Every number a user may set, by setting name (without `TREASURY_`), as text.

        What `GET /config` shows and what the start-up audit compares: one flat mapping, so
        a change of any limit between two starts is one differing key.
        """
        limits, planner = self.limits, self.planner
        values: dict[str, object] = {
            "approval_threshold_usd": limits.approval_threshold_usd,
            "max_volatile_share": limits.max_volatile_share,
            "max_single_position_share": limits.max_single_position_share,
            "max_trades_per_day": limits.max_trades_per_day,
            "gas_cap_gwei": limits.gas_price_cap_gwei,
            "max_gas_share": planner.max_gas_share,
            "min_protocol_tvl_usd": limits.min_protocol_tvl_usd,
            "max_protocol_risk_score": limits.max_protocol_risk_score,
            "black_swan_drop_24h": limits.black_swan_drop_24h,
            "depeg_tolerance": limits.depeg_tolerance,
            "black_swan_iv_spike_24h": limits.black_swan_iv_spike_24h or "off",
            "slippage_budget_share": limits.slippage_budget.fraction,
            "slippage_budget_days": limits.slippage_budget.period.days,
            "circuit_breaker_failures": limits.circuit_breaker_failures,
            "max_advisor_deviation": limits.max_advisor_deviation,
            "drift_band": self.drift_band,
            "min_trade_usd": planner.min_trade_usd,
            "cash_buffer_share": planner.cash_buffer_share,
            "max_slices_per_move": planner.max_slices_per_move,
            "max_slippage": planner.default_slippage_tolerance,
            "reentry_cooldown_hours": int(limits.reentry_cooldown.total_seconds() // 3600),
            "exit_stablecoins": ",".join(limits.exit_stablecoins),
            "roll_days_before_maturity": self.roll.days_before_maturity,
            "roll_min_apy": self.roll.min_apy,
            "roll_min_liquidity_usd": self.roll.min_liquidity_usd,
        }
        return {name: str(value) for name, value in values.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """What the strategy proposes this step: a plan with its verdict, or why there is none."""

    plan: RebalancingPlan | None
    verdict: SafetyVerdict | None
    rebalance_due: bool
    black_swan: BlackSwan | None
    reason: str
    targets: TargetAllocations | None = None
    """The targets the planner aimed at: the advice after `max_advisor_deviation`."""
    deviation: RuleVerdict | None = None
    """How far the advice was from the signal's targets, and what was clamped."""


def exit_stablecoin(prices: Mapping[str, Decimal], limits: SafetyLimits) -> str:
    """The stablecoin an exit sells into: the healthiest of `limits.exit_stablecoins`.

    Healthiest is the smallest distance from $1 among the coins the market data prices; ties go
    to the earlier coin in the preference list. When the data prices none of them, the first
    preference (no coin is known to be off its peg). If the chosen coin is itself off its peg,
    the policy sends the exit to a human (`exit_into_stablecoin_on_peg`).
    """
    shown = {asset.upper(): price for asset, price in prices.items()}
    priced = [a for a in limits.exit_stablecoins if a.upper() in shown]
    if not priced:
        return limits.exit_stablecoins[0]
    return min(
        priced, key=lambda a: (abs(shown[a.upper()] - ONE), limits.exit_stablecoins.index(a))
    )


def reentry_blocked_until(last_exit_at: datetime | None, limits: SafetyLimits) -> datetime | None:
    """When the re-entry cooldown after the last exit ends (None: no exit recorded)."""
    return None if last_exit_at is None else last_exit_at + limits.reentry_cooldown


def _exit_into(plan: RebalancingPlan, into: str) -> RebalancingPlan:
    """The exit plan with its sales landing in `into` instead of the planner's cash asset.

    Only the destination changes: the planner sized and costed each sale the same way, and
    every stablecoin in the wallet is cash.
    """
    moved = tuple(
        replace(t, to_asset=into) if t.to_asset != into else t for t in plan.required_transactions
    )
    if moved == plan.required_transactions:
        return plan
    return replace(plan, required_transactions=moved, notes=(*plan.notes, f"sells into {into}"))


def _cap_tactical(targets: TargetAllocations, ceiling: Decimal) -> TargetAllocations:
    """Targets whose tactical share is at most `ceiling`; what it gives up goes to cash."""
    if targets.tactical <= ceiling:
        return targets
    return TargetAllocations(
        base_yield=targets.base_yield, tactical=ceiling, cash=ONE - targets.base_yield - ceiling
    )


def _hold_tactical(targets: TargetAllocations, held: Decimal) -> TargetAllocations:
    """Targets whose tactical share is exactly what is held; cash (then base) absorbs it."""
    base = min(targets.base_yield, ONE - held)
    return TargetAllocations(base_yield=base, tactical=held, cash=max(ZERO, ONE - base - held))


def planning_prices(
    market: MarketData,
    gas_price_gwei: Decimal,
    extra: Mapping[str, Decimal] | None = None,
) -> PlanningPrices:
    """Prices for planning from market data (BTC/WBTC, ETH/WETH, stablecoins) plus extras.

    Raises:
        PlanInfeasible: the ETH price, needed to cost gas, is unknown.
    """
    if market.eth_price is None:
        raise PlanInfeasible("the ETH price is unknown, so gas cannot be costed")
    asset_usd: dict[str, Decimal] = dict(extra or {})
    if market.btc_price is not None:
        asset_usd.setdefault("WBTC", market.btc_price)
        asset_usd.setdefault("BTC", market.btc_price)
    asset_usd.setdefault("WETH", market.eth_price)
    asset_usd.setdefault("ETH", market.eth_price)
    for asset, price in market.stablecoin_prices.items():
        asset_usd.setdefault(asset, price)
    return PlanningPrices(
        asset_usd=asset_usd, gas_price_gwei=gas_price_gwei, eth_usd=market.eth_price
    )


def reachable_drift(
    portfolio: PortfolioState, targets: TargetAllocations, planner: PlannerConfig
) -> Drift:
    """How far each bucket is from what the planner can reach of `targets`.

    The caps may clamp the targets (BTC alone holds at most 24.5 % of the treasury, not the 40 %
    an accumulation signal asks for); drift from the unclamped targets would be "beyond the
    band" every day and trade every day without getting closer. Cash swept into a base venue
    counts as cash (`domain.planner.swept_cash`).
    """
    return Drift(
        current=allocations_counting_sweep(portfolio, targets, planner),
        target=achievable_targets(targets, planner),
    )


def sweep_venues(config: StrategyConfig, context: SafetyContext) -> tuple[str, ...]:
    """The base venues idle cash may be swept into, safest first.

    A venue is eligible when the policy would accept a deposit into it: its risk score is
    known and within `max_protocol_risk_score`, and its TVL is known and at least
    `min_protocol_tvl_usd`. Lowest risk score first; ties keep the configured order. None
    when the sweep is off (`cash_buffer_share` 1).
    """
    if config.planner.cash_buffer_share >= ONE:
        return ()
    limits = config.limits
    eligible: list[tuple[int, int, str]] = []
    for index, venue in enumerate(config.planner.venues):
        score = limits.protocol_risk_scores.get(venue.protocol)
        tvl = context.protocol_tvl_usd.get(venue.protocol)
        if score is None or score > limits.max_protocol_risk_score:
            continue
        if tvl is None or tvl < limits.min_protocol_tvl_usd:
            continue
        eligible.append((score, index, venue.protocol))
    return tuple(dict.fromkeys(protocol for _, _, protocol in sorted(eligible)))


@dataclass(frozen=True, slots=True)
class _Step:
    """What one `propose` step plans and judges with, whichever rule acts."""

    portfolio: PortfolioState
    context: SafetyContext
    prices: PlanningPrices
    plan_id: str
    now: datetime
    config: StrategyConfig
    max_slippage: Decimal | None
    risk_level: RiskLevel
    planner: Callable[..., RebalancingPlan]
    policy: Callable[..., SafetyVerdict]

    def plan(
        self, targets: TargetAllocations, venues: tuple[str, ...], *, sweep_only: bool = False
    ) -> RebalancingPlan:
        """The planner's plan toward `targets`, sweeping idle cash into `venues`."""
        return self.planner(
            self.portfolio,
            targets,
            prices=self.prices,
            plan_id=self.plan_id,
            now=self.now,
            config=self.config.planner,
            max_slippage=self.max_slippage,
            risk_level=self.risk_level,
            sweep_venues=venues,
            sweep_only=sweep_only,
        )

    def judge(self, plan: RebalancingPlan, deviation: RuleVerdict | None = None) -> SafetyVerdict:
        """The policy's verdict on `plan`, with the advice's clamp among the verdicts if any."""
        verdict = self.policy(plan, self.portfolio, self.context, self.config.limits)
        return verdict if deviation is None else with_verdict(verdict, deviation)


def propose(
    portfolio: PortfolioState,
    targets: TargetAllocations,
    market: MarketData,
    context: SafetyContext,
    *,
    prices: PlanningPrices,
    plan_id: str,
    now: datetime,
    config: StrategyConfig = StrategyConfig(),
    threshold_crossed: bool = False,
    force: bool = False,
    exit_requested: bool = False,
    hold: bool = False,
    last_exit_at: datetime | None = None,
    exposure_known: bool = True,
    max_slippage: Decimal | None = None,
    risk_level: RiskLevel = RiskLevel.MEDIUM,
    signal_targets: TargetAllocations | None = None,
    term_holdings: Sequence[TermHolding] = (),
    term_markets: Sequence[TermMarket] = (),
    planner: Callable[..., RebalancingPlan] = plan_rebalance,
    policy: Callable[..., SafetyVerdict] = evaluate,
) -> Proposal:
    """Decide whether to act, plan it, and judge the plan (see module doc).

    One rule a step, in order: an advisor's `hold` during a black swan moves nothing; a black
    swan or `exit_requested` sells BTC/ETH (`_propose_exit`); a holding in `term_holdings` due
    to roll goes into the best of `term_markets` (`_propose_roll`); the advice is bounded by
    `signal_targets` (`_bounded_advice`) and held back while `exposure_known` is False or the
    cooldown after `last_exit_at` runs (`_held_back`); then a due rebalance
    (`_propose_rebalance`), else the sweep of idle cash (`_propose_sweep`). `planner` and
    `policy` default to the domain's; the backtester passes them so a test can count calls.

    Raises:
        PlanInfeasible: a price needed to size a move is unknown.
    """
    black_swan = detect_black_swan(market, config.limits)
    cooling_until = _cooldown_until(last_exit_at, now, config.limits)
    context = _context_seen(context, market, black_swan, cooling_until)
    step = _Step(
        portfolio, context, prices, plan_id, now, config, max_slippage, risk_level, planner, policy
    )
    if hold and not force and black_swan is not None:
        return _hold_through_black_swan(black_swan)
    if black_swan is not None or exit_requested:
        return _propose_exit(step, black_swan, market)
    roll = next_roll(term_holdings, term_markets, now, config.roll)
    if roll is not None:
        return _propose_roll(step, *roll)
    targets, deviation = _bounded_advice(targets, signal_targets, config)
    targets, notes = _held_back(targets, portfolio, exposure_known, cooling_until)
    drift = reachable_drift(portfolio, targets, config.planner)
    if force or (not hold and rebalance_due(drift, config.drift_band, threshold_crossed)):
        why = _why_due(force, threshold_crossed)
        return _propose_rebalance(step, targets, deviation, [why, *notes])
    return _propose_sweep(step, targets, deviation, drift, notes)


def _cooldown_until(
    last_exit_at: datetime | None, now: datetime, limits: SafetyLimits
) -> datetime | None:
    """When the re-entry cooldown ends, if it is still running at `now`."""
    blocked_until = reentry_blocked_until(last_exit_at, limits)
    return blocked_until if blocked_until is not None and now < blocked_until else None


def _context_seen(
    context: SafetyContext,
    market: MarketData,
    black_swan: BlackSwan | None,
    cooling_until: datetime | None,
) -> SafetyContext:
    """The policy's context told what the market shows; the caller cannot grant waivers."""
    return replace(
        context,
        black_swan=black_swan,
        stablecoin_prices=market.stablecoin_prices,
        reentry_blocked_until=cooling_until,
    )


def _hold_through_black_swan(black_swan: BlackSwan) -> Proposal:
    """The advisor holds while a black swan is detected: nothing moves, not even a sweep."""
    return Proposal(
        plan=None,
        verdict=None,
        rebalance_due=False,
        black_swan=black_swan,
        reason="the advisor holds; a black swan is detected, so no idle cash is swept",
    )


def _propose_exit(step: _Step, black_swan: BlackSwan | None, market: MarketData) -> Proposal:
    """Sell every volatile holding into the healthiest stablecoin the market shows.

    Without a black swan (the advisor asked for the exit) the policy sends it to a human.
    """
    reason = "; ".join(black_swan.reasons) if black_swan else "the advisor asked for an exit"
    if step.portfolio.volatile_value() <= 0:
        return Proposal(
            plan=None,
            verdict=None,
            rebalance_due=False,
            black_swan=black_swan,
            reason=f"exit wanted ({reason}) but no volatile position is held",
        )
    plan = _exit_into(
        plan_emergency_exit(
            step.portfolio,
            prices=step.prices,
            plan_id=step.plan_id,
            now=step.now,
            reason=reason,
            config=step.config.planner,
        ),
        exit_stablecoin(market.stablecoin_prices, step.config.limits),
    )
    return Proposal(
        plan=plan,
        verdict=step.judge(plan),
        rebalance_due=True,
        black_swan=black_swan,
        reason=reason,
    )


def _propose_roll(step: _Step, holding: TermHolding, into: TermMarket | None) -> Proposal:
    """Roll a fixed-term holding due to mature into the best market (`domain.maturity`).

    With no market to roll into, a matured holding is redeemed to cash. The roll comes before
    any rebalance, and its plan is judged like any other.
    """
    plan = plan_roll(
        step.portfolio,
        holding,
        into,
        prices=step.prices,
        plan_id=step.plan_id,
        now=step.now,
        config=step.config.planner,
    )
    return Proposal(
        plan=plan,
        verdict=step.judge(plan),
        rebalance_due=True,
        black_swan=None,
        reason="; ".join(plan.notes),
        targets=plan.target_allocations,
    )


def _bounded_advice(
    targets: TargetAllocations,
    signal_targets: TargetAllocations | None,
    config: StrategyConfig,
) -> tuple[TargetAllocations, RuleVerdict | None]:
    """The advice bounded by `max_advisor_deviation` from the signal's targets, when given.

    The clamp is returned as a verdict, to be judged with the plan.
    """
    if signal_targets is None:
        return targets, None
    return advisor_deviation(
        targets,
        signal_targets,
        config.limits.max_advisor_deviation,
        volatile_cap=config.planner.max_volatile_share,
    )


def _held_back(
    targets: TargetAllocations,
    portfolio: PortfolioState,
    exposure_known: bool,
    cooling_until: datetime | None,
) -> tuple[TargetAllocations, list[str]]:
    """Targets that buy no BTC/ETH while the exposure is unknown or the cooldown runs.

    An unknown exposure (MVRV never seen) holds the volatile holdings as they are: unknown data
    never trades. The cooldown after an exit lets them fall but not rise. Each rule that
    applies leaves a note for the reason.
    """
    held = portfolio.current_allocations()[Bucket.TACTICAL]
    notes: list[str] = []
    if not exposure_known:
        targets = _hold_tactical(targets, held)
        notes.append("no MVRV seen yet: BTC/ETH held as they are")
    if cooling_until is not None:
        targets = _cap_tactical(targets, held)
        notes.append(f"no BTC/ETH buys until {cooling_until.isoformat()} (cooldown after an exit)")
    return targets, notes


def _why_due(force: bool, threshold_crossed: bool) -> str:
    """Why a rebalance is due: it is forced, a threshold was crossed, or drift is too large."""
    if force:
        return "forced"
    return "threshold crossed" if threshold_crossed else "drift beyond band"


def _propose_rebalance(
    step: _Step,
    targets: TargetAllocations,
    deviation: RuleVerdict | None,
    reasons: list[str],
) -> Proposal:
    """Plan the rebalance toward `targets` and judge it, with the advice's clamp if any.

    Every rebalance sweeps idle cash above the buffer into the eligible base venues
    (`sweep_venues`), and withdraws swept cash first when a buy needs it (see
    `domain.planner.plan_rebalance`).
    """
    plan = step.plan(targets, sweep_venues(step.config, step.context))
    return Proposal(
        plan=plan,
        verdict=step.judge(plan, deviation),
        rebalance_due=True,
        black_swan=None,
        reason="; ".join(reasons),
        targets=targets,
        deviation=deviation,
    )


def _propose_sweep(
    step: _Step,
    targets: TargetAllocations,
    deviation: RuleVerdict | None,
    drift: Drift,
    notes: list[str],
) -> Proposal:
    """No rebalance is due (or the advisor holds): sweep idle cash when it is worth it.

    A plan of the sweep alone is proposed once it would move at least the drift band's share
    of the treasury, the same bar a bucket's drift must clear: the room under the caps grows a
    little with every rise of the treasury, and topping it up by the minimum trade each time
    would trade every few days for a few dollars of yield. Otherwise nothing is proposed.
    """
    band = step.config.drift_band
    within = f"largest drift {drift.max_abs():.4f} is within the band {band}"
    venues = sweep_venues(step.config, step.context)
    bar = band * step.portfolio.total_value_usd
    # A sweep moves at most the wallet's cash (the planner's sweep-only rule), so with less cash
    # than the bar no sweep can clear it and none is planned (most days of a backtest).
    worth_planning = bool(venues) and step.portfolio.cash_balance >= bar
    sweep = step.plan(targets, venues, sweep_only=True) if worth_planning else None
    if sweep is not None and sweep.traded_notional_usd < bar:
        sweep = None
    swept = [] if sweep is None else [sweep.notes[-1]]
    return Proposal(
        plan=sweep,
        verdict=None if sweep is None else step.judge(sweep, deviation),
        rebalance_due=False,
        black_swan=None,
        reason="; ".join([within, *swept, *notes]),
        targets=targets,
        deviation=deviation,
    )
