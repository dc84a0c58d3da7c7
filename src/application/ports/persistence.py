"""Persistence ports: repositories for everything the treasury must remember, and the unit of
work that commits them together with their audit entries.

`async with uow:` opens one transaction; leaving the block without `await uow.commit()` rolls
everything back. Repositories are attributes of the unit of work and only work inside it.
Adapters: `adapters.persistence.memory` (tests) and `adapters.persistence` (SQLAlchemy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Protocol, Self

from domain.audit import AuditEntry
from domain.budget import BreakerState, SlippageBudgetState
from domain.decisions import Decision, DecisionStatus
from domain.errors import InvalidValue
from domain.execution import ExecutedTransaction
from domain.market import MarketData
from domain.money import require_aware
from domain.performance import EquityPoint
from domain.plans import RebalancingPlan
from domain.portfolio import PortfolioState, Position
from domain.signals import AllocationSignal
from domain.tactical import RatchetState

EMERGENCY_STOP = "emergency_stop"
"""The operator flag that halts all execution."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorFlag:
    """An on/off switch an operator sets (the emergency stop), with who, why and when."""

    name: str
    active: bool
    set_by: str
    reason: str
    set_at: datetime

    def __post_init__(self) -> None:
        if not self.name or not self.set_by:
            raise InvalidValue("flag", (self.name, self.set_by), "name and set_by are required")
        require_aware(self.set_at, "set_at")


@dataclass(frozen=True, slots=True, kw_only=True)
class ManualMvrv:
    """An MVRV Z value typed in by an operator when the data source is down."""

    value: Decimal
    set_at: datetime
    set_by: str

    def __post_init__(self) -> None:
        require_aware(self.set_at, "set_at")
        if not self.set_by:
            raise InvalidValue("set_by", self.set_by, "must be named")


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionOutcome:
    """How a decision turned out after `horizon_days`: the portfolio's return against what
    holding the previous allocation would have returned (fractions; 0.02 is 2 %)."""

    decision_id: str
    horizon_days: int
    portfolio_return: Decimal
    hold_return: Decimal
    measured_at: datetime

    def __post_init__(self) -> None:
        if not self.decision_id:
            raise InvalidValue("decision_id", self.decision_id, "must not be empty")
        if self.horizon_days < 1:
            raise InvalidValue("horizon_days", self.horizon_days, "must be 1 or more")
        require_aware(self.measured_at, "measured_at")

    @property
    def excess_return(self) -> Decimal:
        """Portfolio return minus the hold return: what the decision added."""
        return self.portfolio_return - self.hold_return


class PortfolioSnapshotRepository(Protocol):
    """Point-in-time copies of the whole PortfolioState; metrics read them."""

    async def add(self, state: PortfolioState) -> None:
        """Store a snapshot; `state.as_of` must be set.

        Raises:
            InvalidValue: the state has no `as_of`.
        """
        ...

    async def latest(self) -> PortfolioState | None:
        """The newest snapshot, if any."""
        ...

    async def between(self, start: datetime, end: datetime) -> list[PortfolioState]:
        """Snapshots with start <= as_of <= end, oldest first."""
        ...

    async def equity_between(self, start: datetime, end: datetime) -> list[EquityPoint]:
        """The value and net flow of each snapshot with start <= as_of <= end, oldest first:
        what performance needs, without reading every snapshot's positions."""
        ...


class PositionRepository(Protocol):
    """The current positions (one per chain, protocol and asset)."""

    async def replace_all(self, positions: Sequence[Position]) -> None:
        """Make `positions` the complete set of current positions."""
        ...

    async def list_all(self) -> list[Position]:
        """Every current position, ordered by chain, protocol and asset."""
        ...


class MarketDataRepository(Protocol):
    """The history of MarketData each cycle worked from."""

    async def add(self, market: MarketData) -> None:
        """Store one observation."""
        ...

    async def latest(self) -> MarketData | None:
        """The newest observation, if any."""
        ...

    async def between(self, start: datetime, end: datetime) -> list[MarketData]:
        """Observations with start <= timestamp <= end, oldest first."""
        ...


