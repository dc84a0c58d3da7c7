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

    `planner` and `policy` default to the domain's; the backtester passes them through so a
    test can count calls to the real functions. `exit_requested` (the advisor asked for an exit)
    plans an exit that waits for a human unless a black swan is detected. `last_exit_at` is
    when the last exit ran (it starts the re-entry cooldown); `exposure_known` False means the
    signal could not know the tactical exposure, so volatile holdings are held. With
    `signal_targets` (the rule-based signal's), the advice is first bounded by
    `max_advisor_deviation` and the clamp is among the verdicts; the cooldown and the unknown
    exposure then hold BTC/ETH back from the clamped targets. A fixed-term holding in
    `term_holdings` due to roll (`domain.maturity`) is rolled into the best of `term_markets`
    before any rebalance: its plan is judged like any other, and only an exit comes first.

    Every rebalance sweeps idle cash above the buffer into the eligible base venues
    (`sweep_venues`), and withdraws swept cash first when a buy needs it (see
    `domain.planner.plan_rebalance`). When no rebalance is due (or the advisor chose to
    `hold`), a plan of the sweep alone is proposed once it would move at least the drift band's
    share of the treasury, the same bar a bucket's drift must clear: the room under the caps
    grows a little with every rise of the treasury, and topping it up by the minimum trade each
    time would trade every few days for a few dollars of yield.

    Raises:
        PlanInfeasible: a price needed to size a move is unknown.
    """
    black_swan = detect_black_swan(market, config.limits)
    blocked_until = reentry_blocked_until(last_exit_at, config.limits)
    cooling = blocked_until is not None and now < blocked_until
    context = replace(
        context,
        black_swan=black_swan,
        stablecoin_prices=market.stablecoin_prices,
        reentry_blocked_until=blocked_until if cooling else None,
    )
    if hold and not force and black_swan is not None:
        return Proposal(
            plan=None,
            verdict=None,
            rebalance_due=False,
            black_swan=black_swan,
            reason="the advisor holds; a black swan is detected, so no idle cash is swept",
        )
    if black_swan is not None or exit_requested:
        reason = "; ".join(black_swan.reasons) if black_swan else "the advisor asked for an exit"
        if portfolio.volatile_value() <= 0:
            return Proposal(
                plan=None,
                verdict=None,
                rebalance_due=False,
                black_swan=black_swan,
                reason=f"exit wanted ({reason}) but no volatile position is held",
            )
        plan = _exit_into(
            plan_emergency_exit(
                portfolio,
                prices=prices,
                plan_id=plan_id,
                now=now,
                reason=reason,
                config=config.planner,
            ),
            exit_stablecoin(market.stablecoin_prices, config.limits),
        )
        verdict = policy(plan, portfolio, context, config.limits)
        return Proposal(
            plan=plan, verdict=verdict, rebalance_due=True, black_swan=black_swan, reason=reason
        )
    roll = next_roll(term_holdings, term_markets, now, config.roll)
    if roll is not None:
        holding, into = roll
        plan = plan_roll(
            portfolio, holding, into, prices=prices, plan_id=plan_id, now=now, config=config.planner
        )
        verdict = policy(plan, portfolio, context, config.limits)
        return Proposal(
            plan=plan,
            verdict=verdict,
            rebalance_due=True,
            black_swan=None,
            reason="; ".join(plan.notes),
            targets=plan.target_allocations,
        )
    deviation: RuleVerdict | None = None
    if signal_targets is not None:
        targets, deviation = advisor_deviation(
            targets,
            signal_targets,
            config.limits.max_advisor_deviation,
            volatile_cap=config.planner.max_volatile_share,
        )
    held = portfolio.current_allocations()[Bucket.TACTICAL]
    notes: list[str] = []
    if not exposure_known:
        targets = _hold_tactical(targets, held)
        notes.append("no MVRV seen yet: BTC/ETH held as they are")
    if cooling and blocked_until is not None:
        targets = _cap_tactical(targets, held)
        notes.append(f"no BTC/ETH buys until {blocked_until.isoformat()} (cooldown after an exit)")
    drift = reachable_drift(portfolio, targets, config.planner)
    due = force or (not hold and rebalance_due(drift, config.drift_band, threshold_crossed))
    venues = sweep_venues(config, context)
    if not due and venues:
        sweep = planner(
            portfolio,
            targets,
            prices=prices,
            plan_id=plan_id,
            now=now,
            config=config.planner,
            max_slippage=max_slippage,
            risk_level=risk_level,
            sweep_venues=venues,
            sweep_only=True,
        )
        if sweep.traded_notional_usd >= config.drift_band * portfolio.total_value_usd:
            verdict = policy(sweep, portfolio, context, config.limits)
            if deviation is not None:
                verdict = with_verdict(verdict, deviation)
            return Proposal(
                plan=sweep,
                verdict=verdict,
                rebalance_due=False,
                black_swan=None,
                reason="; ".join(
                    [
                        f"largest drift {drift.max_abs():.4f} is within the band "
                        f"{config.drift_band}; {sweep.notes[-1]}",
                        *notes,
                    ]
                ),
                targets=targets,
                deviation=deviation,
            )
    if not due:
        return Proposal(
            plan=None,
            verdict=None,
            rebalance_due=False,
            black_swan=None,
            reason="; ".join(
                [
                    f"largest drift {drift.max_abs():.4f} is within the band {config.drift_band}",
                    *notes,
                ]
            ),
            targets=targets,
            deviation=deviation,
        )
    plan = planner(
        portfolio,
        targets,
        prices=prices,
        plan_id=plan_id,
        now=now,
        config=config.planner,
        max_slippage=max_slippage,
        risk_level=risk_level,
        sweep_venues=venues,
    )
    verdict = policy(plan, portfolio, context, config.limits)
    if deviation is not None:
        verdict = with_verdict(verdict, deviation)
    why = "forced" if force else ("threshold crossed" if threshold_crossed else "drift beyond band")
    return Proposal(
        plan=plan,
        verdict=verdict,
        rebalance_due=True,
        black_swan=None,
        reason="; ".join([why, *notes]),
        targets=targets,
        deviation=deviation,
    )
