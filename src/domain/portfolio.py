"""Positions and the portfolio state, as the spec models them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from domain.allocation import Bucket, TargetAllocations, shares
from domain.errors import InvalidValue
from domain.market import STABLECOINS, VOLATILE_ASSETS
from domain.money import ZERO, require_aware, require_no_floats, require_non_negative

WALLET = "wallet"
VALUE_TOLERANCE = Decimal("0.000001")


def bucket_of(protocol: str, asset: str) -> Bucket:
    """Classify a holding: volatile assets are tactical, wallet stablecoins are cash, the rest
    (positions in yield protocols) is base yield."""
    if asset.upper() in VOLATILE_ASSETS:
        return Bucket.TACTICAL
    if protocol == WALLET and asset.upper() in STABLECOINS:
        return Bucket.CASH
    return Bucket.BASE_YIELD


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """A holding in one protocol (or the wallet for tactical BTC/ETH).

    `amount` is in the asset's own units (USDC, WBTC, Curve LP, PT); `apy` and
    `current_return` are fractions (0.065 is 6.5 %); `cost_basis_usd` is what entering cost.
    """

    protocol: str
    asset: str
    amount: Decimal
    value_usd: Decimal
    apy: Decimal
    entered_at: datetime
    current_return: Decimal = ZERO
    chain: str = "ethereum"
    cost_basis_usd: Decimal | None = None

    def __post_init__(self) -> None:
        require_no_floats(self)
        if not self.protocol or not self.asset:
            raise InvalidValue(
                "position", (self.protocol, self.asset), "protocol and asset are required"
            )
        require_non_negative(self.amount, "amount")
        require_non_negative(self.value_usd, "value_usd")
        require_aware(self.entered_at, "entered_at")
        if self.apy < -1:
            raise InvalidValue("apy", self.apy, "cannot be below -100 %")
        if self.cost_basis_usd is not None:
            require_non_negative(self.cost_basis_usd, "cost_basis_usd")

    @property
    def key(self) -> tuple[str, str]:
        """(protocol, asset): what identifies a position within one chain."""
        return (self.protocol, self.asset)

    @property
    def bucket(self) -> Bucket:
        """The bucket this position counts towards."""
        return bucket_of(self.protocol, self.asset)

    @property
    def unit_price_usd(self) -> Decimal:
        """Value of one unit of the asset (zero for an empty position)."""
        return self.value_usd / self.amount if self.amount > 0 else ZERO

    @property
    def is_volatile(self) -> bool:
        """Whether the asset is BTC/ETH exposure."""
        return self.asset.upper() in VOLATILE_ASSETS


@dataclass(frozen=True, slots=True, kw_only=True)
class AllocationLine:
    """One bucket's current share beside its target share."""

    current: Decimal
    target: Decimal | None


