"""The rebalancing planner: from current positions and targets to ordered transactions.

Order: withdrawals, then swaps (sells before buys), then deposits, so every step is funded by
the ones before it. Base yield is split across venues by configured weights; each position's
target is clamped below the single-position cap and the tactical total below the volatile cap
(with a little headroom for costs). Moves below the minimum trade size, moves whose expected
slippage exceeds the bound, and moves whose gas exceeds `max_gas_share` of their value are
skipped with the reason recorded; a move that cures a breached cap is exempt from the size and
gas-share rules (not from paying its way). Buys and deposits are scaled down when cash cannot
fund them; a move skipped once stays skipped, and each skipped move is recorded once.

A swap too large for the slippage bound is split into slices that each fit it (TWAP-style: the
executor sends them one after another, each in its own block, and each slice's impact is
estimated on its own, which assumes the pool's price recovers between slices). A rebalance
takes at most `max_slices_per_move` slices of one move and leaves the rest to later cycles (the
drift is still there next cycle); the black-swan exit takes as many slices as the position
needs, so that a large treasury can always leave.

One (protocol, asset) is one position: the planner refuses a portfolio that holds it on two
chains (PlanInfeasible, naming them), and the config refuses venues that would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from types import MappingProxyType
from typing import NamedTuple, TypeAlias

from domain.allocation import Bucket, TargetAllocations, weights_sum_to_one
from domain.allocation import shares as bucket_shares
from domain.errors import InvalidValue, PlanInfeasible
from domain.market import STABLECOINS, VOLATILE_ASSETS
from domain.money import ONE, ZERO, require_fraction, require_no_floats, require_non_negative
from domain.plans import (
    APPROVAL_THRESHOLD_USD,
    PlanKind,
    RebalancingPlan,
    SkippedMove,
    Transaction,
    TransactionType,
    approval_reasons,
)
from domain.portfolio import WALLET, PortfolioState, Position
from domain.projection import Key, holdings_of
from domain.signals import RiskLevel

GWEI = Decimal("0.000000001")
MILLION = Decimal(1_000_000)
USD_STEP = Decimal("0.000001")


@dataclass(frozen=True, slots=True, kw_only=True)
class YieldVenue:
    """A base-yield destination: deposit `deposit_asset` into `protocol`, holding `asset`."""

    protocol: str
    asset: str
    weight: Decimal
    deposit_asset: str = "USDC"
    chain: str = "ethereum"

    def __post_init__(self) -> None:
        require_fraction(self.weight, "weight")

    @property
    def key(self) -> Key:
        """(protocol, asset) of the position this venue holds."""
        return (self.protocol, self.asset)


@dataclass(frozen=True, slots=True, kw_only=True)
class TacticalAsset:
    """A volatile asset the tactical sleeve holds in the wallet, with its weight."""

    asset: str
    weight: Decimal

    def __post_init__(self) -> None:
        require_fraction(self.weight, "weight")
        if self.asset.upper() not in VOLATILE_ASSETS:
            raise InvalidValue("asset", self.asset, "tactical assets are BTC/ETH exposure")


DEFAULT_VENUES: tuple[YieldVenue, ...] = (
    YieldVenue(protocol="aave", asset="USDC", weight=Decimal("0.4")),
    YieldVenue(protocol="pendle", asset="PT-USDC", weight=Decimal("0.3")),
    YieldVenue(protocol="curve", asset="3CRV", weight=Decimal("0.3")),
)
DEFAULT_TACTICAL: tuple[TacticalAsset, ...] = (
    TacticalAsset(asset="WBTC", weight=Decimal("0.5")),
    TacticalAsset(asset="WETH", weight=Decimal("0.5")),
)
DEFAULT_GAS_UNITS: Mapping[TransactionType, int] = MappingProxyType(
    {
        TransactionType.WITHDRAW: 250_000,
        TransactionType.SWAP: 300_000,
        TransactionType.DEPOSIT: 300_000,
    }
)
DEFAULT_PROTOCOL_SLIPPAGE: Mapping[str, Decimal] = MappingProxyType(
    {"aave": ZERO, "curve": Decimal("0.0004"), "pendle": Decimal("0.001")}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannerConfig:
    """How plans are built. Gas units include the token approval a step may need."""

    venues: tuple[YieldVenue, ...] = DEFAULT_VENUES
    tactical_assets: tuple[TacticalAsset, ...] = DEFAULT_TACTICAL
    cash_asset: str = "USDC"
    swap_protocol: str = "oneinch"
    min_trade_usd: Decimal = Decimal(500)
    gas_units: Mapping[TransactionType, int] = field(default_factory=lambda: DEFAULT_GAS_UNITS)
    default_slippage_tolerance: Decimal = Decimal("0.005")
    emergency_slippage_tolerance: Decimal = Decimal("0.03")
    swap_slippage_base: Decimal = Decimal("0.0005")
    swap_slippage_per_million_usd: Decimal = Decimal("0.001")
    protocol_slippage: Mapping[str, Decimal] = field(
        default_factory=lambda: DEFAULT_PROTOCOL_SLIPPAGE
    )
    approval_threshold_usd: Decimal = APPROVAL_THRESHOLD_USD
    max_slices_per_move: int = 3
    max_single_position_share: Decimal = Decimal("0.25")
    max_volatile_share: Decimal = Decimal("0.40")
    limit_headroom: Decimal = Decimal("0.005")
    max_gas_share: Decimal = Decimal("0.01")
    cash_buffer_share: Decimal = Decimal("0.01")
    """Idle wallet cash kept as a working buffer; idle cash above it is swept into the safest
    base venues (see `plan_rebalance`). 1 turns the sweep off."""

    def __post_init__(self) -> None:
        weights_sum_to_one(v.weight for v in self.venues)
        weights_sum_to_one(t.weight for t in self.tactical_assets)
        require_non_negative(self.min_trade_usd, "min_trade_usd")
        for name in (
            "default_slippage_tolerance",
            "emergency_slippage_tolerance",
            "swap_slippage_base",
            "max_single_position_share",
            "max_volatile_share",
            "limit_headroom",
            "max_gas_share",
            "cash_buffer_share",
        ):
            require_fraction(getattr(self, name), name)
        if self.cash_asset.upper() not in STABLECOINS:
            raise InvalidValue("cash_asset", self.cash_asset, "must be a stablecoin")
        if self.max_slices_per_move < 1:
            raise InvalidValue("max_slices_per_move", self.max_slices_per_move, "must be >= 1")
        chains: dict[Key, str] = {}
        for venue in self.venues:
            if venue.deposit_asset != self.cash_asset:
                raise InvalidValue(
                    "venues",
                    f"{venue.protocol} {venue.asset}",
                    f"deposits {venue.deposit_asset} but the cash asset is {self.cash_asset}; "
                    "set the venue's deposit_asset or the cash asset so they match",
                )
            if chains.setdefault(venue.key, venue.chain) != venue.chain:
                raise InvalidValue(
                    "venues",
                    f"{venue.protocol} {venue.asset}",
                    f"is configured on {chains[venue.key]} and {venue.chain}; a (protocol, "
                    "asset) position may be held on one chain only",
                )


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanningPrices:
    """Prices the planner needs: USD per unit of tradable assets, gas price and ETH price."""

    asset_usd: Mapping[str, Decimal]
    gas_price_gwei: Decimal
    eth_usd: Decimal

    def __post_init__(self) -> None:
        require_no_floats(self)
        require_non_negative(self.gas_price_gwei, "gas_price_gwei")
        if self.eth_usd <= 0:
            raise InvalidValue("eth_usd", self.eth_usd, "must be positive")
        object.__setattr__(self, "asset_usd", MappingProxyType(dict(self.asset_usd)))

    def price(self, asset: str) -> Decimal:
        """USD per unit of `asset` (stablecoins default to 1).

        Raises:
            PlanInfeasible: no price is known for the asset.
        """
        price = self.asset_usd.get(asset)
        if price is None and asset.upper() in STABLECOINS:
            return ONE
        if price is None or price <= 0:
            raise PlanInfeasible(f"no price for {asset}")
        return price


@dataclass(frozen=True, slots=True)
class _Move:
    key: Key
    usd: Decimal
    full_exit: bool = False
    cures_breach: bool = False
    units: Decimal | None = None  # exact units to sell, when slicing fixed them
    label: str = ""  # "slice 2 of 3" for a slice
    funds_buy: bool = False  # withdraws swept cash a buy needs: exempt from size and gas share


def gas_cost_usd(gas_units: int, prices: PlanningPrices) -> Decimal:
    """USD cost of `gas_units` at the planning gas price."""
    return Decimal(gas_units) * prices.gas_price_gwei * GWEI * prices.eth_usd


def exceeds_gas_share(gas_usd: Decimal, value_usd: Decimal, max_gas_share: Decimal) -> bool:
    """The gas-share rule: gas costing more than `max_gas_share` of a move's value is too much.

    The planner skips such a move; the executor drops such a group after simulating it.
    """
    return gas_usd > value_usd * max_gas_share


def swap_slippage_fraction(amount_usd: Decimal, config: PlannerConfig) -> Decimal:
    """Expected slippage (fee plus price impact) of a swap, growing with its size."""
    return config.swap_slippage_base + config.swap_slippage_per_million_usd * amount_usd / MILLION


def swap_slice_limit_usd(tolerance: Decimal, config: PlannerConfig) -> Decimal | None:
    """The largest swap whose expected slippage is within `tolerance`.

    None when a swap of any size fits (no price impact); zero when none does (the fee alone is
    above the bound).
    """
    if config.swap_slippage_base > tolerance:
        return ZERO
    if config.swap_slippage_per_million_usd <= 0:
        return None
    room = (tolerance - config.swap_slippage_base) * MILLION
    return (room / config.swap_slippage_per_million_usd).quantize(USD_STEP, rounding=ROUND_DOWN)


def _slices(
    move: _Move, limit: Decimal | None, max_slices: int | None, unit_price: Decimal | None
) -> tuple[list[_Move], Decimal]:
    """Split a swap into slices of at most `limit` USD; return them and the USD left over.

    With `max_slices`, at most that many slices of `limit` are taken and the rest is left over
    (for a later cycle). Otherwise the move is split into equal slices and its last slice takes
    the exact remainder, in USD and, for a sale with `unit_price`, in units (a full exit's last
    slice takes what is left of the position).
    """
    if limit is None or limit <= 0 or move.usd <= limit:
        return [move], ZERO
    count = int((move.usd / limit).to_integral_value(rounding=ROUND_CEILING))
    if max_slices is not None and count > max_slices:
        kept = [
            _Move(
                key=move.key,
                usd=limit,
                cures_breach=move.cures_breach,
                label=f"slice {i} of {max_slices}",
            )
            for i in range(1, max_slices + 1)
        ]
        return kept, move.usd - limit * max_slices
    size = (move.usd / count).quantize(USD_STEP, rounding=ROUND_DOWN)
    while move.usd - size * (count - 1) > limit:
        count += 1
        size = (move.usd / count).quantize(USD_STEP, rounding=ROUND_DOWN)
    slices: list[_Move] = []
    units_so_far = ZERO
    for i in range(1, count + 1):
        last = i == count
        usd = move.usd - size * (count - 1) if last else size
        units: Decimal | None = None
        if unit_price is not None and unit_price > 0:
            if last and move.units is not None:
                units = move.units - units_so_far
            else:
                units = usd / unit_price
            units_so_far += units
        slices.append(
            _Move(
                key=move.key,
                usd=usd,
                full_exit=move.full_exit and last,
                cures_breach=move.cures_breach,
                units=units,
                label=f"slice {i} of {count}",
            )
        )
    return slices, ZERO


def desired_shares(
    targets: TargetAllocations, config: PlannerConfig
) -> tuple[dict[Key, Decimal], list[str]]:
    """Share of the treasury wanted in each position, clamped below the caps, and what was clamped.

    The caps are shares of the total, so the clamped shares do not depend on its size.
    """
    notes: list[str] = []
    position_cap = config.max_single_position_share - config.limit_headroom
    volatile_share = targets.tactical
    volatile_limit = config.max_volatile_share - config.limit_headroom
    if volatile_share > volatile_limit:
        notes.append(f"tactical target {volatile_share} clamped to {volatile_limit} (volatile cap)")
        volatile_share = volatile_limit
    wanted: dict[Key, Decimal] = {}
    for venue in config.venues:
        share = targets.base_yield * venue.weight
        if share > position_cap:
            notes.append(f"{venue.protocol} {venue.asset} clamped to the single-position cap")
            share = position_cap
        wanted[venue.key] = share
    for tactical in config.tactical_assets:
        share = volatile_share * tactical.weight
        if share > position_cap:
            notes.append(f"{tactical.asset} clamped to the single-position cap")
            share = position_cap
        wanted[(WALLET, tactical.asset)] = share
    return wanted, notes


def desired_values(
    total: Decimal, targets: TargetAllocations, config: PlannerConfig
) -> tuple[dict[Key, Decimal], list[str]]:
    """USD wanted in each position, clamped below the caps; the notes say what was clamped."""
    shares, notes = desired_shares(targets, config)
    return {key: total * share for key, share in shares.items()}, notes


def achievable_targets(targets: TargetAllocations, config: PlannerConfig) -> TargetAllocations:
    """The bucket shares the planner actually aims for: `targets` after the caps' clamping.

    What the caps take from base yield or tactical stays in cash. Drift is measured against
    this, not against `targets`: a target the planner can never reach would look like drift
    beyond the band every day, and every day would trade.
    """
    shares, _ = desired_shares(targets, config)
    base = sum((shares[v.key] for v in config.venues), ZERO)
    tactical = sum((shares[(WALLET, t.asset)] for t in config.tactical_assets), ZERO)
    return TargetAllocations(
        base_yield=base, tactical=tactical, cash=max(ZERO, ONE - base - tactical)
    )


def swept_cash(
    portfolio: PortfolioState, targets: TargetAllocations, config: PlannerConfig
) -> dict[Key, Decimal]:
    """USD each base venue holds above what `targets` want in it: idle cash swept into it.

    The sweep deposits idle cash into a venue on top of its base-yield target, so whatever a
    venue holds beyond that target is cash for allocation purposes (and a position in the
    venue for its cap and for the black-swan exit).
    """
    desired, _ = desired_values(portfolio.total_value_usd, targets, config)
    held = holdings_of(portfolio)
    extra = {v.key: held.get(v.key, ZERO) - desired[v.key] for v in config.venues}
    return {key: usd for key, usd in extra.items() if usd > 0}


def allocations_counting_sweep(
    portfolio: PortfolioState, targets: TargetAllocations, config: PlannerConfig
) -> dict[Bucket, Decimal]:
    """Each bucket's share of the total, with swept cash counted as cash, not base yield.

    With the sweep off (`cash_buffer_share` 1: the whole treasury is buffer), as held.
    """
    if config.cash_buffer_share >= ONE:
        return portfolio.current_allocations()
    values = portfolio.bucket_values()
    swept = sum(swept_cash(portfolio, targets, config).values(), ZERO)
    values[Bucket.BASE_YIELD] -= swept
    values[Bucket.CASH] += swept
    return bucket_shares(values)


def _venue_for(key: Key, config: PlannerConfig) -> YieldVenue | None:
    return next((v for v in config.venues if v.key == key), None)


def _tolerance(config: PlannerConfig, max_slippage: Decimal | None) -> Decimal:
    if max_slippage is None:
        return config.default_slippage_tolerance
    return min(config.default_slippage_tolerance, max_slippage)


def _one_chain_per_position(portfolio: PortfolioState) -> None:
    chains: dict[Key, set[str]] = {}
    for p in portfolio.positions:
        chains.setdefault(p.key, set()).add(p.chain)
    for (protocol, asset), on in sorted(chains.items()):
        if len(on) > 1:
            raise PlanInfeasible(
                f"{protocol} {asset} is held on {' and '.join(sorted(on))}; the planner "
                "treats a (protocol, asset) as one position: consolidate it on one chain"
            )


Priced: TypeAlias = Transaction | SkippedMove
"""A move once priced: the transaction that makes it, or why it is skipped."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Pricing:
    """What pricing a move needs: the config, the prices, the positions held, the slippage bound."""

    config: PlannerConfig
    prices: PlanningPrices
    positions: Mapping[Key, Position]
    tolerance: Decimal


