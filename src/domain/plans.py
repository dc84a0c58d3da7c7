"""Rebalancing plans and the transactions they are made of, and how much money a plan moves.

The spec's "all large moves (>$50K) require human approval" is judged on two measures, so that
splitting a move into legs under the limit does not dodge it (see `approval_reasons`):
- the largest single transaction, and
- the plan's traded notional: every swap counted in full, plus the larger of the total withdrawn
  from yield venues and the total deposited into them. Deploying $120K of cash in five legs of
  $24K trades $120K; moving $70K out of two venues into two others trades $70K, however it is
  split. Money that passes through cash on its way between venues is counted once.

Stablecoins in the wallet are cash (as in `domain.portfolio.bucket_of`): a swap from or into a
stablecoin draws or fills cash, whichever stablecoin the treasury keeps its cash in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from domain.allocation import Bucket, TargetAllocations
from domain.errors import InvalidValue
from domain.market import STABLECOINS
from domain.money import (
    ZERO,
    require_aware,
    require_fraction,
    require_no_floats,
    require_non_negative,
)
from domain.signals import RiskLevel

APPROVAL_THRESHOLD_USD = Decimal(50_000)


class TransactionType(StrEnum):
    """What a planned transaction does."""

    DEPOSIT = "deposit"
    WITHDRAW = "withdraw"
    SWAP = "swap"


class PlanKind(StrEnum):
    """A normal rebalance, or the black-swan exit of volatile positions."""

    REBALANCE = "rebalance"
    EMERGENCY_EXIT = "emergency_exit"


@dataclass(frozen=True, slots=True, kw_only=True)
class Transaction:
    """One planned move, in the spec's fields plus exact USD figures.

    `amount` is in `from_asset` units; `amount_usd` its value. `estimated_gas` is gas units,
    `estimated_gas_usd` and `estimated_slippage_usd` the expected costs.
    `slippage_tolerance` is the fraction the on-chain minimum output allows. `market` names
    which of a venue's markets the move trades (a Pendle market address, for a roll); None is
    the venue's current one.
    """

    tx_type: TransactionType
    protocol: str
    from_asset: str
    to_asset: str
    amount: Decimal
    amount_usd: Decimal
    estimated_gas: int
    estimated_gas_usd: Decimal
    estimated_slippage_usd: Decimal
    slippage_tolerance: Decimal
    chain: str = "ethereum"
    full_exit: bool = False
    market: str | None = None

    def __post_init__(self) -> None:
        require_no_floats(self)
        if self.market is not None and not self.market:
            raise InvalidValue("market", self.market, "name a market, or leave it unset")
        if self.amount <= 0:
            raise InvalidValue("amount", self.amount, "must be positive")
        require_non_negative(self.amount_usd, "amount_usd")
        if self.estimated_gas < 0:
            raise InvalidValue("estimated_gas", self.estimated_gas, "must not be negative")
        require_non_negative(self.estimated_gas_usd, "estimated_gas_usd")
        require_non_negative(self.estimated_slippage_usd, "estimated_slippage_usd")
        require_fraction(self.slippage_tolerance, "slippage_tolerance")
        if self.tx_type is TransactionType.SWAP and self.from_asset == self.to_asset:
            raise InvalidValue("to_asset", self.to_asset, "a swap must change the asset")

    @property
    def source_key(self) -> tuple[str, str] | None:
        """The (protocol, asset) position this move draws from; None when it draws cash.

        Every wallet stablecoin is cash, not only USDC: the depeg exit may sell into USDT or DAI.
        """
        if self.tx_type is TransactionType.WITHDRAW:
            return (self.protocol, self.from_asset)
        if self.tx_type is TransactionType.SWAP and self.from_asset.upper() not in STABLECOINS:
            return ("wallet", self.from_asset)
        return None

    @property
    def destination_key(self) -> tuple[str, str] | None:
        """The (protocol, asset) position this move fills; None when it lands in cash."""
        if self.tx_type is TransactionType.DEPOSIT:
            return (self.protocol, self.to_asset)
        if self.tx_type is TransactionType.SWAP and self.to_asset.upper() not in STABLECOINS:
            return ("wallet", self.to_asset)
        return None

    def describe(self) -> str:
        """One line a human can read."""
        market = f" market {self.market}" if self.market else ""
        return (
            f"{self.tx_type.value} {self.amount.normalize():f} {self.from_asset} -> "
            f"{self.to_asset} via {self.protocol}{market} "
            f"(${self.amount_usd.quantize(Decimal('0.01'))})"
        )


def traded_notional_usd(transactions: Iterable[Transaction]) -> Decimal:
    """Every swap in full, plus the larger of the total withdrawn and the total deposited."""
    swapped = withdrawn = deposited = ZERO
    for t in transactions:
        if t.tx_type is TransactionType.SWAP:
            swapped += t.amount_usd
        elif t.tx_type is TransactionType.WITHDRAW:
            withdrawn += t.amount_usd
        else:
            deposited += t.amount_usd
    return swapped + max(withdrawn, deposited)


def approval_reasons(transactions: Sequence[Transaction], limit: Decimal) -> tuple[str, ...]:
    """Why a plan of these transactions needs a human: a single move, or the total, above `limit`.

    Empty when neither is above it. Both the planner (the plan's `requires_approval`) and the
    safety policy (its approval rules) judge a plan by this one measure.
    """
    reasons = [
        f"{t.describe()} exceeds the ${limit:,.0f} approval limit"
        for t in transactions
        if t.amount_usd > limit
    ]
    total = traded_notional_usd(transactions)
    if total > limit:
        reasons.append(
            f"the plan trades ${total:,.2f} in total, above the ${limit:,.0f} approval limit"
        )
    return tuple(reasons)


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedMove:
    """A move the planner left out, and why."""

    description: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RebalancingPlan:
    """The spec's RebalancingPlan: ordered transactions from current to target allocations."""

    plan_id: str
    created_at: datetime
    current_allocations: Mapping[Bucket, Decimal]
    target_allocations: TargetAllocations
    required_transactions: tuple[Transaction, ...]
    estimated_gas_cost: Decimal
    estimated_slippage: Decimal
    requires_approval: bool
    risk_level: RiskLevel
    kind: PlanKind = PlanKind.REBALANCE
    max_slippage: Decimal | None = None
    skipped: tuple[SkippedMove, ...] = ()
    notes: tuple[str, ...] = ()
    approval_reasons: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        require_no_floats(self)
        if not self.plan_id:
            raise InvalidValue("plan_id", self.plan_id, "must not be empty")
        require_aware(self.created_at, "created_at")
        require_non_negative(self.estimated_gas_cost, "estimated_gas_cost")
        require_non_negative(self.estimated_slippage, "estimated_slippage")
        if self.max_slippage is not None:
            require_fraction(self.max_slippage, "max_slippage")
        object.__setattr__(
            self, "current_allocations", MappingProxyType(dict(self.current_allocations))
        )

    @property
    def is_empty(self) -> bool:
        """Whether the plan moves nothing."""
        return not self.required_transactions

    @property
    def largest_move_usd(self) -> Decimal:
        """The USD size of the largest single transaction."""
        return max((t.amount_usd for t in self.required_transactions), default=ZERO)

    @property
    def traded_notional_usd(self) -> Decimal:
        """Every swap in full plus the larger of withdrawals and deposits (see module doc)."""
        return traded_notional_usd(self.required_transactions)

    @property
    def total_cost_usd(self) -> Decimal:
        """Estimated gas plus slippage."""
        return self.estimated_gas_cost + self.estimated_slippage