class SignalRepository(Protocol):
    """Every AllocationSignal generated."""

    async def add(self, signal: AllocationSignal) -> None:
        """Store a signal."""
        ...

    async def latest(self) -> AllocationSignal | None:
        """The newest signal, if any."""
        ...

    async def between(self, start: datetime, end: datetime) -> list[AllocationSignal]:
        """Signals with start <= created_at <= end, oldest first."""
        ...


class DecisionRepository(Protocol):
    """Decisions, guarded by an optimistic `version`."""

    async def add(self, decision: Decision) -> None:
        """Store a new decision.

        Raises:
            ConcurrencyConflict: a decision with this id already exists.
        """
        ...

    async def get(self, decision_id: str) -> Decision:
        """The decision with this id.

        Raises:
            NotFound: there is none.
        """
        ...

    async def find(self, decision_id: str) -> Decision | None:
        """The decision with this id, or None."""
        ...

    async def update(self, decision: Decision) -> None:
        """Store a changed decision whose `version` is one more than the stored one (every
        domain transition bumps it).

        Raises:
            NotFound: there is no decision with this id.
            ConcurrencyConflict: another writer changed it first (the stored version is not
                `decision.version - 1`).
        """
        ...

    async def list_by_status(self, status: DecisionStatus, limit: int = 100) -> list[Decision]:
        """Decisions in one status, oldest first."""
        ...

    async def recent(self, limit: int = 50) -> list[Decision]:
        """The newest decisions, newest first."""
        ...

    async def created_between(
        self, start: datetime, end: datetime, limit: int = 500
    ) -> list[Decision]:
        """Decisions created at or after `start` and at or before `end`, newest first."""
        ...


class PlanRepository(Protocol):
    """Rebalancing plans with their planned transactions, in order."""

    async def add(self, plan: RebalancingPlan, decision_id: str | None = None) -> None:
        """Store a plan and its transactions, linked to the decision that produced it.

        Raises:
            ConcurrencyConflict: a plan with this id already exists.
        """
        ...

    async def get(self, plan_id: str) -> RebalancingPlan:
        """The plan with this id.

        Raises:
            NotFound: there is none.
        """
        ...

    async def find(self, plan_id: str) -> RebalancingPlan | None:
        """The plan with this id, or None."""
        ...

    async def for_decision(self, decision_id: str) -> list[RebalancingPlan]:
        """Plans linked to a decision, oldest first."""
        ...


class ExecutedTransactionRepository(Protocol):
    """Every on-chain step: intent, nonce and hash are persisted before each broadcast."""

    async def add(self, tx: ExecutedTransaction) -> None:
        """Store a new step.

        Raises:
            ConcurrencyConflict: a step with this id already exists.
        """
        ...

    async def update(self, tx: ExecutedTransaction) -> None:
        """Replace a stored step with its new state.

        Raises:
            NotFound: there is no step with this id.
        """
        ...

    async def get(self, tx_id: str) -> ExecutedTransaction:
        """The step with this id.

        Raises:
            NotFound: there is none.
        """
        ...

    async def by_plan(self, plan_id: str) -> list[ExecutedTransaction]:
        """A plan's steps in step order."""
        ...

    async def unfinished(self) -> list[ExecutedTransaction]:
        """Steps planned, signed or broadcast but not finished, oldest first (crash recovery)."""
        ...

    async def by_hash(self, tx_hash: str) -> ExecutedTransaction | None:
        """The step with this transaction hash (case-insensitive), if any."""
        ...

    async def count_sent_on(self, day: date) -> int:
        """How many trades (steps other than token approvals) created on this UTC day were
        broadcast or confirmed: what the trades-per-day limit counts."""
        ...

    async def recent(self, limit: int = 50) -> list[ExecutedTransaction]:
        """The newest steps, newest first."""
        ...


class StrategyStateRepository(Protocol):
    """What the strategy remembers between cycles; defaults when nothing was saved."""

    async def ratchet(self) -> RatchetState:
        """The MVRV sell ratchet (a fresh one if none was saved)."""
        ...

    async def save_ratchet(self, state: RatchetState) -> None:
        """Store the ratchet."""
        ...

    async def slippage_budget(self) -> SlippageBudgetState:
        """The slippage budget used so far (empty if none was saved)."""
        ...

    async def save_slippage_budget(self, state: SlippageBudgetState) -> None:
        """Store the slippage budget state."""
        ...

    async def breaker(self) -> BreakerState:
        """The circuit breaker's failure count (zero if none was saved)."""
        ...

    async def save_breaker(self, state: BreakerState) -> None:
        """Store the circuit breaker state."""
        ...