class _Route(NamedTuple):
    """How a move is made: the kind of step, the protocol that makes it, the asset it gives and
    the one it gets, and the amount it gives in that asset's units."""

    tx_type: TransactionType
    protocol: str
    from_asset: str
    to_asset: str
    amount: Decimal


def _units_sold(move: _Move, pricing: _Pricing) -> Decimal:
    """The units a sale gives: those slicing fixed, a full exit's whole position, or its USD at
    the position's unit price (the market price when the position has none)."""
    position = pricing.positions.get(move.key)
    unit_price = position.unit_price_usd if position is not None else ZERO
    if unit_price <= 0:
        unit_price = pricing.prices.price(move.key[1])
    if move.units is not None:
        return move.units
    if move.full_exit and position is not None:
        return position.amount
    return move.usd / unit_price


def _route(move: _Move, *, selling: bool, pricing: _Pricing) -> _Route:
    """How `move` is made. A sale swaps a volatile asset to cash or withdraws a yield position;
    a buy swaps cash to a volatile asset (whose price must be known) or deposits it."""
    config, prices = pricing.config, pricing.prices
    protocol, asset = move.key
    volatile = asset.upper() in VOLATILE_ASSETS
    if selling:
        amount = _units_sold(move, pricing)
        tx_type, from_asset, to_asset = TransactionType.WITHDRAW, asset, config.cash_asset
    else:
        amount = move.usd / prices.price(config.cash_asset)
        if volatile:
            prices.price(asset)  # a buy must know its price
        venue = None if volatile else _venue_for(move.key, config)
        tx_type, from_asset = TransactionType.DEPOSIT, config.cash_asset
        to_asset = venue.asset if venue else asset
    if volatile:
        tx_type, protocol = TransactionType.SWAP, config.swap_protocol
    return _Route(tx_type, protocol, from_asset, to_asset, amount)