STALE_POSITIONS = "stale_positions"
STALE_PREFIX = "stale:"


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioState:
    """The whole treasury at one moment: positions, idle stablecoins, allocations and returns.

    `cash_balance` is idle stablecoins in USD; `total_value_usd` must equal positions plus
    cash. Performance figures are time-weighted fractions, None when history is too short.
    `net_flow_usd` is capital that arrived from outside since the previous snapshot (deposit +,
    withdrawal -; zero for trades and yield), already included in `total_value_usd`, so that
    time-weighted returns do not count it as performance.
    """

    total_value_usd: Decimal
    positions: tuple[Position, ...]
    cash_balance: Decimal
    allocations: Mapping[Bucket, AllocationLine]
    last_rebalance: datetime | None
    performance_24h: Decimal | None = None
    performance_7d: Decimal | None = None
    performance_30d: Decimal | None = None
    as_of: datetime | None = None
    cash_asset: str = "USDC"
    extra: Mapping[str, str] = field(default_factory=dict)
    net_flow_usd: Decimal = ZERO

    def __post_init__(self) -> None:
        require_no_floats(self)
        require_non_negative(self.cash_balance, "cash_balance")
        require_non_negative(self.total_value_usd, "total_value_usd")
        if not self.net_flow_usd.is_finite():
            raise InvalidValue("net_flow_usd", self.net_flow_usd, "must be finite")
        if self.total_value_usd - self.net_flow_usd < ZERO:
            raise InvalidValue(
                "net_flow_usd",
                self.net_flow_usd,
                f"a deposit cannot exceed the total {self.total_value_usd} that includes it",
            )
        positions_value = sum((p.value_usd for p in self.positions), ZERO)
        if abs(positions_value + self.cash_balance - self.total_value_usd) > VALUE_TOLERANCE:
            raise InvalidValue(
                "total_value_usd",
                self.total_value_usd,
                f"must equal positions ({positions_value}) plus cash ({self.cash_balance})",
            )
        distinct_holdings(self.positions)
        if self.last_rebalance is not None:
            require_aware(self.last_rebalance, "last_rebalance")
        if self.as_of is not None:
            require_aware(self.as_of, "as_of")
        object.__setattr__(self, "allocations", MappingProxyType(dict(self.allocations)))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    @classmethod
    def build(
        cls,
        *,
        positions: tuple[Position, ...],
        cash_balance: Decimal,
        target: TargetAllocations | None = None,
        last_rebalance: datetime | None = None,
        as_of: datetime | None = None,
        performance: tuple[Decimal | None, Decimal | None, Decimal | None] = (None, None, None),
        net_flow_usd: Decimal = ZERO,
    ) -> PortfolioState:
        """Build a state whose total and allocations are computed from the positions."""
        require_non_negative(cash_balance, "cash_balance")
        total = sum((p.value_usd for p in positions), ZERO) + cash_balance
        current = shares(bucket_values(positions, cash_balance))
        allocations = {
            b: AllocationLine(current=current[b], target=target.of(b) if target else None)
            for b in Bucket
        }
        return cls(
            total_value_usd=total,
            positions=positions,
            cash_balance=cash_balance,
            allocations=allocations,
            last_rebalance=last_rebalance,
            performance_24h=performance[0],
            performance_7d=performance[1],
            performance_30d=performance[2],
            as_of=as_of,
            net_flow_usd=net_flow_usd,
        )

    def bucket_values(self) -> dict[Bucket, Decimal]:
        """USD value held in each bucket."""
        return bucket_values(self.positions, self.cash_balance)

    def current_allocations(self) -> dict[Bucket, Decimal]:
        """Each bucket's share of the total."""
        return shares(self.bucket_values())

    def position_shares(self) -> dict[tuple[str, str], Decimal]:
        """Each position's share of the total, keyed by (protocol, asset)."""
        if self.total_value_usd <= 0:
            return {p.key: ZERO for p in self.positions}
        shares_by_key: dict[tuple[str, str], Decimal] = {}
        for p in self.positions:
            shares_by_key[p.key] = (
                shares_by_key.get(p.key, ZERO) + p.value_usd / self.total_value_usd
            )
        return shares_by_key

    def volatile_value(self) -> Decimal:
        """USD value in BTC/ETH exposure."""
        return sum((p.value_usd for p in self.positions if p.is_volatile), ZERO)

    def stale_positions(self) -> dict[tuple[str, str], str]:
        """Positions shown at an earlier reading because their protocol could not be read now,
        keyed (protocol, asset), with why and when (see `with_stale_positions`)."""
        labels = [x for x in self.extra.get(STALE_POSITIONS, "").split(",") if "/" in x]
        found: dict[tuple[str, str], str] = {}
        for label in labels:
            protocol, asset = label.split("/", 1)
            found[(protocol, asset)] = self.extra.get(f"{STALE_PREFIX}{label}", "")
        return found

    def with_stale_positions(self, stale: Mapping[tuple[str, str], str]) -> PortfolioState:
        """This state with `stale` (position key to why and when it was last read) recorded in
        `extra`: `stale_positions` lists `protocol/asset` labels, `stale:<label>` says why."""
        if not stale:
            return self
        labels = {f"{protocol}/{asset}": reason for (protocol, asset), reason in stale.items()}
        flags = {f"{STALE_PREFIX}{label}": reason for label, reason in labels.items()}
        return replace(self, extra={**self.extra, **flags, STALE_POSITIONS: ",".join(labels)})


def distinct_holdings(positions: Iterable[Position]) -> list[tuple[str, str, str]]:
    """Each position's (chain, protocol, asset), in order: a holding is listed once.

    Raises:
        InvalidValue: two positions are the same holding.
    """
    keys = [(p.chain, p.protocol, p.asset) for p in positions]
    if len(set(keys)) != len(keys):
        raise InvalidValue("positions", keys, "each (chain, protocol, asset) appears once")
    return keys


def snapshot_time(state: PortfolioState) -> datetime:
    """The time a stored snapshot is filed under (its `as_of`).

    Raises:
        InvalidValue: the state has no `as_of`.
    """
    if state.as_of is None:
        raise InvalidValue("as_of", None, "a snapshot needs its time")
    return state.as_of


def bucket_values(positions: tuple[Position, ...], cash_balance: Decimal) -> dict[Bucket, Decimal]:
    """USD value per bucket from positions plus idle cash."""
    values = {b: ZERO for b in Bucket}
    for p in positions:
        values[p.bucket] += p.value_usd
    values[Bucket.CASH] += cash_balance
    return values
