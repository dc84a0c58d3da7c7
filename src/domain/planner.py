"""The rebalancing planner: from current positions and targets to ordered transactions.

Order: withdrawals, then swaps (sells before buys), then deposits, so every step is funded by
the ones before it. Base yield is split across venues by configured weights; each position's
target is clamped below the single-position cap and the tactical total below the volatile cap
(with a little headroom for costs). Moves below the minimum trade size, moves whose expected
slippage exceeds the bound, and moves whose gas exceeds `max_gas_share` of their value are
skipped with the reason recorded; a move that cures a breached cap is exempt from the size and
gas-share rules (not from paying its way). Buys and deposits are scaled down when cash cannot
fund them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from types import MappingProxyType

from domain.allocation import Bucket, TargetAllocations, weights_sum_to_one
from domain.errors import InvalidValue, PlanInfeasible
from domain.market import STABLECOINS, VOLATILE_ASSETS
from domain.money import ONE, ZERO, require_fraction, require_no_floats, require_non_negative
from domain.plans import PlanKind, RebalancingPlan, SkippedMove, Transaction, TransactionType
from domain.portfolio import WALLET, PortfolioState
from domain.projection import Key, holdings_of
from domain.signals import RiskLevel

GWEI = Decimal("0.000000001")
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
    approval_threshold_usd: Decimal = Decimal(50_000)
    max_single_position_share: Decimal = Decimal("0.25")
    max_volatile_share: Decimal = Decimal("0.40")
    limit_headroom: Decimal = Decimal("0.005")
    max_gas_share: Decimal = Decimal("0.01")

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
        ):
            require_fraction(getattr(self, name), name)
        if self.cash_asset.upper() not in STABLECOINS:
            raise InvalidValue("cash_asset", self.cash_asset, "must be a stablecoin")


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


def gas_cost_usd(gas_units: int, prices: PlanningPrices) -> Decimal:
    """USD cost of `gas_units` at the planning gas price."""
    return Decimal(gas_units) * prices.gas_price_gwei * GWEI * prices.eth_usd


def swap_slippage_fraction(amount_usd: Decimal, config: PlannerConfig) -> Decimal:
    """Expected slippage (fee plus price impact) of a swap, growing with its size."""
    return config.swap_slippage_base + config.swap_slippage_per_million_usd * amount_usd / Decimal(
        1_000_000
    )


def desired_values(
    total: Decimal, targets: TargetAllocations, config: PlannerConfig
) -> tuple[dict[Key, Decimal], list[str]]:
    """USD wanted in each position, clamped below the caps; the notes say what was clamped."""
    notes: list[str] = []
    position_cap = (config.max_single_position_share - config.limit_headroom) * total
    volatile_share = targets.tactical
    volatile_limit = config.max_volatile_share - config.limit_headroom
    if volatile_share > volatile_limit:
        notes.append(f"tactical target {volatile_share} clamped to {volatile_limit} (volatile cap)")
        volatile_share = volatile_limit
    desired: dict[Key, Decimal] = {}
    for venue in config.venues:
        want = total * targets.base_yield * venue.weight
        if want > position_cap:
            notes.append(f"{venue.protocol} {venue.asset} clamped to the single-position cap")
            want = position_cap
        desired[venue.key] = want
    for tactical in config.tactical_assets:
        want = total * volatile_share * tactical.weight
        if want > position_cap:
            notes.append(f"{tactical.asset} clamped to the single-position cap")
            want = position_cap
        desired[(WALLET, tactical.asset)] = want
    return desired, notes


def _venue_for(key: Key, config: PlannerConfig) -> YieldVenue | None:
    return next((v for v in config.venues if v.key == key), None)


def _tolerance(config: PlannerConfig, max_slippage: Decimal | None) -> Decimal:
    if max_slippage is None:
        return config.default_slippage_tolerance
    return min(config.default_slippage_tolerance, max_slippage)


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
) -> RebalancingPlan:
    """Build the ordered plan that moves `portfolio` to `targets` (see module doc).

    Raises:
        PlanInfeasible: a price needed to size a move is unknown.
        InvalidValue: max_slippage is outside [0, 1].
    """
    if max_slippage is not None:
        require_fraction(max_slippage, "max_slippage")
    total = portfolio.total_value_usd
    tolerance = _tolerance(config, max_slippage)
    desired, notes = desired_values(total, targets, config)
    current = holdings_of(portfolio)
    positions = {p.key: p for p in portfolio.positions}
    shares = {k: (v / total if total > 0 else ZERO) for k, v in current.items()}
    volatile_now = portfolio.volatile_value() / total if total > 0 else ZERO
    skipped: list[SkippedMove] = []

    sells: list[_Move] = []
    buys: list[_Move] = []
    for key in sorted(set(current) | set(desired)):
        if key[0] == WALLET and key[1].upper() in STABLECOINS:
            continue  # wallet stablecoins are cash, not a position to trade
        have = current.get(key, ZERO)
        want = desired.get(key, ZERO)
        delta = want - have
        if delta == 0:
            continue
        cures_breach = delta < 0 and (
            shares.get(key, ZERO) > config.max_single_position_share
            or (key[1].upper() in VOLATILE_ASSETS and volatile_now > config.max_volatile_share)
        )
        if abs(delta) < config.min_trade_usd and not cures_breach:
            if abs(delta) > 0:
                skipped.append(
                    SkippedMove(
                        description=f"{key[0]} {key[1]} by ${abs(delta):.2f}",
                        reason=f"below the minimum trade size ${config.min_trade_usd}",
                    )
                )
            continue
        if delta < 0:
            full_exit = want == 0
            sells.append(
                _Move(
                    key=key,
                    usd=have if full_exit else -delta,
                    full_exit=full_exit,
                    cures_breach=cures_breach,
                )
            )
        else:
            buys.append(_Move(key=key, usd=delta))

    def make(move: _Move, selling: bool) -> Transaction | None:
        protocol, asset = move.key
        volatile = asset.upper() in VOLATILE_ASSETS
        if selling:
            position = positions.get(move.key)
            unit_price = position.unit_price_usd if position is not None else ZERO
            if unit_price <= 0:
                unit_price = prices.price(asset)
            amount = (
                position.amount
                if move.full_exit and position is not None
                else move.usd / unit_price
            )
            if volatile:
                tx_type, venue_protocol = TransactionType.SWAP, config.swap_protocol
                from_asset, to_asset = asset, config.cash_asset
            else:
                tx_type, venue_protocol = TransactionType.WITHDRAW, protocol
                from_asset, to_asset = asset, config.cash_asset
        else:
            amount = move.usd / prices.price(config.cash_asset)
            from_asset = config.cash_asset
            if volatile:
                prices.price(asset)  # a buy must know its price
                tx_type, venue_protocol, to_asset = (
                    TransactionType.SWAP,
                    config.swap_protocol,
                    asset,
                )
            else:
                venue = _venue_for(move.key, config)
                to_asset = venue.asset if venue else asset
                tx_type, venue_protocol = TransactionType.DEPOSIT, protocol
        if tx_type is TransactionType.SWAP:
            expected = swap_slippage_fraction(move.usd, config)
        else:
            expected = config.protocol_slippage.get(venue_protocol, ZERO)
        limit = tolerance
        if expected > limit:
            skipped.append(
                SkippedMove(
                    description=f"{tx_type.value} {from_asset}->{to_asset} ${move.usd:.2f}",
                    reason=f"expected slippage {expected} exceeds the bound {limit}",
                )
            )
            return None
        gas = config.gas_units[tx_type]
        gas_usd = gas_cost_usd(gas, prices)
        too_costly = gas_usd > move.usd * config.max_gas_share
        # A move that cures a breached cap may pay more gas, but never more than it brings in.
        if (too_costly and not move.cures_breach) or gas_usd >= move.usd * (ONE - expected):
            skipped.append(
                SkippedMove(
                    description=f"{tx_type.value} {from_asset}->{to_asset} ${move.usd:.2f}",
                    reason=f"gas ${gas_usd:.2f} exceeds {config.max_gas_share} of the move's value",
                )
            )
            return None
        chain = positions[move.key].chain if move.key in positions else "ethereum"
        return Transaction(
            tx_type=tx_type,
            protocol=venue_protocol,
            from_asset=from_asset,
            to_asset=to_asset,
            amount=amount,
            amount_usd=move.usd,
            estimated_gas=gas,
            estimated_gas_usd=gas_usd,
            estimated_slippage_usd=move.usd * expected,
            slippage_tolerance=limit,
            chain=chain,
            full_exit=move.full_exit,
        )

    sell_txs = [tx for m in sells if (tx := make(m, selling=True)) is not None]
    cash_after_sells = (
        portfolio.cash_balance
        + sum((t.amount_usd - t.estimated_slippage_usd for t in sell_txs), ZERO)
        - sum((t.estimated_gas_usd for t in sell_txs), ZERO)
    )
    buy_txs = _fund_buys(buys, cash_after_sells, make, config, skipped)
    ordered = (
        [t for t in sell_txs if t.tx_type is TransactionType.WITHDRAW]
        + [t for t in sell_txs if t.tx_type is TransactionType.SWAP]
        + [t for t in buy_txs if t.tx_type is TransactionType.SWAP]
        + [t for t in buy_txs if t.tx_type is TransactionType.DEPOSIT]
    )
    return _assemble(
        portfolio=portfolio,
        targets=targets,
        transactions=tuple(ordered),
        plan_id=plan_id,
        now=now,
        config=config,
        max_slippage=max_slippage,
        risk_level=risk_level,
        skipped=tuple(skipped),
        notes=tuple(notes),
        kind=PlanKind.REBALANCE,
    )


def _fund_buys(
    buys: list[_Move],
    cash_available: Decimal,
    build: Callable[[_Move, bool], Transaction | None],
    config: PlannerConfig,
    skipped: list[SkippedMove],
) -> list[Transaction]:
    """Turn buys into transactions, scaling them down until cash covers them and their gas.

    Each round either fits, or drops the moves that scaling would push below the minimum
    trade size (which also frees their gas), so it ends within len(buys) + 1 rounds.
    """
    moves = list(buys)
    while moves:
        txs = [tx for m in moves if (tx := build(m, False)) is not None]
        gas = sum((t.estimated_gas_usd for t in txs), ZERO)
        wanted = sum((t.amount_usd for t in txs), ZERO)
        if wanted + gas <= cash_available:
            return txs
        spendable = max(ZERO, cash_available - gas)
        factor = spendable / wanted
        scaled = [
            _Move(key=m.key, usd=(m.usd * factor).quantize(USD_STEP, rounding=ROUND_DOWN))
            for m in moves
        ]
        kept = [m for m in scaled if m.usd >= config.min_trade_usd and m.usd > 0]
        for m in scaled:
            if m not in kept:
                skipped.append(
                    SkippedMove(
                        description=f"buy {m.key[0]} {m.key[1]}",
                        reason="not enough cash after sells and gas to fund it",
                    )
                )
        if len(kept) == len(moves):
            # Rounded down, the scaled amounts plus the same gas fit the cash available.
            return [tx for m in kept if (tx := build(m, False)) is not None]
        moves = kept
    return []


def _assemble(
    *,
    portfolio: PortfolioState,
    targets: TargetAllocations,
    transactions: tuple[Transaction, ...],
    plan_id: str,
    now: datetime,
    config: PlannerConfig,
    max_slippage: Decimal | None,
    risk_level: RiskLevel,
    skipped: tuple[SkippedMove, ...],
    notes: tuple[str, ...],
    kind: PlanKind,
) -> RebalancingPlan:
    large = [t for t in transactions if t.amount_usd > config.approval_threshold_usd]
    needs_approval = kind is PlanKind.REBALANCE and bool(large)
    reasons = tuple(
        f"{t.describe()} exceeds the ${config.approval_threshold_usd} approval limit" for t in large
    )
    return RebalancingPlan(
        plan_id=plan_id,
        created_at=now,
        current_allocations=portfolio.current_allocations(),
        target_allocations=targets,
        required_transactions=transactions,
        estimated_gas_cost=sum((t.estimated_gas_usd for t in transactions), ZERO),
        estimated_slippage=sum((t.estimated_slippage_usd for t in transactions), ZERO),
        requires_approval=needs_approval,
        risk_level=risk_level,
        kind=kind,
        max_slippage=max_slippage,
        skipped=skipped,
        notes=notes,
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
    exit. Slippage tolerance is the wider emergency bound.
    """
    txs: list[Transaction] = []
    skipped: list[SkippedMove] = []
    for p in portfolio.positions:
        if not p.is_volatile or p.amount <= 0:
            continue
        expected = swap_slippage_fraction(p.value_usd, config)
        if expected > config.emergency_slippage_tolerance:
            skipped.append(
                SkippedMove(
                    description=f"exit {p.asset} ${p.value_usd:.2f}",
                    reason=f"expected slippage {expected} exceeds the emergency bound",
                )
            )
            continue
        gas = config.gas_units[TransactionType.SWAP]
        if gas_cost_usd(gas, prices) > p.value_usd:
            skipped.append(
                SkippedMove(
                    description=f"exit {p.asset} ${p.value_usd:.2f}",
                    reason="gas would cost more than the position is worth",
                )
            )
            continue
        txs.append(
            Transaction(
                tx_type=TransactionType.SWAP,
                protocol=config.swap_protocol,
                from_asset=p.asset,
                to_asset=config.cash_asset,
                amount=p.amount,
                amount_usd=p.value_usd,
                estimated_gas=gas,
                estimated_gas_usd=gas_cost_usd(gas, prices),
                estimated_slippage_usd=p.value_usd * expected,
                slippage_tolerance=config.emergency_slippage_tolerance,
                chain=p.chain,
                full_exit=True,
            )
        )
    base = portfolio.current_allocations()
    targets = TargetAllocations(
        base_yield=base[Bucket.BASE_YIELD],
        tactical=ZERO,
        cash=ONE - base[Bucket.BASE_YIELD],
    )
    return _assemble(
        portfolio=portfolio,
        targets=targets,
        transactions=tuple(txs),
        plan_id=plan_id,
        now=now,
        config=config,
        max_slippage=config.emergency_slippage_tolerance,
        risk_level=RiskLevel.HIGH,
        skipped=tuple(skipped),
        notes=(f"black-swan exit: {reason}",),
        kind=PlanKind.EMERGENCY_EXIT,
    )