def _price(move: _Move, *, selling: bool, pricing: _Pricing) -> Priced:
    """The transaction that makes `move`, or why it is skipped.

    Skipped: its expected slippage is above the bound, or its gas above `max_gas_share` of its
    value. A move that cures a breached cap, or withdraws swept cash a buy needs, may pay more
    gas, but never more than it brings in.
    """
    config = pricing.config
    route = _route(move, selling=selling, pricing=pricing)
    if route.tx_type is TransactionType.SWAP:
        expected = swap_slippage_fraction(move.usd, config)
    else:
        expected = config.protocol_slippage.get(route.protocol, ZERO)
    label = f" ({move.label})" if move.label else ""
    description = (
        f"{route.tx_type.value} {route.from_asset}->{route.to_asset} ${move.usd:.2f}{label}"
    )
    if expected > pricing.tolerance:
        return SkippedMove(
            description=description,
            reason=f"expected slippage {expected} exceeds the bound {pricing.tolerance}",
        )
    gas = config.gas_units[route.tx_type]
    gas_usd = gas_cost_usd(gas, pricing.prices)
    too_costly = exceeds_gas_share(gas_usd, move.usd, config.max_gas_share)
    exempt = move.cures_breach or move.funds_buy
    if (too_costly and not exempt) or gas_usd >= move.usd * (ONE - expected):
        return SkippedMove(
            description=description,
            reason=f"gas ${gas_usd:.2f} exceeds {config.max_gas_share} of the move's value",
        )
    position = pricing.positions.get(move.key)
    return Transaction(
        tx_type=route.tx_type,
        protocol=route.protocol,
        from_asset=route.from_asset,
        to_asset=route.to_asset,
        amount=route.amount,
        amount_usd=move.usd,
        estimated_gas=gas,
        estimated_gas_usd=gas_usd,
        estimated_slippage_usd=move.usd * expected,
        slippage_tolerance=pricing.tolerance,
        chain=position.chain if position is not None else "ethereum",
        full_exit=move.full_exit,
    )


