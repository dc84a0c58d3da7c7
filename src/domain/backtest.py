"""The backtester: replay daily history through the very decision code that trades live.

Each day, in order:
1. Revalue: yield positions accrue their APY for the days since the last observation, and
   BTC/ETH holdings are marked at today's close.
2. Fill: orders decided earlier and due today are executed at today's price (a plan decided on
   day d fills at the next observation; one that needs approval waits `approval_delay_days`
   more observations, or is dropped when approvals are denied).
3. Record the equity of the strategy and of the baselines at today's prices.
4. Decide: today's MarketData holds today's prices, Fear & Greed and funding, and MVRV Z from
   `mvrv_lag_days` observations earlier (Glassnode publishes a day late). `generate_signal`
   gives the targets and the next ratchet state (the rules advisor's targets are the
   signal's); `propose` checks black swans and drift, calls the planner and the safety policy.
   While an order is waiting no new plan is proposed, but the signal and ratchet move daily.

Nothing here reads a row later than the day being decided, so past decisions cannot depend on
future data; the unit tests prove it by perturbing future rows.

Costs: gas is a flat USD amount per transaction (the planner sees it through its gas units,
priced so that each step costs exactly `gas_usd_per_tx`); swap fees plus price impact and the
protocols' entry slippage come from the planner's size-dependent model and are charged at fill
time on the executed amount. BTC/ETH buy-and-hold, static yield and the static 60/40 split
are computed in the same pass, without costs.

The replay runs in `domain.precision.MATHS_CONTEXT`, so its figures are the same in a process
whose ambient decimal context was changed (importing vyper sets 78 digits).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType

from domain.baselines import STATIC_YIELD_APY
from domain.budget import SlippageBudgetState, consume_slippage
from domain.errors import InvalidValue
from domain.history import DailyObservation
from domain.market import MarketData, MarketPhase
from domain.money import ONE, ZERO, require_fraction, require_non_negative
from domain.planner import (
    PlannerConfig,
    PlanningPrices,
    TacticalAsset,
    plan_rebalance,
)
from domain.plans import PlanKind, RebalancingPlan, Transaction, TransactionType
from domain.portfolio import WALLET, PortfolioState, Position
from domain.precision import in_maths_context
from domain.safety import Outcome, SafetyContext, SafetyVerdict, evaluate
from domain.signals import AllocationSignal, generate_signal
from domain.strategy import Proposal, StrategyConfig, propose
from domain.tactical import RatchetState

DAYS_PER_YEAR = 365
# Each planned step is priced at `gas_usd_per_tx` by giving it 1e9 gas units at that many
# gwei with "ETH" at $1: 1e9 x gwei x 1e-9 x 1 = gas_usd_per_tx, exactly.
_FLAT_GAS_UNITS = 1_000_000_000
_GAS_REFERENCE_ETH_USD = ONE
SPEC_STATIC_APY = STATIC_YIELD_APY
SIX_MONTHS_DAYS = 182


class OrderOutcome(StrEnum):
    """What became of one proposed plan."""

    FILLED = "filled"
    AWAITING_APPROVAL = "awaiting_approval"
    DENIED = "denied"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestCosts:
    """Cost and yield assumptions; defaults follow the spec (6.5 % base yield)."""

    gas_usd_per_tx: Decimal = Decimal(5)
    swap_fee: Decimal = Decimal("0.0005")
    swap_impact_per_million_usd: Decimal = Decimal("0.001")
    protocol_apy: Mapping[str, Decimal] = field(
        default_factory=lambda: {
            "aave": SPEC_STATIC_APY,
            "pendle": SPEC_STATIC_APY,
            "curve": SPEC_STATIC_APY,
        }
    )
    # Historical TVL is not replayed; the policy sees every venue at this TVL.
    assumed_protocol_tvl_usd: Decimal = Decimal(1_000_000_000)

    def __post_init__(self) -> None:
        require_non_negative(self.gas_usd_per_tx, "gas_usd_per_tx")
        require_fraction(self.swap_fee, "swap_fee")
        require_non_negative(self.swap_impact_per_million_usd, "swap_impact_per_million_usd")
        for protocol, apy in self.protocol_apy.items():
            if apy <= -1:
                raise InvalidValue(f"protocol_apy[{protocol}]", apy, "must be above -100 %")
        object.__setattr__(self, "protocol_apy", MappingProxyType(dict(self.protocol_apy)))


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestConfig:
    """A backtest run: capital, strategy, costs, approvals and the baselines' yield."""

    capital: Decimal
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    costs: BacktestCosts = field(default_factory=BacktestCosts)
    approval_delay_days: int = 1
    deny_approvals: bool = False
    mvrv_lag_days: int = 1
    static_apy: Decimal = SPEC_STATIC_APY

    def __post_init__(self) -> None:
        if self.capital <= 0:
            raise InvalidValue("capital", self.capital, "must be positive")
        if self.approval_delay_days < 0:
            raise InvalidValue("approval_delay_days", self.approval_delay_days, "must be >= 0")
        if self.mvrv_lag_days < 0:
            raise InvalidValue("mvrv_lag_days", self.mvrv_lag_days, "must be >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionRecord:
    """One proposed plan: when it was decided, what the policy said, and what became of it."""

    day: date
    plan_id: str
    reason: str
    outcome: OrderOutcome
    policy_outcome: Outcome
    emergency_exit: bool
    planned_usd: Decimal
    policy_reasons: tuple[str, ...]
    fills_on: date | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """One executed transaction at the fill day's price."""

    day: date
    decided_on: date
    plan_id: str
    tx_type: TransactionType
    from_asset: str
    to_asset: str
    amount_usd: Decimal
    gas_usd: Decimal
    slippage_usd: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestResult:
    """Day-by-day equity of the strategy and the baselines, with every decision and fill."""

    days: tuple[date, ...]
    equity: tuple[Decimal, ...]
    volatile_usd: tuple[Decimal, ...]
    baselines: Mapping[str, tuple[Decimal, ...]]
    phases: tuple[MarketPhase, ...]
    exposures: tuple[Decimal, ...]
    decisions: tuple[DecisionRecord, ...]
    fills: tuple[Fill, ...]
    tactical_assets: tuple[str, ...]
    final_ratchet: RatchetState

    @property
    def gas_paid_usd(self) -> Decimal:
        """Gas spent on every fill."""
        return sum((f.gas_usd for f in self.fills), ZERO)

    @property
    def slippage_paid_usd(self) -> Decimal:
        """Swap fees, price impact and entry slippage paid on every fill."""
        return sum((f.slippage_usd for f in self.fills), ZERO)

    def phase_days(self) -> dict[MarketPhase, int]:
        """How many days the signal spent in each phase."""
        counts = {p: 0 for p in MarketPhase}
        for phase in self.phases:
            counts[phase] += 1
        return counts


DayCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionFunctions:
    """The live decision code the loop calls; tests pass wrapped versions to count calls."""

    signal: Callable[..., tuple[AllocationSignal, RatchetState]] = generate_signal
    propose: Callable[..., Proposal] = propose
    planner: Callable[..., RebalancingPlan] = plan_rebalance
    policy: Callable[..., SafetyVerdict] = evaluate


LIVE_DECISIONS = DecisionFunctions()


@dataclass(slots=True)
class _Order:
    plan: RebalancingPlan
    decided_on: date
    fills_at: int


@dataclass(slots=True)
class _Book:
    """Mutable holdings during the replay: USD cash, asset units, USD in yield positions."""

    cash: Decimal
    units: dict[str, Decimal]
    deposits: dict[tuple[str, str], Decimal]
    entered_at: datetime


def _at(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def tactical_assets_for(observations: Sequence[DailyObservation]) -> tuple[TacticalAsset, ...]:
    """BTC and ETH half each when every day has an ETH price; otherwise BTC alone."""
    if observations and all(o.eth_price is not None for o in observations):
        return (
            TacticalAsset(asset="WBTC", weight=Decimal("0.5")),
            TacticalAsset(asset="WETH", weight=Decimal("0.5")),
        )
    return (TacticalAsset(asset="WBTC", weight=ONE),)


def backtest_planner_config(
    base: PlannerConfig, costs: BacktestCosts, tactical: tuple[TacticalAsset, ...]
) -> PlannerConfig:
    """The strategy's planner config with the backtest's tactical assets, gas and swap costs."""
    return replace(
        base,
        tactical_assets=tactical,
        gas_units={t: _FLAT_GAS_UNITS for t in TransactionType},
        swap_slippage_base=costs.swap_fee,
        swap_slippage_per_million_usd=costs.swap_impact_per_million_usd,
    )


def _price(obs: DailyObservation, asset: str) -> Decimal:
    if asset.upper() in ("WBTC", "BTC"):
        return obs.btc_price
    if obs.eth_price is None:
        raise InvalidValue("eth_price", None, f"unknown on {obs.day}, but {asset} is held")
    return obs.eth_price


def _change(now: Decimal | None, before: Decimal | None) -> Decimal | None:
    if now is None or before is None:
        return None
    return now / before - ONE


def market_on(
    observations: Sequence[DailyObservation], index: int, mvrv_lag_days: int
) -> MarketData:
    """What the strategy could know at the close of `observations[index]`.

    Prices, funding and Fear & Greed are the day's own; MVRV Z is `mvrv_lag_days` rows old
    (unknown for the first rows). Nothing later than `index` is read.
    """
    obs = observations[index]
    before = observations[index - 1] if index > 0 else None
    lagged = index - mvrv_lag_days
    mvrv = observations[lagged].mvrv_z_score if lagged >= 0 else None
    return MarketData(
        btc_price=obs.btc_price,
        eth_price=obs.eth_price,
        mvrv_z_score=mvrv,
        funding_rate=obs.funding_rate,
        fear_greed_index=obs.fear_greed,
        market_phase=MarketPhase.EUPHORIA,  # informational; the signal classifies the phase
        timestamp=_at(obs.day),
        btc_change_24h=_change(obs.btc_price, before.btc_price if before else None),
        eth_change_24h=_change(obs.eth_price, before.eth_price if before else None),
    )


def _portfolio(book: _Book, obs: DailyObservation, costs: BacktestCosts) -> PortfolioState:
    positions: list[Position] = []
    for (protocol, asset), value in book.deposits.items():
        if value > 0:
            positions.append(
                Position(
                    protocol=protocol,
                    asset=asset,
                    amount=value,
                    value_usd=value,
                    apy=costs.protocol_apy.get(protocol, ZERO),
                    entered_at=book.entered_at,
                )
            )
    for asset, units in book.units.items():
        if units > 0:
            positions.append(
                Position(
                    protocol=WALLET,
                    asset=asset,
                    amount=units,
                    value_usd=units * _price(obs, asset),
                    apy=ZERO,
                    entered_at=book.entered_at,
                )
            )
    return PortfolioState.build(
        positions=tuple(positions), cash_balance=book.cash, as_of=_at(obs.day)
    )


def _volatile(book: _Book, obs: DailyObservation) -> Decimal:
    total = ZERO
    for asset, units in book.units.items():
        if units > 0:
            total += units * _price(obs, asset)
    return total


def _equity(book: _Book, obs: DailyObservation) -> Decimal:
    return book.cash + sum(book.deposits.values(), ZERO) + _volatile(book, obs)


def _fill(tx: Transaction, book: _Book, obs: DailyObservation, gas: Decimal) -> Decimal | None:
    """Execute one planned step at today's price; return the USD moved, None if it cannot."""
    slip_share = tx.estimated_slippage_usd / tx.amount_usd if tx.amount_usd > 0 else ZERO
    source, destination = tx.source_key, tx.destination_key
    if tx.tx_type is TransactionType.SWAP and source is not None:
        held = book.units.get(tx.from_asset, ZERO)
        units = held if tx.full_exit else min(tx.amount, held)
        usd = units * _price(obs, tx.from_asset)
        if usd <= gas:
            return None
        book.units[tx.from_asset] = held - units
        book.cash += usd - usd * slip_share - gas
        return usd
    if tx.tx_type is TransactionType.WITHDRAW and source is not None:
        held = book.deposits.get(source, ZERO)
        usd = held if tx.full_exit else min(tx.amount_usd, held)
        if usd <= gas:
            return None
        book.deposits[source] = held - usd
        book.cash += usd - usd * slip_share - gas
        return usd
    # A buy or deposit spends cash; prices may have moved since planning, so never overdraw.
    usd = min(tx.amount_usd, book.cash - gas)
    if usd <= 0 or destination is None:
        return None
    book.cash -= usd + gas
    arriving = usd - usd * slip_share
    if tx.tx_type is TransactionType.SWAP:
        book.units[tx.to_asset] = book.units.get(tx.to_asset, ZERO) + arriving / _price(
            obs, tx.to_asset
        )
    else:
        book.deposits[destination] = book.deposits.get(destination, ZERO) + arriving
    return usd


class _Baselines:
    """Static yield, BTC buy-and-hold and the untimed 60/40 split, without costs."""

    def __init__(
        self,
        first: DailyObservation,
        capital: Decimal,
        apy: Decimal,
        base_share: Decimal,
        tactical: tuple[TacticalAsset, ...],
    ) -> None:
        self._daily = ONE + apy / DAYS_PER_YEAR
        self._static = capital
        self._btc_units = capital / first.btc_price
        self._split_yield = capital * base_share
        self._split_units = {
            t.asset: capital * (ONE - base_share) * t.weight / _price(first, t.asset)
            for t in tactical
        }
        self._last = first.day
        self.series: dict[str, list[Decimal]] = {
            "static_yield": [],
            "btc_hold": [],
            "static_60_40": [],
        }

    def record(self, obs: DailyObservation) -> None:
        days = (obs.day - self._last).days
        if days > 0:
            growth = self._daily**days
            self._static *= growth
            self._split_yield *= growth
            self._last = obs.day
        self.series["static_yield"].append(self._static)
        self.series["btc_hold"].append(self._btc_units * obs.btc_price)
        split = self._split_yield + sum(
            (u * _price(obs, a) for a, u in self._split_units.items()), ZERO
        )
        self.series["static_60_40"].append(split)


@in_maths_context
def run_backtest(
    observations: Sequence[DailyObservation],
    config: BacktestConfig,
    *,
    functions: DecisionFunctions = LIVE_DECISIONS,
    on_day: DayCallback | None = None,
) -> BacktestResult:
    """Replay `observations` (ascending, one per day) through the live decision code.

    The treasury starts as `capital` in idle USDC and the strategy deploys it.

    Raises:
        InvalidValue: fewer than two observations, or days not strictly ascending.
    """
    if len(observations) < 2:
        raise InvalidValue("observations", len(observations), "need at least two days")
    for before, after in pairwise(observations):
        if after.day <= before.day:
            raise InvalidValue("observations", after.day, "days must be strictly ascending")
    replay = _Replay(observations, config, functions)
    total_days = len(observations)
    for index in range(total_days):
        replay.run_day(index)
        if on_day is not None:
            on_day(index + 1, total_days)
    return replay.result()


class _Replay:
    """The replay's running state, one day at a time in the module doc's order."""

    def __init__(
        self,
        observations: Sequence[DailyObservation],
        config: BacktestConfig,
        functions: DecisionFunctions,
    ) -> None:
        self.observations = observations
        self.config = config
        self.functions = functions
        self.tactical = tactical_assets_for(observations)
        planner = backtest_planner_config(config.strategy.planner, config.costs, self.tactical)
        self.strategy = replace(config.strategy, planner=planner)
        self.daily_growth = {
            p: ONE + apy / DAYS_PER_YEAR for p, apy in config.costs.protocol_apy.items()
        }
        self.tvl = dict.fromkeys(
            [v.protocol for v in planner.venues] + [planner.swap_protocol],
            config.costs.assumed_protocol_tvl_usd,
        )
        first = observations[0]
        self.book = _Book(cash=config.capital, units={}, deposits={}, entered_at=_at(first.day))
        self.baselines = _Baselines(
            first,
            config.capital,
            config.static_apy,
            self.strategy.signal.base_yield_share,
            self.tactical,
        )
        self.ratchet = RatchetState()
        self.slippage_state = SlippageBudgetState()
        self.pending: _Order | None = None
        self.last_day = first.day
        self.days: list[date] = []
        self.equity: list[Decimal] = []
        self.volatile_usd: list[Decimal] = []
        self.phases: list[MarketPhase] = []
        self.exposures: list[Decimal] = []
        self.decisions: list[DecisionRecord] = []
        self.fills: list[Fill] = []

    def run_day(self, index: int) -> None:
        """Revalue, fill what is due, record the equity, then signal and decide."""
        obs = self.observations[index]
        self._accrue(obs)
        trades_today = self._fill_due(index, obs)
        self.days.append(obs.day)
        volatile = _volatile(self.book, obs)
        self.volatile_usd.append(volatile)
        self.equity.append(self.book.cash + sum(self.book.deposits.values(), ZERO) + volatile)
        self.baselines.record(obs)

        now = _at(obs.day)
        market = market_on(self.observations, index, self.config.mvrv_lag_days)
        signal, self.ratchet = self.functions.signal(
            market, self.ratchet, now, self.strategy.signal
        )
        self.phases.append(signal.market_phase)
        self.exposures.append(signal.tactical_exposure)
        if self.pending is None and index + 1 < len(self.observations):
            context = SafetyContext(
                now=now,
                trades_today=trades_today,
                protocol_tvl_usd=self.tvl,
                slippage_state=self.slippage_state,
            )
            self.pending = self._decide(index, market, signal, context)

    def _accrue(self, obs: DailyObservation) -> None:
        """Yield positions earn their APY for the days since the last observation."""
        elapsed = (obs.day - self.last_day).days
        if elapsed > 0:
            for key, value in self.book.deposits.items():
                growth = self.daily_growth.get(key[0], ONE)
                self.book.deposits[key] = value * growth**elapsed
            self.last_day = obs.day

    def _fill_due(self, index: int, obs: DailyObservation) -> int:
        """Execute the waiting order if it is due today; return how many steps were traded."""
        pending = self.pending
        if pending is None or pending.fills_at != index:
            return 0
        trades = 0
        for tx in pending.plan.required_transactions:
            moved = _fill(tx, self.book, obs, self.config.costs.gas_usd_per_tx)
            if moved is None:
                continue
            if pending.plan.kind is PlanKind.EMERGENCY_EXIT:
                # As live: an exit that sold anything starts the re-entry cooldown.
                self.ratchet = replace(self.ratchet, last_exit_at=_at(obs.day))
            trades += 1
            self._record_fill(tx, moved, pending, obs)
        self.pending = None
        return trades

    def _record_fill(
        self, tx: Transaction, moved: Decimal, order: _Order, obs: DailyObservation
    ) -> None:
        """Keep the fill and charge its slippage to the rolling budget."""
        slip = moved * (tx.estimated_slippage_usd / tx.amount_usd)
        self.fills.append(
            Fill(
                day=obs.day,
                decided_on=order.decided_on,
                plan_id=order.plan.plan_id,
                tx_type=tx.tx_type,
                from_asset=tx.from_asset,
                to_asset=tx.to_asset,
                amount_usd=moved,
                gas_usd=self.config.costs.gas_usd_per_tx,
                slippage_usd=slip,
            )
        )
        self.slippage_state = consume_slippage(
            self.slippage_state,
            self.strategy.limits.slippage_budget,
            max(_equity(self.book, obs), ZERO),
            slip,
            _at(obs.day),
        )

    def _decide(
        self, index: int, market: MarketData, signal: AllocationSignal, context: SafetyContext
    ) -> _Order | None:
        """Propose today's plan and record it; the order to fill, if the plan goes ahead."""
        obs = self.observations[index]
        proposal = self.functions.propose(
            _portfolio(self.book, obs, self.config.costs),
            signal.target_allocations,
            market,
            context,
            prices=_planning_prices(obs, self.config.costs),
            plan_id=f"bt-{obs.day.isoformat()}",
            now=context.now,
            config=self.strategy,
            threshold_crossed=signal.threshold_crossed,
            last_exit_at=self.ratchet.last_exit_at,
            exposure_known=signal.exposure_known,
            risk_level=signal.risk_level,
            planner=self.functions.planner,
            policy=self.functions.policy,
        )
        plan, verdict = proposal.plan, proposal.verdict
        if plan is None or verdict is None or plan.is_empty:
            return None
        outcome, fills_at = _order_outcome(verdict, index, len(self.observations), self.config)
        filled = outcome is OrderOutcome.FILLED
        self.decisions.append(
            DecisionRecord(
                day=obs.day,
                plan_id=plan.plan_id,
                reason=proposal.reason,
                outcome=outcome,
                policy_outcome=verdict.outcome,
                emergency_exit=proposal.black_swan is not None,
                planned_usd=sum((t.amount_usd for t in plan.required_transactions), ZERO),
                policy_reasons=verdict.reasons,
                fills_on=self.observations[fills_at].day if filled else None,
            )
        )
        return _Order(plan=plan, decided_on=obs.day, fills_at=fills_at) if filled else None

    def result(self) -> BacktestResult:
        """The series, decisions and fills of the whole replay."""
        return BacktestResult(
            days=tuple(self.days),
            equity=tuple(self.equity),
            volatile_usd=tuple(self.volatile_usd),
            baselines={k: tuple(v) for k, v in self.baselines.series.items()},
            phases=tuple(self.phases),
            exposures=tuple(self.exposures),
            decisions=tuple(self.decisions),
            fills=tuple(self.fills),
            tactical_assets=tuple(t.asset for t in self.tactical),
            final_ratchet=self.ratchet,
        )


def _planning_prices(obs: DailyObservation, costs: BacktestCosts) -> PlanningPrices:
    """The day's closes, with gas priced so that each step costs `gas_usd_per_tx`."""
    asset_usd = {"WBTC": obs.btc_price, "BTC": obs.btc_price}
    if obs.eth_price is not None:
        asset_usd |= {"WETH": obs.eth_price, "ETH": obs.eth_price}
    return PlanningPrices(
        asset_usd=asset_usd,
        gas_price_gwei=costs.gas_usd_per_tx,
        eth_usd=_GAS_REFERENCE_ETH_USD,
    )


def _order_outcome(
    verdict: SafetyVerdict, index: int, total_days: int, config: BacktestConfig
) -> tuple[OrderOutcome, int]:
    """What becomes of a plan decided on day `index`, and the day it would fill.

    A plan that needs approval waits `approval_delay_days` more, or is denied; one whose fill
    day is past the end of the history is left awaiting approval.
    """
    delay = 0
    if verdict.outcome is Outcome.REJECTED:
        outcome = OrderOutcome.REJECTED
    elif verdict.outcome is Outcome.NEEDS_APPROVAL:
        outcome = OrderOutcome.DENIED if config.deny_approvals else OrderOutcome.FILLED
        delay = config.approval_delay_days
    else:
        outcome = OrderOutcome.FILLED
    fills_at = index + 1 + delay
    if outcome is OrderOutcome.FILLED and fills_at >= total_days:
        outcome = OrderOutcome.AWAITING_APPROVAL  # the history ends before the approval lands
    return outcome, fills_at
