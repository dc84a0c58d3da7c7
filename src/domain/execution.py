"""What the execution engine records of every on-chain step, so that a crash loses nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from domain.errors import InvalidValue
from domain.money import require_aware, require_non_negative


class StepStatus(StrEnum):
    """A step's life: intent persisted, signed, broadcast, then confirmed or failed."""

    PLANNED = "planned"
    SIGNED = "signed"
    BROADCAST = "broadcast"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    DROPPED = "dropped"
    REPLACED = "replaced"


UNFINISHED_STATUSES = frozenset({StepStatus.PLANNED, StepStatus.SIGNED, StepStatus.BROADCAST})

SENT_STATUSES = frozenset({StepStatus.BROADCAST, StepStatus.CONFIRMED})
"""A step in one of these went out to the chain: a trade in one counts against the day's
transaction limit."""


def utc_day(day: date) -> tuple[datetime, datetime]:
    """The UTC calendar day as a half-open window: its first instant and the next day's."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


class StepKind(StrEnum):
    """What an on-chain step does. The values are what the database stores: never rename them.

    An approval lets a contract spend a token; it moves no money, so it is never a trade (it
    does not count toward the trades-per-day limit, the trade history or a plan's outcome).
    """

    APPROVE = "approve"
    DEPOSIT = "deposit"
    WITHDRAW = "withdraw"
    SWAP = "swap"
    REDEEM = "redeem"
    TRANSFER = "transfer"

    @property
    def is_trade(self) -> bool:
        """Whether a step of this kind moves money (everything but an approval)."""
        return self is not StepKind.APPROVE


TX_EXPLORERS: Mapping[int, str] = {
    1: "https://etherscan.io/tx/",
    10: "https://optimistic.etherscan.io/tx/",
    42161: "https://arbiscan.io/tx/",
    8453: "https://basescan.org/tx/",
}
"""Block explorer transaction URL prefixes by chain id (the dev chain has none)."""


def explorer_url(
    chain_id: int, tx_hash: str | None, explorers: Mapping[int, str] = TX_EXPLORERS
) -> str | None:
    """The block explorer page of a transaction, when it has a hash and its chain an explorer."""
    base = explorers.get(chain_id)
    return f"{base}{tx_hash}" if base and tx_hash else None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutedTransaction:
    """One on-chain step of a plan: approve, deposit, withdraw or swap.

    Gas figures are gas units; `effective_gas_price_wei` is what the receipt charged.
    `gas_cost_usd` is the actual cost once confirmed.
    """

    id: str
    plan_id: str
    step_index: int
    chain_id: int
    kind: StepKind
    description: str
    status: StepStatus
    amount_usd: Decimal
    created_at: datetime
    updated_at: datetime
    to_address: str | None = None
    from_address: str | None = None
    nonce: int | None = None
    tx_hash: str | None = None
    gas_estimated: int | None = None
    gas_used: int | None = None
    effective_gas_price_wei: int | None = None
    gas_cost_usd: Decimal | None = None
    block_number: int | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if not self.id or not self.plan_id:
            raise InvalidValue("id", self.id, "id and plan_id are required")
        try:
            # A row or an older caller may give the stored string; keep the enum.
            object.__setattr__(self, "kind", StepKind(self.kind))
        except ValueError:
            raise InvalidValue("kind", self.kind, f"must be one of {', '.join(StepKind)}") from None
        if self.step_index < 0:
            raise InvalidValue("step_index", self.step_index, "must be >= 0")
        require_non_negative(self.amount_usd, "amount_usd")
        require_aware(self.created_at, "created_at")
        require_aware(self.updated_at, "updated_at")
        if self.nonce is not None and self.nonce < 0:
            raise InvalidValue("nonce", self.nonce, "must be >= 0")

    @property
    def is_trade(self) -> bool:
        """Whether this step moves money: an approval is not a trade."""
        return self.kind.is_trade

    @property
    def finished(self) -> bool:
        """Whether this step needs no more work."""
        return self.status not in UNFINISHED_STATUSES

    def advance(self, status: StepStatus, now: datetime, **changes: object) -> ExecutedTransaction:
        """A copy with a new status, update time and any other changed fields."""
        return replace(self, status=status, updated_at=now, **changes)  # type: ignore[arg-type]


class PlanOutcome(StrEnum):
    """What a plan's steps amount to once every one of them is finished."""

    EXECUTED = "executed"
    PARTIALLY_EXECUTED = "partially_executed"
    FAILED = "failed"


def plan_outcome(steps: Sequence[ExecutedTransaction]) -> PlanOutcome:
    """Executed when every step confirmed (or was dropped by the gas rule); partially executed
    when a step that moves money (not an approval) confirmed and another did not; else failed
    (nothing moved: no steps, or only approvals landed).

    Raises:
        InvalidValue: a step is not finished yet (settle it first).
    """
    for step in steps:
        if not step.finished:
            raise InvalidValue("steps", step.id, f"step is still {step.status.value}")
    if steps and all(s.status in (StepStatus.CONFIRMED, StepStatus.DROPPED) for s in steps):
        return PlanOutcome.EXECUTED
    return PlanOutcome.PARTIALLY_EXECUTED if moved_money(steps) else PlanOutcome.FAILED


def moved_money(steps: Sequence[ExecutedTransaction]) -> bool:
    """Whether a step that moves money (anything but an approval) confirmed on chain."""
    return any(s.status is StepStatus.CONFIRMED and s.is_trade for s in steps)