def _price_all(
    moves: list[_Move], *, selling: bool, pricing: _Pricing
) -> tuple[list[Transaction], list[SkippedMove]]:
    """Each move priced: the transactions, and the moves skipped, each in the moves' order."""
    txs: list[Transaction] = []
    skipped: list[SkippedMove] = []
    for move in moves:
        priced = _price(move, selling=selling, pricing=pricing)
        if isinstance(priced, SkippedMove):
            skipped.append(priced)
        else:
            txs.append(priced)
    return txs, skipped


def _sliced(
    moves: list[_Move], *, selling: bool, pricing: _Pricing
) -> tuple[list[_Move], list[SkippedMove]]:
    """The moves with each swap split into slices that fit the slippage bound (see `_slices`).

    At most `max_slices_per_move` slices of one move are taken; what is left of it is skipped,
    for a later cycle.
    """
    config, tolerance = pricing.config, pricing.tolerance
    limit = swap_slice_limit_usd(tolerance, config)
    out: list[_Move] = []
    skipped: list[SkippedMove] = []
    for move in moves:
        if move.key[1].upper() not in VOLATILE_ASSETS:
            out.append(move)
            continue
        position = pricing.positions.get(move.key)
        unit_price = position.unit_price_usd if selling and position is not None else None
        pieces, left = _slices(move, limit, config.max_slices_per_move, unit_price)
        out.extend(pieces)
        if left > 0:
            skipped.append(
                SkippedMove(
                    description=f"{'sell' if selling else 'buy'} {move.key[1]} ${left:.2f}",
                    reason=(
                        f"left for a later cycle: {config.max_slices_per_move} slices of "
                        f"${limit:,.2f} fit the slippage bound {tolerance} in one plan"
                    ),
                )
            )
    return out, skipped


def _breach_cured(
    key: Key, shares: Mapping[Key, Decimal], volatile_now: Decimal, config: PlannerConfig
) -> bool:
    """Whether selling `key` cures a breached cap: its own, or the volatile cap."""
    return shares.get(key, ZERO) > config.max_single_position_share or (
        key[1].upper() in VOLATILE_ASSETS and volatile_now > config.max_volatile_share
    )


def _drift_moves(
    portfolio: PortfolioState, sweep: _Sweep, config: PlannerConfig
) -> tuple[list[_Move], list[_Move], list[SkippedMove]]:
    """The sells and buys that move each position to its desired value, in key order, and the
    moves skipped as below the minimum trade size (a move that cures a breach is exempt).

    Wallet stablecoins are cash, not positions; a sweep venue above its base target is left to
    the sweep (its excess is swept cash).
    """
    total, current, desired = sweep.total, sweep.current, sweep.desired
    positions = {p.key: p for p in portfolio.positions}
    shares = {k: (v / total if total > 0 else ZERO) for k, v in current.items()}
    volatile_now = portfolio.volatile_value() / total if total > 0 else ZERO
    sells: list[_Move] = []
    buys: list[_Move] = []
    skipped: list[SkippedMove] = []
    for key in sorted(set(current) | set(desired)):
        if (key[0] == WALLET and key[1].upper() in STABLECOINS) or key in sweep.swept:
            continue
        have = current.get(key, ZERO)
        want = desired.get(key, ZERO)
        delta = want - have
        if delta == 0:
            continue
        cures_breach = delta < 0 and _breach_cured(key, shares, volatile_now, config)
        if abs(delta) < config.min_trade_usd and not cures_breach:
            skipped.append(
                SkippedMove(
                    description=f"{key[0]} {key[1]} by ${abs(delta):.2f}",
                    reason=f"below the minimum trade size ${config.min_trade_usd}",
                )
            )
        elif delta < 0:
            full_exit = want == 0
            units = positions[key].amount if full_exit and key in positions else None
            usd = have if full_exit else -delta
            sells.append(
                _Move(key=key, usd=usd, full_exit=full_exit, cures_breach=cures_breach, units=units)
            )
        else:
            buys.append(_Move(key=key, usd=delta))
    return sells, buys, skipped