class OperatorFlagRepository(Protocol):
    """Operator switches such as the emergency stop."""

    async def set(self, flag: OperatorFlag) -> None:
        """Store a flag's new value (replacing the old one)."""
        ...

    async def get(self, name: str) -> OperatorFlag | None:
        """A flag's last value, or None if never set."""
        ...

    async def is_active(self, name: str) -> bool:
        """Whether a flag is set and on."""
        ...


class ManualMvrvRepository(Protocol):
    """The ManualMvrvStore semantics (value, time, who), with every value kept."""

    async def set_manual_mvrv(self, value: Decimal, at: datetime, set_by: str) -> None:
        """Store a manual MVRV Z value with its time and who set it."""
        ...

    async def get_manual_mvrv(self) -> tuple[Decimal, datetime] | None:
        """The latest manual value (by time set) and when it was set, if any."""
        ...

    async def latest(self) -> ManualMvrv | None:
        """The latest manual value with who set it, if any."""
        ...


class DecisionOutcomeRepository(Protocol):
    """How decisions turned out, per horizon (the learning loop's memory)."""

    async def record(self, outcome: DecisionOutcome) -> None:
        """Store an outcome, replacing any earlier one for the same decision and horizon."""
        ...

    async def for_decision(self, decision_id: str) -> list[DecisionOutcome]:
        """A decision's outcomes, shortest horizon first."""
        ...

    async def recent(self, limit: int = 100) -> list[DecisionOutcome]:
        """The most recently measured outcomes, newest first."""
        ...


class AuditLog(Protocol):
    """The append-only, hash-chained audit log. Entries commit with the change they describe."""

    async def append(
        self,
        actor: str,
        action: str,
        subject_type: str,
        subject_id: str,
        payload: Mapping[str, object],
        *,
        at: datetime | None = None,
    ) -> AuditEntry:
        """Seal and append an entry after the current head (at the adapter clock's time unless
        `at` is given). Concurrent writers are serialised so the chain never forks.

        Raises:
            InvalidValue: the payload holds a float or something JSON cannot hold.
        """
        ...

    async def entries(self, after_seq: int = 0, limit: int = 100) -> list[AuditEntry]:
        """Entries with seq > after_seq, oldest first."""
        ...

    async def tail(self, count: int = 20) -> list[AuditEntry]:
        """The newest `count` entries, oldest first."""
        ...

    async def for_subject(self, subject_type: str, subject_id: str) -> list[AuditEntry]:
        """Every entry about one subject, oldest first."""
        ...

    async def verify(self) -> int | None:
        """Walk the whole chain; the seq of the first broken entry, or None if intact."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository. Rolls back unless `await uow.commit()`."""

    snapshots: PortfolioSnapshotRepository
    positions: PositionRepository
    market_data: MarketDataRepository
    signals: SignalRepository
    decisions: DecisionRepository
    plans: PlanRepository
    executions: ExecutedTransactionRepository
    strategy: StrategyStateRepository
    flags: OperatorFlagRepository
    manual_mvrv: ManualMvrvRepository
    outcomes: DecisionOutcomeRepository
    audit: AuditLog

    async def __aenter__(self) -> Self:
        """Begin the transaction."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """End it: roll back whatever was not committed."""
        ...

    async def commit(self) -> None:
        """Make everything written in this unit durable, atomically.

        Raises:
            ConcurrencyConflict: another writer won a race detected at commit.
            TransientError: the database could not be reached.
        """
        ...

    async def rollback(self) -> None:
        """Discard everything written since the last commit."""
        ...


class UnitOfWorkFactory(Protocol):
    """Makes a fresh unit of work for each use."""

    def __call__(self) -> UnitOfWork:
        """A new, not yet entered, unit of work."""
        ...
