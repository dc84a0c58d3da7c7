"""The safety policy: every limit of the spec as a named rule, all evaluated every time.

Each rule returns a RuleVerdict(rule, passed, limit, actual, severity). A failed `hard` rule
rejects the plan; a failed `approval` rule sends it to a human. The policy never raises on
valid input and always returns every verdict, not just the first failure.

Black-swan exit plans (automatic, per the spec) skip the approval rules (per move and in
total), the trades-per-day cap and the slippage budget, so that nothing delays an exit; the
emergency stop, the circuit breaker, the gas cap and every position limit still apply. A
position limit never rejects a plan that does not make the breach worse (see
`single_position_cap` and `volatile_cap`).

Only a black swan the policy itself was shown (`SafetyContext.black_swan`, set by the strategy
from market data) earns those waivers; a plan's label earns nothing. An exit without a detected
black swan (the advisor asked for one) obeys every limit and always waits for a human. Whatever
triggered it, an exit may only sell volatile assets into a stablecoin on its peg; anything else
is rejected (`exit_only_sells_volatile`, `exit_into_stablecoin_on_peg`). After an exit, no plan
may buy volatile assets until the re-entry cooldown is over (`reentry_cooldown`).

One rule judges the advice rather than the plan: `advisor_deviation` (`max_advisor_deviation`)
bounds the advisor's targets by the rule-based signal's before anything is planned. Its verdict
has the `adjusted` severity: when it clamps, it is listed among the reasons (`CLAMPED`) but
neither rejects the plan nor asks a human, since the plan was built from the clamped targets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from domain.allocation import TargetAllocations
from domain.budget import SlippageBudget, SlippageBudgetState, slippage_used
from domain.errors import InvalidValue
from domain.market import STABLECOINS, VOLATILE_ASSETS, MarketData
from domain.money import (
    ONE,
    ZERO,
    require_aware,
    require_fraction,
    require_no_floats,
    require_non_negative,
)
from domain.plans import APPROVAL_THRESHOLD_USD, PlanKind, RebalancingPlan, TransactionType
from domain.portfolio import PortfolioState
from domain.projection import Projection, holdings_of, project

DEFAULT_RISK_SCORES: Mapping[str, int] = MappingProxyType(
    {"aave": 2, "curve": 3, "pendle": 4, "oneinch": 3, "wallet": 0}
)


class Severity(StrEnum):
    """What a failed rule means: reject the plan, or ask a human."""

    HARD = "hard"
    APPROVAL = "approval"
    ADJUSTED = "adjusted"
    """The input was clamped to the limit and the plan built from the clamped input: it is
    recorded among the reasons but neither rejects the plan nor asks a human."""


class Outcome(StrEnum):
    """The policy's answer for a plan."""

    ALLOWED = "allowed"
    NEEDS_APPROVAL = "needs_approval"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class SafetyLimits:
    """Every limit, configurable; defaults are the spec's numbers plus two protections."""

    max_volatile_share: Decimal = Decimal("0.40")
    max_single_position_share: Decimal = Decimal("0.25")
    min_protocol_tvl_usd: Decimal = Decimal(10_000_000)
    max_protocol_risk_score: int = 5
    protocol_risk_scores: Mapping[str, int] = field(default_factory=lambda: DEFAULT_RISK_SCORES)
    approval_threshold_usd: Decimal = APPROVAL_THRESHOLD_USD
    max_trades_per_day: int = 10
    gas_price_cap_gwei: Decimal = Decimal(100)
    black_swan_drop_24h: Decimal = Decimal("0.20")
    # Off (None) by default: an implied-volatility spike is an early warning, not the spec's rule.
    black_swan_iv_spike_24h: Decimal | None = None
    depeg_tolerance: Decimal = Decimal("0.02")
    slippage_budget: SlippageBudget = field(default_factory=SlippageBudget)
    circuit_breaker_failures: int = 3
    exit_stablecoins: tuple[str, ...] = ("USDC", "USDT", "DAI")
    reentry_cooldown: timedelta = timedelta(hours=72)
    max_advisor_deviation: Decimal = Decimal("0.10")

    def __post_init__(self) -> None:
        require_no_floats(self)
        require_fraction(self.max_volatile_share, "max_volatile_share")
        require_fraction(self.max_advisor_deviation, "max_advisor_deviation")
        require_fraction(self.max_single_position_share, "max_single_position_share")
        require_fraction(self.black_swan_drop_24h, "black_swan_drop_24h")
        spike = self.black_swan_iv_spike_24h
        if spike is not None and spike <= 0:
            raise InvalidValue("black_swan_iv_spike_24h", spike, "must be positive")
        require_fraction(self.depeg_tolerance, "depeg_tolerance")
        require_non_negative(self.min_protocol_tvl_usd, "min_protocol_tvl_usd")
        require_non_negative(self.approval_threshold_usd, "approval_threshold_usd")
        require_non_negative(self.gas_price_cap_gwei, "gas_price_cap_gwei")
        for name in ("max_trades_per_day", "circuit_breaker_failures", "max_protocol_risk_score"):
            if getattr(self, name) < 0:
                raise InvalidValue(name, getattr(self, name), "must not be negative")
        if not self.exit_stablecoins:
            raise InvalidValue("exit_stablecoins", self.exit_stablecoins, "name at least one")
        unknown = [a for a in self.exit_stablecoins if a.upper() not in STABLECOINS]
        if unknown:
            raise InvalidValue("exit_stablecoins", unknown, "must be stablecoins")
        if self.reentry_cooldown < timedelta(0):
            raise InvalidValue("reentry_cooldown", self.reentry_cooldown, "must not be negative")
        object.__setattr__(
            self, "protocol_risk_scores", MappingProxyType(dict(self.protocol_risk_scores))
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SafetyContext:
    """What the policy needs to know besides the plan: flags, counters and outside facts.

    `base_fee_gwei` None means unknown now; the executor checks the cap again at send time.
    `protocol_tvl_usd` maps protocol name to TVL; a protocol missing from it has unknown TVL.
    `black_swan` is the black swan detected in the market data now (None: none detected); only
    it waives limits for an exit. `stablecoin_prices` are the stablecoin prices the market data
    shows (an empty mapping shows none). `reentry_blocked_until` is the end of the cooldown after
    an exit, during which no plan may buy volatile assets (None: no cooldown).
    """

    now: datetime
    emergency_stop: bool = False
    trades_today: int = 0
    base_fee_gwei: Decimal | None = None
    protocol_tvl_usd: Mapping[str, Decimal] = field(default_factory=dict)
    slippage_state: SlippageBudgetState = field(default_factory=SlippageBudgetState)
    consecutive_failures: int = 0
    black_swan: BlackSwan | None = None
    stablecoin_prices: Mapping[str, Decimal] = field(default_factory=dict)
    reentry_blocked_until: datetime | None = None

    def __post_init__(self) -> None:
        require_no_floats(self)
        require_aware(self.now, "now")
        if self.trades_today < 0:
            raise InvalidValue("trades_today", self.trades_today, "must not be negative")
        if self.reentry_blocked_until is not None:
            require_aware(self.reentry_blocked_until, "reentry_blocked_until")
        object.__setattr__(self, "protocol_tvl_usd", MappingProxyType(dict(self.protocol_tvl_usd)))
        object.__setattr__(
            self,
            "stablecoin_prices",
            MappingProxyType({k.upper(): v for k, v in self.stablecoin_prices.items()}),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleVerdict:
    """One rule's answer: whether it passed, against what limit, with what actual value."""

    rule: str
    passed: bool
    limit: str
    actual: str
    severity: Severity
    message: str

    @property
    def reason(self) -> str:
        """A line a human can read: the rule, and why it failed or passed."""
        if self.passed:
            state = "ok"
        else:
            state = "CLAMPED" if self.severity is Severity.ADJUSTED else "FAILED"
        return f"{self.rule} {state}: {self.message} (limit {self.limit}, actual {self.actual})"


@dataclass(frozen=True, slots=True, kw_only=True)
class SafetyVerdict:
    """The policy's answer with every rule's verdict and the projected portfolio."""

    outcome: Outcome
    verdicts: tuple[RuleVerdict, ...]
    projection: Projection

    @property
    def failures(self) -> tuple[RuleVerdict, ...]:
        """The rules that failed."""
        return tuple(v for v in self.verdicts if not v.passed)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the plan was rejected or needs approval, and what was clamped (see Severity)."""
        return tuple(v.reason for v in self.failures)

    @property
    def allowed(self) -> bool:
        """Whether the plan may execute without a human."""
        return self.outcome is Outcome.ALLOWED


@dataclass(frozen=True, slots=True, kw_only=True)
class _Inputs:
    plan: RebalancingPlan
    before: PortfolioState
    after: Projection
    context: SafetyContext
    limits: SafetyLimits

    @property
    def is_exit(self) -> bool:
        return self.plan.kind is PlanKind.EMERGENCY_EXIT

    @property
    def waived(self) -> bool:
        """Whether this is the automatic black-swan exit: an exit while a black swan is detected."""
        return self.is_exit and self.context.black_swan is not None


def _pct(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.01'))}%"


def _verdict(
    rule: str,
    passed: bool,
    limit: str,
    actual: str,
    message: str,
    severity: Severity = Severity.HARD,
) -> RuleVerdict:
    return RuleVerdict(
        rule=rule, passed=passed, limit=limit, actual=actual, severity=severity, message=message
    )


def emergency_stop(i: _Inputs) -> RuleVerdict:
    """No plan runs while the emergency stop is on."""
    on = i.context.emergency_stop
    return _verdict(
        "emergency_stop",
        not on or i.plan.is_empty,
        "off",
        "on" if on else "off",
        "the emergency stop blocks every plan until a human resumes" if on else "not engaged",
    )


def circuit_breaker(i: _Inputs) -> RuleVerdict:
    """After N consecutive failed executions nothing runs until a human resumes."""
    failures = i.context.consecutive_failures
    limit = i.limits.circuit_breaker_failures
    tripped = failures >= limit
    return _verdict(
        "circuit_breaker",
        not tripped or i.plan.is_empty,
        f"< {limit} consecutive failures",
        str(failures),
        "tripped: resume after investigating the failures" if tripped else "closed",
    )


def volatile_cap(i: _Inputs) -> RuleVerdict:
    """At most 40 % of the treasury in volatile assets after the plan (hard).

    As with the single-position cap, a plan is never rejected for not curing a breach it found:
    when the share was already above the cap before the plan (a market move took it there), the
    plan passes if it leaves the share no higher than before. A large position may take several
    cycles to sell within the slippage bound; rejecting the first slices would keep the breach.
    A plan that leaves the BTC/ETH holdings untouched (a Pendle roll) does not make it worse
    either, though its gas and slippage shrink the total and so lift the share by a hair.
    """
    share = i.after.volatile_share
    cap = i.limits.max_volatile_share
    total_before = i.before.total_value_usd
    before = i.before.volatile_value() / total_before if total_before > 0 else ZERO
    untouched = i.after.volatile_value == i.before.volatile_value()
    not_worse = before > cap and (share <= before or untouched)
    return _verdict(
        "max_volatile_share",
        share <= cap or not_worse,
        _pct(cap),
        _pct(share),
        f"already above the cap before the plan ({_pct(before)}), which does not add to it"
        if share > cap and not_worse
        else "volatile assets (BTC/ETH) after the plan",
    )


def single_position_cap(i: _Inputs) -> RuleVerdict:
    """No single position above 25 % of the treasury after the plan (cash is not a position).

    A plan is never rejected by a cap it does not make worse: a position that was already above
    the cap before the plan (a market move took it there) passes when the plan does not add to
    it, that is when its value after the plan is no more than before. A black-swan exit only
    sells volatile assets into cash, so a stable position that drifted above the cap in the
    crash never blocks it, nor one that the exit's own slippage lifts above the cap by shrinking
    the total. Otherwise a position the plan takes above the cap, or grows while above it, fails.
    """
    cap = i.limits.max_single_position_share
    before_values = holdings_of(i.before)
    before_shares = i.before.position_shares()
    after_shares = i.after.position_shares()
    breaching = sorted(
        ((key, share) for key, share in after_shares.items() if share > cap),
        key=lambda item: (-item[1], item[0]),
    )
    # An exit's slippage (percents, on a large treasury) shrinks the total and may lift a
    # position it does not touch over the cap; that must not hold the exit back.
    offending = [
        (key, share)
        for key, share in breaching
        if (before_shares.get(key, ZERO) <= cap and not i.is_exit)
        or i.after.values[key] > before_values.get(key, ZERO)
    ]
    key, share = i.after.largest_position
    if offending:
        message = "above the cap after the plan: " + ", ".join(
            f"{k[0]} {k[1]} ({_pct(s)})" for k, s in offending
        )
    elif breaching:
        found = all(before_shares[k] > cap for k, _ in breaching)
        message = (
            "already above the cap before the plan, which does not add to it: "
            if found
            else "above the cap after the exit's costs, which does not add to it: "
        ) + ", ".join(
            f"{k[0]} {k[1]} ({_pct(before_shares[k])} before, {_pct(s)} after)"
            for k, s in breaching
        )
    else:
        message = "largest position after the plan: " + (f"{key[0]} {key[1]}" if key else "none")
    return _verdict("max_single_position_share", not offending, _pct(cap), _pct(share), message)


def _deposit_protocols(plan: RebalancingPlan) -> list[str]:
    return sorted(
        {t.protocol for t in plan.required_transactions if t.tx_type is TransactionType.DEPOSIT}
    )


def protocol_tvl_floor(i: _Inputs) -> RuleVerdict:
    """Only deposit into protocols with TVL of at least $10M; unknown TVL fails."""
    floor = i.limits.min_protocol_tvl_usd
    short: list[str] = []
    lowest: Decimal | None = None
    for protocol in _deposit_protocols(i.plan):
        tvl = i.context.protocol_tvl_usd.get(protocol)
        if tvl is None:
            short.append(f"{protocol} (TVL unknown)")
            continue
        lowest = tvl if lowest is None else min(lowest, tvl)
        if tvl < floor:
            short.append(f"{protocol} (${tvl:,.0f})")
    return _verdict(
        "min_protocol_tvl",
        not short,
        f"${floor:,.0f}",
        "n/a"
        if lowest is None and not short
        else ("unknown" if lowest is None else f"${lowest:,.0f}"),
        "below the floor: " + ", ".join(short) if short else "every deposit protocol clears it",
    )


def protocol_risk_score(i: _Inputs) -> RuleVerdict:
    """Only deposit into protocols whose risk score is at most 5/10; unscored protocols fail."""
    cap = i.limits.max_protocol_risk_score
    worst = 0
    bad: list[str] = []
    for protocol in _deposit_protocols(i.plan):
        score = i.limits.protocol_risk_scores.get(protocol)
        if score is None:
            bad.append(f"{protocol} (unscored)")
            continue
        worst = max(worst, score)
        if score > cap:
            bad.append(f"{protocol} ({score}/10)")
    return _verdict(
        "max_protocol_risk_score",
        not bad,
        f"{cap}/10",
        f"{worst}/10",
        "too risky: " + ", ".join(bad) if bad else "every deposit protocol is within the score",
    )


def _within_approval_limit(
    i: _Inputs, rule: str, usd: Decimal, per: str, measured: str
) -> RuleVerdict:
    """`usd` at most the approval limit passes; above it a human must approve.

    Waived for the black-swan exit.
    """
    limit = i.limits.approval_threshold_usd
    return _verdict(
        rule,
        i.waived or usd <= limit,
        f"${limit:,.0f} per {per}",
        f"${usd:,.2f}",
        "black-swan exit is automatic" if i.waived else measured,
        Severity.APPROVAL,
    )


def approval_threshold(i: _Inputs) -> RuleVerdict:
    """A single move above $50K needs a human (waived for the black-swan exit)."""
    return _within_approval_limit(
        i, "approval_threshold", i.plan.largest_move_usd, "move", "largest single move"
    )


def approval_total(i: _Inputs) -> RuleVerdict:
    """A plan that trades more than $50K in total needs a human (waived for the black-swan exit).

    The single-move rule alone is dodged by splitting: five legs of $24K move $120K. The total
    is every swap plus the larger of withdrawals and deposits (`domain.plans`), the same measure
    the planner uses for the plan's `requires_approval`.
    """
    return _within_approval_limit(
        i, "approval_total", i.plan.traded_notional_usd, "plan", "value the plan trades in total"
    )


def trades_per_day(i: _Inputs) -> RuleVerdict:
    """At most 10 trades per UTC day, counting this plan (waived for the black-swan exit)."""
    after = i.context.trades_today + len(i.plan.required_transactions)
    limit = i.limits.max_trades_per_day
    return _verdict(
        "max_trades_per_day",
        i.waived or after <= limit,
        str(limit),
        str(after),
        "trades today including this plan",
    )


def gas_price_cap(i: _Inputs) -> RuleVerdict:
    """No plan while the base fee is above 100 gwei; unknown now is checked again at send time."""
    fee = i.context.base_fee_gwei
    cap = i.limits.gas_price_cap_gwei
    passed = fee is None or fee <= cap or i.plan.is_empty
    return _verdict(
        "gas_price_cap",
        passed,
        f"{cap} gwei",
        "unknown" if fee is None else f"{fee} gwei",
        "unknown now; the executor checks it again before sending"
        if fee is None
        else "current base fee",
    )


def slippage_budget(i: _Inputs) -> RuleVerdict:
    """Cumulative slippage stays within 1 % of the treasury per 7 days (linear refill)."""
    budget = i.limits.slippage_budget
    total = i.before.total_value_usd
    used = slippage_used(i.context.slippage_state, budget, total, i.context.now)
    after = used + i.plan.estimated_slippage
    capacity = budget.capacity(total)
    return _verdict(
        "slippage_budget",
        i.waived or after <= capacity,
        f"${capacity:,.2f} per {budget.period.days} days",
        f"${after:,.2f}",
        "slippage used including this plan",
    )


def balances_stay_positive(i: _Inputs) -> RuleVerdict:
    """Every step is funded by the ones before it: no balance ever goes below zero."""
    lowest = min(i.after.lowest_cash, i.after.lowest_position)
    return _verdict(
        "no_negative_balance",
        lowest >= ZERO,
        "$0",
        f"${lowest:,.2f}",
        "lowest cash or position balance during the plan",
    )


def exit_only_sells_volatile(i: _Inputs) -> RuleVerdict:
    """An exit only swaps volatile assets (BTC/ETH) into stablecoins; its label proves nothing.

    A plan called an exit gets an exit's treatment (and, in a black swan, its waivers), so what
    it does is checked step by step: a step that buys, deposits, withdraws or swaps into
    anything but a stablecoin rejects the plan.
    """
    if not i.is_exit:
        return _verdict(
            "exit_only_sells_volatile", True, "volatile -> stablecoin", "n/a", "not an exit"
        )
    wrong = [
        t.describe()
        for t in i.plan.required_transactions
        if t.tx_type is not TransactionType.SWAP
        or t.from_asset.upper() not in VOLATILE_ASSETS
        or t.to_asset.upper() not in STABLECOINS
    ]
    return _verdict(
        "exit_only_sells_volatile",
        not wrong,
        "volatile -> stablecoin swaps only",
        f"{len(wrong)} other step(s)",
        "an exit may not: " + "; ".join(wrong) if wrong else "every step sells BTC/ETH",
    )


def exit_into_stablecoin_on_peg(i: _Inputs) -> RuleVerdict:
    """An exit sells into a stablecoin the market data shows on its peg.

    The healthy coins are those of `exit_stablecoins` whose price the market data shows within
    the depeg tolerance. An exit into any other coin is rejected while a healthy one exists; when
    none does (every stablecoin shown is off its peg), the exit cannot be automatic and waits
    for a human. When the market data shows no stablecoin price at all, no coin is known to be
    off its peg, the same assumption the black-swan detector makes, and the exit passes.
    """
    rule = "exit_into_stablecoin_on_peg"
    tolerance = i.limits.depeg_tolerance
    limit = f"within {_pct(tolerance)} of $1"
    if not i.is_exit:
        return _verdict(rule, True, limit, "n/a", "not an exit")
    prices = i.context.stablecoin_prices
    targets = sorted({t.to_asset.upper() for t in i.plan.required_transactions})
    shown = ", ".join(f"{a} ${prices[a]}" if a in prices else f"{a} unpriced" for a in targets)
    if not prices:
        return _verdict(rule, True, limit, shown or "none", "no stablecoin is shown off its peg")
    healthy = [
        a.upper()
        for a in i.limits.exit_stablecoins
        if a.upper() in prices and abs(prices[a.upper()] - 1) <= tolerance
    ]
    bad = [a for a in targets if a not in healthy]
    if not bad:
        return _verdict(rule, True, limit, shown or "none", "sells into a stablecoin on its peg")
    if healthy:
        return _verdict(
            rule,
            False,
            limit,
            shown,
            f"sells into {', '.join(bad)} while {', '.join(healthy)} is on its peg",
        )
    return _verdict(
        rule,
        False,
        limit,
        shown,
        "no stablecoin is shown on its peg: a human chooses where the exit goes",
        Severity.APPROVAL,
    )


def automatic_exit_needs_black_swan(i: _Inputs) -> RuleVerdict:
    """Only a detected black swan makes an exit automatic; any other exit waits for a human.

    The advisor may ask for an exit in a calm market; that is an ordinary plan, judged by every
    limit, and a human decides.
    """
    detected = i.context.black_swan is not None
    needs_human = i.is_exit and not detected and not i.plan.is_empty
    return _verdict(
        "automatic_exit_needs_black_swan",
        not needs_human,
        "a detected black swan",
        "detected" if detected else "none detected",
        "an exit without a detected black swan waits for a human"
        if needs_human
        else ("not an exit" if not i.is_exit else "black-swan exit"),
        Severity.APPROVAL,
    )


def reentry_cooldown(i: _Inputs) -> RuleVerdict:
    """No plan buys volatile assets during the cooldown after an exit (a human may lift it)."""
    until = i.context.reentry_blocked_until
    cooling = until is not None and i.context.now < until
    buying = sorted(
        {t.to_asset for t in i.plan.required_transactions if t.to_asset.upper() in VOLATILE_ASSETS}
    )
    return _verdict(
        "reentry_cooldown",
        not (cooling and buying),
        "no BTC/ETH buys until " + (until.isoformat() if until is not None else "n/a"),
        ("buys " + ", ".join(buying)) if buying else "no BTC/ETH buys",
        "cooling down after an exit" if cooling else "no cooldown in force",
    )


RULES: tuple[Callable[[_Inputs], RuleVerdict], ...] = (
    emergency_stop,
    circuit_breaker,
    volatile_cap,
    single_position_cap,
    protocol_tvl_floor,
    protocol_risk_score,
    trades_per_day,
    gas_price_cap,
    slippage_budget,
    balances_stay_positive,
    exit_only_sells_volatile,
    exit_into_stablecoin_on_peg,
    reentry_cooldown,
    approval_threshold,
    approval_total,
    automatic_exit_needs_black_swan,
)


def evaluate(
    plan: RebalancingPlan,
    portfolio: PortfolioState,
    context: SafetyContext,
    limits: SafetyLimits = SafetyLimits(),
) -> SafetyVerdict:
    """Evaluate every rule against the plan's projected outcome and return all verdicts."""
    after = project(portfolio, plan)
    inputs = _Inputs(plan=plan, before=portfolio, after=after, context=context, limits=limits)
    verdicts = tuple(rule(inputs) for rule in RULES)
    return SafetyVerdict(outcome=outcome_of(verdicts), verdicts=verdicts, projection=after)


def outcome_of(verdicts: tuple[RuleVerdict, ...]) -> Outcome:
    """Rejected if a hard rule failed, else needs approval if an approval rule failed."""
    if any(not v.passed and v.severity is Severity.HARD for v in verdicts):
        return Outcome.REJECTED
    if any(not v.passed and v.severity is Severity.APPROVAL for v in verdicts):
        return Outcome.NEEDS_APPROVAL
    return Outcome.ALLOWED


def with_verdict(verdict: SafetyVerdict, extra: RuleVerdict) -> SafetyVerdict:
    """The policy's answer with one more rule's verdict, judged again."""
    verdicts = (extra, *verdict.verdicts)
    return SafetyVerdict(
        outcome=outcome_of(verdicts), verdicts=verdicts, projection=verdict.projection
    )


def _points(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.01'))} points"


_BUCKETS = ("base_yield", "tactical", "cash")


def advisor_deviation(
    advice: TargetAllocations,
    signal: TargetAllocations,
    limit: Decimal,
    volatile_cap: Decimal | None = None,
) -> tuple[TargetAllocations, RuleVerdict]:
    """The advisor's targets bounded by the quant signal: no bucket more than `limit` from it.

    Advice beyond the limit is moved along the straight line toward the signal's targets
    (advice + k x (signal - advice), with the smallest k that brings every bucket within the
    limit). Both sum to one, so the result does too, and every bucket ends between the advice
    and the signal: what the advice takes beyond the limit goes back to the buckets the signal
    chose, never to idle cash by accident. With `volatile_cap` (the planner's), a tactical
    target above the cap is moved back the same way until it is at the cap, when the signal's
    own tactical target is within it: the planner would otherwise cut it to the cap and leave
    the cut in idle cash. The verdict names each bucket's advice, result and signal; its
    severity is `adjusted` (the plan follows the clamped targets).
    """
    gaps = {bucket: getattr(advice, bucket) - getattr(signal, bucket) for bucket in _BUCKETS}
    worst = max(gaps, key=lambda b: (abs(gaps[b]), b))
    largest = abs(gaps[worst])
    limit_text = f"{_points(limit)} per bucket"
    actual = f"{_points(largest)} ({worst})"
    keep, pinned, why = _departure_kept(signal, gaps, worst, limit, volatile_cap)
    if pinned is None:
        return advice, _verdict(
            "max_advisor_deviation",
            True,
            limit_text,
            actual,
            "the advice is within the limit of the signal's targets",
            Severity.ADJUSTED,
        )
    clamped = _moved_toward(signal, gaps, keep, pinned)
    described = ", ".join(
        f"{b} {_pct(getattr(advice, b))} -> {_pct(getattr(clamped, b))} "
        f"(signal {_pct(getattr(signal, b))})"
        for b in _BUCKETS
        if gaps[b] != 0
    )
    return clamped, _verdict(
        "max_advisor_deviation",
        False,
        limit_text,
        actual,
        f"{why}: {described}",
        Severity.ADJUSTED,
    )


def _departure_kept(
    signal: TargetAllocations,
    gaps: Mapping[str, Decimal],
    worst: str,
    limit: Decimal,
    volatile_cap: Decimal | None,
) -> tuple[Decimal, tuple[str, Decimal] | None, str]:
    """The share of the advice's departure from the signal that is kept, and why.

    Also the bucket pinned exactly on its bound, with that bound (None: the advice stands).
    """
    pinned: tuple[str, Decimal] | None = None
    keep = ONE
    why = "advice clamped toward the signal's targets"
    largest = abs(gaps[worst])
    if largest > limit:
        keep = limit / largest
        pinned = (worst, getattr(signal, worst) + (limit if gaps[worst] > 0 else -limit))
    if (
        volatile_cap is not None
        and signal.tactical <= volatile_cap < signal.tactical + gaps["tactical"] * keep
    ):
        keep = (volatile_cap - signal.tactical) / gaps["tactical"]
        pinned = ("tactical", volatile_cap)
        why = (
            f"advice clamped toward the signal's targets to the volatile cap ({_pct(volatile_cap)})"
        )
    return keep, pinned, why


def _moved_toward(
    signal: TargetAllocations,
    gaps: Mapping[str, Decimal],
    keep: Decimal,
    pinned: tuple[str, Decimal],
) -> TargetAllocations:
    """The signal's targets plus `keep` of the advice's departure from them.

    The binding bucket lands exactly on its bound; another bucket takes the rounding.
    """
    moved = {b: getattr(signal, b) + gap * keep for b, gap in gaps.items()}
    moved[pinned[0]] = pinned[1]
    last = next(b for b in ("cash", "base_yield") if b != pinned[0])
    moved[last] = max(ZERO, ONE - sum((v for b, v in moved.items() if b != last), ZERO))
    return TargetAllocations(**moved)


@dataclass(frozen=True, slots=True, kw_only=True)
class BlackSwan:
    """Why the market counts as a black swan now."""

    reasons: tuple[str, ...]


def detect_black_swan(
    market: MarketData, limits: SafetyLimits = SafetyLimits()
) -> BlackSwan | None:
    """BTC or ETH down 20 % in 24 h, or a stablecoin more than 2 % off its peg.

    When `black_swan_iv_spike_24h` is set (it is off by default), an implied-volatility index
    (Deribit DVOL) of BTC or ETH up by at least that fraction in 24 h counts too: options
    traders often price a crash before the spot price shows it. An unknown IV never counts.
    """
    reasons: list[str] = []
    drop = limits.black_swan_drop_24h
    for name, change in (("BTC", market.btc_change_24h), ("ETH", market.eth_change_24h)):
        if change is not None and change <= -drop:
            reasons.append(f"{name} {_pct(change)} in 24 h (limit -{_pct(drop)})")
    spike = limits.black_swan_iv_spike_24h
    if spike is not None:
        for name, iv_change in (
            ("BTC", market.btc_iv_change_24h),
            ("ETH", market.eth_iv_change_24h),
        ):
            if iv_change is not None and iv_change >= spike:
                reasons.append(
                    f"{name} implied volatility +{_pct(iv_change)} in 24 h "
                    f"(early-warning limit +{_pct(spike)})"
                )
    for asset, price in sorted(market.stablecoin_prices.items()):
        if asset.upper() in STABLECOINS and abs(price - 1) > limits.depeg_tolerance:
            reasons.append(
                f"{asset} at ${price} is off its peg by more than {_pct(limits.depeg_tolerance)}"
            )
    return BlackSwan(reasons=tuple(reasons)) if reasons else None