def plan_rebalance(
    portfolio: PortfolioState,
    targets: TargetAllocations,
    *,
    prices: PlanningPrices,
    plan_id: str,
    now: datetime,
    config: PlannerConfig = PlannerConfig(),
    max_slippage: Decimal | None = None,
    risk_level: RiskLevel = RiskLevel.MEDIUM,
    sweep_venues: tuple[str, ...] = (),
    sweep_only: bool = False,
) -> RebalancingPlan:
    """Build the ordered plan that moves `portfolio` to `targets` (see module doc).

    `sweep_venues` names the base venues idle cash may be swept into, in order of preference
    (the strategy passes the eligible ones, lowest risk score first); with none, nothing is
    swept. What a sweep venue holds above its base target is swept cash (`swept_cash`): it is
    not sold as drift; it funds the plan's buys first (withdrawn, riskiest venue first, before
    any buy); and idle cash left above the buffer (`cash_buffer_share`) after the plan's moves
    is deposited into the venues, in order, each up to its headroom under the single-position
    cap, when the amount is at least the minimum trade. With `sweep_only` (the drift is within
    the band), only the sweep is planned: deposits of the wallet's cash, nothing sold or
    withdrawn, so its traded notional is at most `portfolio.cash_balance` (the strategy relies
    on this to skip planning a sweep that could not clear its bar).

    Raises:
        PlanInfeasible: a price needed to size a move is unknown, or a (protocol, asset)
            position is held on two chains.
        InvalidValue: max_slippage is outside [0, 1].
    """
    if max_slippage is not None:
        require_fraction(max_slippage, "max_slippage")
    _one_chain_per_position(portfolio)
    desired, notes = desired_values(portfolio.total_value_usd, targets, config)
    sweep = _Sweep.of(sweep_venues, portfolio, desired, config)
    pricing = _Pricing(
        config=config,
        prices=prices,
        positions={p.key: p for p in portfolio.positions},
        tolerance=_tolerance(config, max_slippage),
    )
    sells, buys, skipped = ([], [], []) if sweep_only else _drift_moves(portfolio, sweep, config)
    sell_moves, sells_left = _sliced(sells, selling=True, pricing=pricing)
    sell_txs, sells_skipped = _price_all(sell_moves, selling=True, pricing=pricing)
    cash_after_sells = _cash_after(portfolio.cash_balance, sell_txs)
    buy_moves, buys_left = _sliced(buys, selling=False, pricing=pricing)
    buy_txs, unfunded, settled = _fund_and_settle(
        buy_moves, cash_after_sells, sweep, pricing, rebalancing=not sweep_only
    )
    skipped += sells_left + sells_skipped + buys_left + unfunded + settled.skipped
    draft = PlanDraft(
        targets=targets,
        transactions=_in_order(sell_txs, buy_txs, settled),
        skipped=tuple(skipped),
        notes=tuple(notes + settled.notes),
        risk_level=risk_level,
        max_slippage=max_slippage,
    )
    return assemble_plan(portfolio, draft, plan_id=plan_id, now=now, config=config)


def _cash_after(cash: Decimal, sell_txs: list[Transaction]) -> Decimal:
    """The wallet cash after the sells: what they bring in, less their slippage and gas."""
    return (
        cash
        + sum((t.amount_usd - t.estimated_slippage_usd for t in sell_txs), ZERO)
        - sum((t.estimated_gas_usd for t in sell_txs), ZERO)
    )


def _in_order(
    sell_txs: list[Transaction], buy_txs: list[Transaction], settled: _Settled
) -> tuple[Transaction, ...]:
    """The plan's steps in funding order: withdrawals, swaps (sells first), deposits.

    A base deposit the sweep replaced (it took the sweep's amount too) is left out.
    """
    deposits = [
        t
        for t in buy_txs
        if t.tx_type is TransactionType.DEPOSIT and t.destination_key not in settled.replaced
    ] + settled.deposits
    return tuple(
        [t for t in sell_txs if t.tx_type is TransactionType.WITHDRAW]
        + settled.withdrawals
        + [t for t in sell_txs if t.tx_type is TransactionType.SWAP]
        + [t for t in buy_txs if t.tx_type is TransactionType.SWAP]
        + deposits
    )


def _fund_and_settle(
    buy_moves: list[_Move],
    cash_after_sells: Decimal,
    sweep: _Sweep,
    pricing: _Pricing,
    *,
    rebalancing: bool,
) -> tuple[list[Transaction], list[SkippedMove], _Settled]:
    """Fund the buys from the cash after sells and the swept cash, then settle the sweep.

    The buys count on what withdrawing the swept cash would bring in, after its gas. When a
    withdrawal cannot pay its way and the wallet would end below zero, the buys are funded
    again with less of the swept cash. Returns the buys, the ones left unfunded, the sweep.
    """
    withdrawable = sweep.withdrawable(pricing)
    while True:
        buy_txs, unfunded = _fund_buys(buy_moves, cash_after_sells + withdrawable, pricing)
        spent = sum((t.amount_usd + t.estimated_gas_usd for t in buy_txs), ZERO)
        settled = _settle_cash(
            wallet=cash_after_sells - spent,
            sweep=sweep,
            base_after=sweep.base_after(buy_txs),
            base_deposits={t.destination_key: t for t in buy_txs if sweep.receives(t)},
            pricing=pricing,
            rebalancing=rebalancing,
        )
        if settled.wallet >= 0 or withdrawable <= 0:
            return buy_txs, unfunded, settled
        withdrawable = max(ZERO, withdrawable + settled.wallet)


def _sweep_keys(protocols: tuple[str, ...], config: PlannerConfig) -> list[Key]:
    """The configured venues of `protocols`, in their order (unknown names are ignored)."""
    keys: list[Key] = []
    for protocol in protocols:
        keys.extend(v.key for v in config.venues if v.protocol == protocol and v.key not in keys)
    return keys


def _slip(key: Key, config: PlannerConfig) -> Decimal:
    """The expected slippage of entering or leaving the venue of `key`."""
    return config.protocol_slippage.get(key[0], ZERO)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Sweep:
    """The venues idle cash may be swept into, in order of preference, and the swept cash each
    holds above its base target; with the holdings and desired values the sweep is sized from."""

    order: list[Key]
    swept: Mapping[Key, Decimal]
    current: Mapping[Key, Decimal]
    desired: Mapping[Key, Decimal]
    total: Decimal

    @classmethod
    def of(
        cls,
        sweep_venues: tuple[str, ...],
        portfolio: PortfolioState,
        desired: Mapping[Key, Decimal],
        config: PlannerConfig,
    ) -> _Sweep:
        """The sweep of `portfolio` into the venues of `sweep_venues`."""
        current = holdings_of(portfolio)
        order = _sweep_keys(sweep_venues, config)
        swept = {k: current[k] - desired[k] for k in order if current.get(k, ZERO) > desired[k]}
        return cls(
            order=order,
            swept=swept,
            current=current,
            desired=desired,
            total=portfolio.total_value_usd,
        )

    def withdrawable(self, pricing: _Pricing) -> Decimal:
        """What withdrawing all the swept cash would bring in, after its slippage and gas."""
        config = pricing.config
        withdraw_gas = gas_cost_usd(config.gas_units[TransactionType.WITHDRAW], pricing.prices)
        return sum(
            (
                max(ZERO, usd * (ONE - _slip(k, config)) - withdraw_gas)
                for k, usd in self.swept.items()
            ),
            ZERO,
        )

    def receives(self, tx: Transaction) -> bool:
        """Whether `tx` deposits into one of the sweep venues."""
        return tx.tx_type is TransactionType.DEPOSIT and tx.destination_key in self.order

    def base_after(self, buy_txs: list[Transaction]) -> dict[Key, Decimal]:
        """What each sweep venue holds for base yield after the plan's own moves."""
        arriving = {
            t.destination_key: t.amount_usd - t.estimated_slippage_usd
            for t in buy_txs
            if self.receives(t)
        }
        return {
            k: self.desired[k]
            if k in self.swept
            else self.current.get(k, ZERO) + arriving.get(k, ZERO)
            for k in self.order
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class _Settled:
    """The sweep's part of a plan: its withdrawals and deposits, the base deposits its deposits
    replaced, the moves it skipped, and the wallet it leaves."""

    withdrawals: list[Transaction]
    deposits: list[Transaction]
    replaced: frozenset[Key | None]
    wallet: Decimal
    skipped: list[SkippedMove]

    @property
    def notes(self) -> list[str]:
        """What the plan's notes say of the sweep."""
        notes: list[str] = []
        if self.withdrawals:
            notes.append(
                "swept cash withdrawn from " + ", ".join(t.protocol for t in self.withdrawals)
            )
        if self.deposits:
            notes.append(
                "idle cash above the buffer swept into "
                + ", ".join(t.protocol for t in self.deposits)
            )
        return notes


@dataclass(frozen=True, slots=True, kw_only=True)
class _Bounds:
    """The sweep's figures in USD: the most a venue may hold (its cap less the headroom), the
    cash buffer to keep, and the gas of one withdrawal and of one deposit."""

    cap_value: Decimal
    buffer: Decimal
    withdraw_gas: Decimal
    deposit_gas: Decimal

    @classmethod
    def of(cls, total: Decimal, pricing: _Pricing) -> _Bounds:
        """The bounds for a treasury worth `total`."""
        config, prices = pricing.config, pricing.prices
        return cls(
            cap_value=(config.max_single_position_share - config.limit_headroom) * total,
            buffer=config.cash_buffer_share * total,
            withdraw_gas=gas_cost_usd(config.gas_units[TransactionType.WITHDRAW], prices),
            deposit_gas=gas_cost_usd(config.gas_units[TransactionType.DEPOSIT], prices),
        )


class _Want(NamedTuple):
    """Swept cash to withdraw from one venue: how much, whether that cures a breached cap, and
    whether it funds a buy."""

    usd: Decimal
    cures_breach: bool
    funds_buy: bool


def _settle_cash(
    *,
    wallet: Decimal,
    sweep: _Sweep,
    base_after: Mapping[Key, Decimal],
    base_deposits: Mapping[Key | None, Transaction],
    pricing: _Pricing,
    rebalancing: bool,
) -> _Settled:
    """Withdraw swept cash the plan needs, or sweep idle cash above the buffer (see
    `plan_rebalance`). `wallet` is the cash the plan's other moves leave; it may be negative
    when swept cash must fund them.

    Withdrawals: swept cash above a venue's headroom (a cap the market moved it over), then,
    when the wallet would end below zero or below the buffer by at least the minimum trade,
    swept cash from the riskiest venue first. A withdrawal that funds a buy takes at least the
    minimum trade (or all the venue's swept cash) and is exempt from the size and gas-share
    rules. Deposits, only when nothing is withdrawn to fund the plan: the idle cash above the
    buffer, into each venue in order up to its headroom, each at least the minimum trade. A
    base deposit the plan already makes into the venue takes the sweep's amount too.
    """
    bounds = _Bounds.of(sweep.total, pricing)
    wanted: dict[Key, _Want] = {}
    keep = dict(sweep.swept)
    if rebalancing:
        wanted, keep, estimate = _over_cap(wallet, sweep, base_after, bounds, pricing.config)
        wanted, keep = _to_fund(wanted, keep, estimate, sweep.order, bounds, pricing.config)
    withdrawals, skipped, wallet = _withdraw(wanted, wallet, sweep.order, pricing)
    deposits: list[Transaction] = []
    replaced: frozenset[Key | None] = frozenset()
    if not any(w.funds_buy for w in wanted.values()):
        deposits, replaced, wallet = _sweep_deposits(
            wallet,
            keep,
            set(wanted),
            _Destinations(order=sweep.order, base_after=base_after, base_deposits=base_deposits),
            bounds,
            pricing,
        )
    return _Settled(
        withdrawals=withdrawals,
        deposits=deposits,
        replaced=replaced,
        wallet=wallet,
        skipped=skipped,
    )


def _over_cap(
    wallet: Decimal,
    sweep: _Sweep,
    base_after: Mapping[Key, Decimal],
    bounds: _Bounds,
    config: PlannerConfig,
) -> tuple[dict[Key, _Want], dict[Key, Decimal], Decimal]:
    """The swept cash above each venue's headroom (a cap the market moved it over), to withdraw;
    what each venue keeps; and the wallet `wallet` becomes once it is withdrawn (an estimate)."""
    wanted: dict[Key, _Want] = {}
    keep = dict(sweep.swept)
    estimate = wallet
    for key in sweep.order:
        room = max(ZERO, bounds.cap_value - base_after[key])
        if keep.get(key, ZERO) > room:
            over = keep[key] - room
            breach = base_after[key] + keep[key] > config.max_single_position_share * sweep.total
            wanted[key] = _Want(over, breach, False)
            keep[key] = room
            estimate += over * (ONE - _slip(key, config)) - bounds.withdraw_gas
    return wanted, keep, estimate


def _to_fund(
    wanted: Mapping[Key, _Want],
    keep: Mapping[Key, Decimal],
    estimate: Decimal,
    order: list[Key],
    bounds: _Bounds,
    config: PlannerConfig,
) -> tuple[dict[Key, _Want], dict[Key, Decimal]]:
    """Add the swept cash to withdraw, riskiest venue first, when the wallet (`estimate`) would
    end below zero (the withdrawal funds a buy, and takes at least the minimum trade) or below
    the buffer by at least the minimum trade; return the withdrawals and what each venue keeps.
    """
    wanted, keep = dict(wanted), dict(keep)
    funding = estimate < 0
    if not funding and bounds.buffer - estimate < config.min_trade_usd:
        return wanted, keep
    for key in reversed(order):
        if estimate >= bounds.buffer:
            break
        slip = _slip(key, config)
        if keep.get(key, ZERO) <= 0 or slip >= ONE:
            continue
        gas = bounds.withdraw_gas if key not in wanted else ZERO
        need = (bounds.buffer - estimate + gas) / (ONE - slip)
        if funding:
            need = max(need, config.min_trade_usd)
        usd = min(keep[key], need.quantize(USD_STEP, rounding=ROUND_CEILING))
        before = wanted.get(key, _Want(ZERO, False, False))
        wanted[key] = _Want(before.usd + usd, before.cures_breach, before.funds_buy or funding)
        keep[key] -= usd
        estimate += usd * (ONE - slip) - gas
    return wanted, keep


def _withdraw(
    wanted: Mapping[Key, _Want], wallet: Decimal, order: list[Key], pricing: _Pricing
) -> tuple[list[Transaction], list[SkippedMove], Decimal]:
    """The withdrawals of swept cash, in the venues' order, the ones skipped, and the wallet
    after them. One below the minimum trade is dropped unless it cures a breach or funds a buy.
    """
    withdrawals: list[Transaction] = []
    skipped: list[SkippedMove] = []
    for key in order:
        if key not in wanted:
            continue
        usd, breach, funds = wanted[key]
        if usd < pricing.config.min_trade_usd and not (breach or funds):
            continue
        move = _Move(key=key, usd=usd, cures_breach=breach, funds_buy=funds)
        priced = _price(move, selling=True, pricing=pricing)
        if isinstance(priced, SkippedMove):
            skipped.append(priced)
            continue
        withdrawals.append(priced)
        wallet += priced.amount_usd - priced.estimated_slippage_usd - priced.estimated_gas_usd
    return withdrawals, skipped, wallet


@dataclass(frozen=True, slots=True, kw_only=True)
class _Destinations:
    """Where the sweep may deposit: the venues in order, what each holds for base yield after
    the plan's own moves, and the base deposit the plan already makes into it."""

    order: list[Key]
    base_after: Mapping[Key, Decimal]
    base_deposits: Mapping[Key | None, Transaction]


def _sweep_deposits(
    wallet: Decimal,
    keep: Mapping[Key, Decimal],
    withdrawn: set[Key],
    into: _Destinations,
    bounds: _Bounds,
    pricing: _Pricing,
) -> tuple[list[Transaction], frozenset[Key | None], Decimal]:
    """Deposit the idle cash above the buffer into each venue in order, up to its headroom,
    each at least the minimum trade; a venue swept cash is withdrawn from takes none. Returns
    the deposits, the base deposits they replaced, and the wallet after them."""
    config = pricing.config
    deposits: list[Transaction] = []
    replaced: set[Key | None] = set()
    for key in into.order:
        surplus = wallet - bounds.buffer
        if surplus < config.min_trade_usd:
            break
        slip = _slip(key, config)
        if key in withdrawn or slip >= ONE:
            continue
        # Room for what arrives after the venue's entry slippage, so that none is left over.
        room = (bounds.cap_value - into.base_after[key] - keep.get(key, ZERO)) / (ONE - slip)
        base_tx = into.base_deposits.get(key)
        gas = ZERO if base_tx is not None else bounds.deposit_gas
        usd = min(room, surplus - gas).quantize(USD_STEP, rounding=ROUND_DOWN)
        if usd < config.min_trade_usd:
            continue
        base_usd = base_tx.amount_usd if base_tx is not None else ZERO
        priced = _price(_Move(key=key, usd=base_usd + usd), selling=False, pricing=pricing)
        if isinstance(priced, SkippedMove):
            continue  # a sweep that cannot pay its way is simply not made
        base_gas = base_tx.estimated_gas_usd if base_tx is not None else ZERO
        if base_tx is not None:
            replaced.add(key)
        deposits.append(priced)
        wallet -= usd + priced.estimated_gas_usd - base_gas
    return deposits, frozenset(replaced), wallet


def _fund_buys(
    buys: list[_Move], cash_available: Decimal, pricing: _Pricing
) -> tuple[list[Transaction], list[SkippedMove]]:
    """Turn buys into transactions, scaling them down until cash covers them and their gas.

    Each round prices the moves once, then either fits, or drops the moves pricing skipped, or
    scales every move down by a factor below one, so the loop ends. A move pricing skips
    (slippage, gas) is dropped for good: it is never scaled back in, since the cash sums were
    made without it. A scaled move is priced again: its gas share grows as it shrinks. Each
    skipped move is recorded once.
    """
    skipped: list[SkippedMove] = []
    moves = list(buys)
    while moves:
        priced = [_price(m, selling=False, pricing=pricing) for m in moves]
        dropped = [p for p in priced if isinstance(p, SkippedMove)]
        if dropped:
            skipped.extend(dropped)
            moves = [m for m, p in zip(moves, priced, strict=True) if isinstance(p, Transaction)]
            continue
        txs = [p for p in priced if isinstance(p, Transaction)]
        gas = sum((t.estimated_gas_usd for t in txs), ZERO)
        wanted = sum((t.amount_usd for t in txs), ZERO)
        if wanted + gas <= cash_available:
            return txs, skipped
        moves, short = _scaled(moves, max(ZERO, cash_available - gas) / wanted, pricing.config)
        skipped.extend(short)
    return [], skipped


def _scaled(
    moves: list[_Move], factor: Decimal, config: PlannerConfig
) -> tuple[list[_Move], list[SkippedMove]]:
    """Each buy scaled by `factor`; one that ends below the minimum trade size is skipped."""
    kept: list[_Move] = []
    skipped: list[SkippedMove] = []
    for move in moves:
        scaled = replace(move, usd=(move.usd * factor).quantize(USD_STEP, rounding=ROUND_DOWN))
        if scaled.usd >= config.min_trade_usd and scaled.usd > 0:
            kept.append(scaled)
            continue
        label = f" ({move.label})" if move.label else ""
        skipped.append(
            SkippedMove(
                description=f"buy {move.key[0]} {move.key[1]}{label}",
                reason="not enough cash after sells and gas to fund it",
            )
        )
    return kept, skipped


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanDraft:
    """What a planner decided: the targets it aims for, its ordered transactions, the moves it
    skipped and its notes, with the plan's kind, risk level and slippage bound.
    `assemble_plan` adds the rest."""

    targets: TargetAllocations
    transactions: tuple[Transaction, ...]
    skipped: tuple[SkippedMove, ...]
    notes: tuple[str, ...]
    risk_level: RiskLevel
    kind: PlanKind = PlanKind.REBALANCE
    max_slippage: Decimal | None = None


def assemble_plan(
    portfolio: PortfolioState,
    draft: PlanDraft,
    *,
    plan_id: str,
    now: datetime,
    config: PlannerConfig,
) -> RebalancingPlan:
    """The plan of `draft`: with the allocations now, its total costs, and whether it needs
    approval (a rebalance above the approval limits does; an emergency exit never does)."""
    transactions = draft.transactions
    reasons = approval_reasons(transactions, config.approval_threshold_usd)
    needs_approval = draft.kind is PlanKind.REBALANCE and bool(reasons)
    return RebalancingPlan(
        plan_id=plan_id,
        created_at=now,
        current_allocations=portfolio.current_allocations(),
        target_allocations=draft.targets,
        required_transactions=transactions,
        estimated_gas_cost=sum((t.estimated_gas_usd for t in transactions), ZERO),
        estimated_slippage=sum((t.estimated_slippage_usd for t in transactions), ZERO),
        requires_approval=needs_approval,
        risk_level=draft.risk_level,
        kind=draft.kind,
        max_slippage=draft.max_slippage,
        skipped=draft.skipped,
        notes=draft.notes,
        approval_reasons=reasons if needs_approval else (),
    )


def plan_emergency_exit(
    portfolio: PortfolioState,
    *,
    prices: PlanningPrices,
    plan_id: str,
    now: datetime,
    reason: str,
    config: PlannerConfig = PlannerConfig(),
) -> RebalancingPlan:
    """Sell every volatile position to the cash stablecoin (the black-swan exit).

    No minimum trade size applies and no approval is needed: the spec asks for an automatic
    exit. Slippage tolerance is the wider emergency bound; a position too large for it is sold
    in as many slices as it needs, each within the bound (see module doc), so that no treasury
    is too large to leave.
    """
    txs: list[Transaction] = []
    skipped: list[SkippedMove] = []
    limit = swap_slice_limit_usd(config.emergency_slippage_tolerance, config)
    gas = config.gas_units[TransactionType.SWAP]
    gas_usd = gas_cost_usd(gas, prices)
    for p in portfolio.positions:
        if not p.is_volatile or p.amount <= 0:
            continue
        whole = _Move(key=p.key, usd=p.value_usd, full_exit=True, units=p.amount)
        pieces, _ = _slices(whole, limit, None, p.unit_price_usd)
        refused = _exit_refused(p, pieces, gas_usd, config)
        if refused is not None:
            skipped.append(refused)
        else:
            txs.extend(_exit_swap(p, piece, gas, gas_usd, config) for piece in pieces)
    base = portfolio.current_allocations()[Bucket.BASE_YIELD]
    draft = PlanDraft(
        targets=TargetAllocations(base_yield=base, tactical=ZERO, cash=ONE - base),
        transactions=tuple(txs),
        skipped=tuple(skipped),
        notes=(f"black-swan exit: {reason}",),
        risk_level=RiskLevel.HIGH,
        kind=PlanKind.EMERGENCY_EXIT,
        max_slippage=config.emergency_slippage_tolerance,
    )
    return assemble_plan(portfolio, draft, plan_id=plan_id, now=now, config=config)


def _exit_refused(
    position: Position, pieces: list[_Move], gas_usd: Decimal, config: PlannerConfig
) -> SkippedMove | None:
    """Why the exit cannot sell `position` in `pieces` (None: it can): its slices' expected
    slippage is above the emergency bound, or a slice would not bring in more than its gas (so
    that cash never goes below zero)."""
    description = f"exit {position.asset} ${position.value_usd:.2f}"
    expected = swap_slippage_fraction(pieces[0].usd, config)
    if expected > config.emergency_slippage_tolerance:
        return SkippedMove(
            description=description,
            reason=f"expected slippage {expected} exceeds the emergency bound",
        )
    if any(gas_usd >= q.usd * (ONE - swap_slippage_fraction(q.usd, config)) for q in pieces):
        return SkippedMove(
            description=description, reason="gas would cost more than the position is worth"
        )
    return None


def _exit_swap(
    position: Position, piece: _Move, gas: int, gas_usd: Decimal, config: PlannerConfig
) -> Transaction:
    """The swap that sells `piece` of `position` to cash within the emergency bound."""
    return Transaction(
        tx_type=TransactionType.SWAP,
        protocol=config.swap_protocol,
        from_asset=position.asset,
        to_asset=config.cash_asset,
        amount=piece.units if piece.units is not None else position.amount,
        amount_usd=piece.usd,
        estimated_gas=gas,
        estimated_gas_usd=gas_usd,
        estimated_slippage_usd=piece.usd * swap_slippage_fraction(piece.usd, config),
        slippage_tolerance=config.emergency_slippage_tolerance,
        chain=position.chain,
        full_exit=piece.full_exit,
    )
