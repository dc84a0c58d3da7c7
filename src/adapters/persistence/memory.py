"""An in-memory twin of the SQL unit of work, for unit tests and the contract suite.

It behaves like the SQLite adapter: one writer at a time (a unit of work holds the database's
lock from entry to exit, as BEGIN IMMEDIATE does), nothing is visible to others until
`commit()`, leaving without a commit rolls back, decision updates check the version, and the
audit log is the same hash chain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Self

from adapters.persistence.audit_append import AppendsSealedEntries
from adapters.persistence.errors import DatabaseUnavailable
from application.errors import ConcurrencyConflict, NotFound, require_found
from application.ports.persistence import DecisionOutcome, ManualMvrv, OperatorFlag
from domain.audit import AuditEntry, verify_chain
from domain.budget import BreakerState, SlippageBudgetState
from domain.decisions import Decision, DecisionStatus
from domain.execution import (
    SENT_STATUSES,
    UNFINISHED_STATUSES,
    ExecutedTransaction,
    utc_day,
)
from domain.market import MarketData
from domain.performance import EquityPoint
from domain.plans import RebalancingPlan
from domain.portfolio import PortfolioState, Position, distinct_holdings, snapshot_time
from domain.signals import AllocationSignal
from domain.tactical import RatchetState


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Tables:
    snapshots: list[PortfolioState] = field(default_factory=list)
    positions: dict[tuple[str, str, str], Position] = field(default_factory=dict)
    market: list[MarketData] = field(default_factory=list)
    signals: list[AllocationSignal] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)
    plans: dict[str, tuple[RebalancingPlan, str | None]] = field(default_factory=dict)
    executions: dict[str, ExecutedTransaction] = field(default_factory=dict)
    ratchet: RatchetState | None = None
    slippage: SlippageBudgetState | None = None
    breaker: BreakerState | None = None
    flags: dict[str, OperatorFlag] = field(default_factory=dict)
    manual_mvrv: list[ManualMvrv] = field(default_factory=list)
    outcomes: dict[tuple[str, int], DecisionOutcome] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)

    def copy(self) -> _Tables:
        # Values are frozen domain objects, so copying the containers isolates a transaction.
        return _Tables(
            snapshots=list(self.snapshots),
            positions=dict(self.positions),
            market=list(self.market),
            signals=list(self.signals),
            decisions=dict(self.decisions),
            plans=dict(self.plans),
            executions=dict(self.executions),
            ratchet=self.ratchet,
            slippage=self.slippage,
            breaker=self.breaker,
            flags=dict(self.flags),
            manual_mvrv=list(self.manual_mvrv),
            outcomes=dict(self.outcomes),
            audit=list(self.audit),
        )


class InMemoryDatabase:
    """The committed state shared by in-memory units of work (one per test or process).

    `busy_timeout_s` plays SQLite's busy timeout: a unit of work that cannot get the write lock
    in time (for example one nested inside another in the same task) fails with
    DatabaseUnavailable instead of waiting for ever.
    """

    def __init__(self, busy_timeout_s: float = 5.0) -> None:
        self.committed = _Tables()
        self.lock = asyncio.Lock()
        self.busy_timeout_s = busy_timeout_s


class _Repo:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    @property
    def _t(self) -> _Tables:
        return self._uow.working


def _in(start: datetime, end: datetime, at: datetime) -> bool:
    return start <= at <= end


class MemoryPortfolioSnapshots(_Repo):
    """Portfolio snapshots."""

    async def add(self, state: PortfolioState) -> None:
        """Store a snapshot (`as_of` required)."""
        snapshot_time(state)
        self._t.snapshots.append(state)

    def _ordered(self) -> list[PortfolioState]:
        indexed = list(enumerate(self._t.snapshots))
        indexed.sort(key=lambda pair: (pair[1].as_of, pair[0]))
        return [s for _, s in indexed]

    async def latest(self) -> PortfolioState | None:
        """The newest snapshot."""
        ordered = self._ordered()
        return ordered[-1] if ordered else None

    async def between(self, start: datetime, end: datetime) -> list[PortfolioState]:
        """Snapshots in [start, end], oldest first."""
        return [s for s in self._ordered() if s.as_of and _in(start, end, s.as_of)]

    async def equity_between(self, start: datetime, end: datetime) -> list[EquityPoint]:
        """Each snapshot's time, value and net flow in [start, end], oldest first."""
        return [
            EquityPoint(at=s.as_of, value_usd=s.total_value_usd, net_flow_usd=s.net_flow_usd)
            for s in await self.between(start, end)
            if s.as_of is not None
        ]


class MemoryPositions(_Repo):
    """Current positions."""

    async def replace_all(self, positions: Sequence[Position]) -> None:
        """Replace every current position."""
        self._t.positions = dict(zip(distinct_holdings(positions), positions, strict=True))

    async def list_all(self) -> list[Position]:
        """Every current position, by chain, protocol and asset."""
        return [self._t.positions[k] for k in sorted(self._t.positions)]


class MemoryMarketData(_Repo):
    """Market data history."""

    async def add(self, market: MarketData) -> None:
        """Store one observation."""
        self._t.market.append(market)

    def _ordered(self) -> list[MarketData]:
        indexed = list(enumerate(self._t.market))
        indexed.sort(key=lambda pair: (pair[1].timestamp, pair[0]))
        return [m for _, m in indexed]

    async def latest(self) -> MarketData | None:
        """The newest observation."""
        ordered = self._ordered()
        return ordered[-1] if ordered else None

    async def between(self, start: datetime, end: datetime) -> list[MarketData]:
        """Observations in [start, end], oldest first."""
        return [m for m in self._ordered() if _in(start, end, m.timestamp)]


class MemorySignals(_Repo):
    """Allocation signals."""

    async def add(self, signal: AllocationSignal) -> None:
        """Store a signal."""
        self._t.signals.append(signal)

    def _ordered(self) -> list[AllocationSignal]:
        indexed = list(enumerate(self._t.signals))
        indexed.sort(key=lambda pair: (pair[1].created_at, pair[0]))
        return [s for _, s in indexed]

    async def latest(self) -> AllocationSignal | None:
        """The newest signal."""
        ordered = self._ordered()
        return ordered[-1] if ordered else None

    async def between(self, start: datetime, end: datetime) -> list[AllocationSignal]:
        """Signals in [start, end], oldest first."""
        return [s for s in self._ordered() if _in(start, end, s.created_at)]


class MemoryDecisions(_Repo):
    """Decisions with optimistic versioning."""

    async def add(self, decision: Decision) -> None:
        """Store a new decision."""
        if decision.id in self._t.decisions:
            raise ConcurrencyConflict("decision", decision.id, "already exists")
        self._t.decisions[decision.id] = decision

    async def find(self, decision_id: str) -> Decision | None:
        """The decision, or None."""
        return self._t.decisions.get(decision_id)

    async def get(self, decision_id: str) -> Decision:
        """The decision, or NotFound."""
        return require_found(await self.find(decision_id), "decision", decision_id)

    async def update(self, decision: Decision) -> None:
        """Store a changed decision if nobody changed it since it was read."""
        stored = self._t.decisions.get(decision.id)
        if stored is None:
            raise NotFound("decision", decision.id)
        if stored.version != decision.version - 1:
            raise ConcurrencyConflict.stale_version(
                "decision", decision.id, stored.version, decision.version - 1
            )
        self._t.decisions[decision.id] = decision

    async def list_by_status(self, status: DecisionStatus, limit: int = 100) -> list[Decision]:
        """Decisions in one status, oldest first."""
        found = [d for d in self._t.decisions.values() if d.status is status]
        return sorted(found, key=lambda d: (d.created_at, d.id))[:limit]

    async def recent(self, limit: int = 50) -> list[Decision]:
        """The newest decisions, newest first."""
        ordered = sorted(self._t.decisions.values(), key=lambda d: (d.created_at, d.id))
        return list(reversed(ordered))[:limit]

    async def created_between(
        self, start: datetime, end: datetime, limit: int = 500
    ) -> list[Decision]:
        """Decisions created at or after `start` and at or before `end`, newest first."""
        inside = [d for d in self._t.decisions.values() if start <= d.created_at <= end]
        inside.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        return inside[:limit]


class MemoryPlans(_Repo):
    """Rebalancing plans."""

    async def add(self, plan: RebalancingPlan, decision_id: str | None = None) -> None:
        """Store a plan."""
        if plan.plan_id in self._t.plans:
            raise ConcurrencyConflict("plan", plan.plan_id, "already exists")
        self._t.plans[plan.plan_id] = (plan, decision_id)

    async def find(self, plan_id: str) -> RebalancingPlan | None:
        """The plan, or None."""
        found = self._t.plans.get(plan_id)
        return found[0] if found else None

    async def get(self, plan_id: str) -> RebalancingPlan:
        """The plan, or NotFound."""
        return require_found(await self.find(plan_id), "plan", plan_id)

    async def for_decision(self, decision_id: str) -> list[RebalancingPlan]:
        """A decision's plans, oldest first."""
        found = [p for p, d in self._t.plans.values() if d == decision_id]
        return sorted(found, key=lambda p: (p.created_at, p.plan_id))


class MemoryExecutions(_Repo):
    """Executed transactions."""

    async def add(self, tx: ExecutedTransaction) -> None:
        """Store a new step."""
        if tx.id in self._t.executions:
            raise ConcurrencyConflict("executed transaction", tx.id, "already exists")
        self._t.executions[tx.id] = tx

    async def update(self, tx: ExecutedTransaction) -> None:
        """Replace a stored step."""
        if tx.id not in self._t.executions:
            raise NotFound("executed transaction", tx.id)
        self._t.executions[tx.id] = tx

    async def get(self, tx_id: str) -> ExecutedTransaction:
        """The step, or NotFound."""
        return require_found(self._t.executions.get(tx_id), "executed transaction", tx_id)

    async def by_plan(self, plan_id: str) -> list[ExecutedTransaction]:
        """A plan's steps in order."""
        found = [x for x in self._t.executions.values() if x.plan_id == plan_id]
        return sorted(found, key=lambda x: (x.step_index, x.created_at))

    async def unfinished(self) -> list[ExecutedTransaction]:
        """Steps not yet finished, oldest first."""
        found = [x for x in self._t.executions.values() if x.status in UNFINISHED_STATUSES]
        return sorted(found, key=lambda x: (x.created_at, x.id))

    async def by_hash(self, tx_hash: str) -> ExecutedTransaction | None:
        """The step with this hash (case-insensitive)."""
        wanted = tx_hash.lower()
        for x in self._t.executions.values():
            if x.tx_hash is not None and x.tx_hash.lower() == wanted:
                return x
        return None

    async def count_sent_on(self, day: date) -> int:
        """Steps created that UTC day and broadcast or confirmed."""
        start, end = utc_day(day)
        return sum(
            1
            for x in self._t.executions.values()
            if x.status in SENT_STATUSES and start <= x.created_at < end and x.is_trade
        )

    async def recent(self, limit: int = 50) -> list[ExecutedTransaction]:
        """The newest steps, newest first."""
        ordered = sorted(
            self._t.executions.values(), key=lambda x: (x.created_at, x.id), reverse=True
        )
        return ordered[:limit]


class MemoryStrategyState(_Repo):
    """Ratchet, slippage budget and breaker."""

    async def ratchet(self) -> RatchetState:
        """The ratchet, fresh if never saved."""
        return self._t.ratchet or RatchetState()

    async def save_ratchet(self, state: RatchetState) -> None:
        """Store the ratchet."""
        self._t.ratchet = state

    async def slippage_budget(self) -> SlippageBudgetState:
        """The slippage budget state, empty if never saved."""
        return self._t.slippage or SlippageBudgetState()

    async def save_slippage_budget(self, state: SlippageBudgetState) -> None:
        """Store the slippage budget state."""
        self._t.slippage = state

    async def breaker(self) -> BreakerState:
        """The breaker state, zero if never saved."""
        return self._t.breaker or BreakerState()

    async def save_breaker(self, state: BreakerState) -> None:
        """Store the breaker state."""
        self._t.breaker = state


class MemoryOperatorFlags(_Repo):
    """Operator flags."""

    async def set(self, flag: OperatorFlag) -> None:
        """Store a flag's new value."""
        self._t.flags[flag.name] = flag

    async def get(self, name: str) -> OperatorFlag | None:
        """A flag's last value."""
        return self._t.flags.get(name)

    async def is_active(self, name: str) -> bool:
        """Whether the flag is on."""
        flag = self._t.flags.get(name)
        return flag is not None and flag.active


class MemoryManualMvrv(_Repo):
    """Manual MVRV Z values."""

    async def set_manual_mvrv(self, value: Decimal, at: datetime, set_by: str) -> None:
        """Store a manual value."""
        self._t.manual_mvrv.append(ManualMvrv(value=value, set_at=at, set_by=set_by))

    async def latest(self) -> ManualMvrv | None:
        """The newest manual value with who set it."""
        if not self._t.manual_mvrv:
            return None
        indexed = list(enumerate(self._t.manual_mvrv))
        return max(indexed, key=lambda pair: (pair[1].set_at, pair[0]))[1]

    async def get_manual_mvrv(self) -> tuple[Decimal, datetime] | None:
        """The newest manual value and its time."""
        record = await self.latest()
        return (record.value, record.set_at) if record else None


class MemoryDecisionOutcomes(_Repo):
    """Decision outcomes."""

    async def record(self, outcome: DecisionOutcome) -> None:
        """Store (or replace) an outcome."""
        self._t.outcomes[(outcome.decision_id, outcome.horizon_days)] = outcome

    async def for_decision(self, decision_id: str) -> list[DecisionOutcome]:
        """A decision's outcomes, shortest horizon first."""
        found = [o for o in self._t.outcomes.values() if o.decision_id == decision_id]
        return sorted(found, key=lambda o: o.horizon_days)

    async def recent(self, limit: int = 100) -> list[DecisionOutcome]:
        """The most recently measured outcomes, newest first."""
        ordered = sorted(self._t.outcomes.values(), key=lambda o: (o.decision_id, o.horizon_days))
        ordered.sort(key=lambda o: o.measured_at, reverse=True)
        return ordered[:limit]


class MemoryAuditLog(_Repo, AppendsSealedEntries):
    """The hash-chained audit log."""

    def __init__(self, uow: InMemoryUnitOfWork, clock: Callable[[], datetime]) -> None:
        _Repo.__init__(self, uow)
        AppendsSealedEntries.__init__(self, clock)

    async def _head(self) -> tuple[int, str] | None:
        # The unit of work holds the database's write lock, so the head cannot move under it.
        head = self._t.audit[-1] if self._t.audit else None
        return (head.seq, head.hash) if head else None

    async def _keep(self, entry: AuditEntry) -> None:
        self._t.audit.append(entry)

    async def entries(self, after_seq: int = 0, limit: int = 100) -> list[AuditEntry]:
        """Entries after a seq, oldest first."""
        return [e for e in self._t.audit if e.seq > after_seq][:limit]

    async def tail(self, count: int = 20) -> list[AuditEntry]:
        """The newest entries, oldest first."""
        return self._t.audit[-count:] if count > 0 else []

    async def for_subject(self, subject_type: str, subject_id: str) -> list[AuditEntry]:
        """Every entry about one subject."""
        return [
            e
            for e in self._t.audit
            if e.subject_type == subject_type and e.subject_id == subject_id
        ]

    async def verify(self) -> int | None:
        """The first broken seq, or None."""
        return verify_chain(sorted(self._t.audit, key=lambda e: e.seq))


class InMemoryUnitOfWork:
    """A unit of work over an InMemoryDatabase; same semantics as SqlUnitOfWork."""

    def __init__(
        self, database: InMemoryDatabase, *, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self._db = database
        self._clock = clock
        self._entered = False
        self.working = _Tables()
        self.snapshots = MemoryPortfolioSnapshots(self)
        self.positions = MemoryPositions(self)
        self.market_data = MemoryMarketData(self)
        self.signals = MemorySignals(self)
        self.decisions = MemoryDecisions(self)
        self.plans = MemoryPlans(self)
        self.executions = MemoryExecutions(self)
        self.strategy = MemoryStrategyState(self)
        self.flags = MemoryOperatorFlags(self)
        self.manual_mvrv = MemoryManualMvrv(self)
        self.outcomes = MemoryDecisionOutcomes(self)
        self.audit = MemoryAuditLog(self, clock)

    async def __aenter__(self) -> Self:
        """Wait for the write lock and start from the committed state."""
        try:
            await asyncio.wait_for(self._db.lock.acquire(), self._db.busy_timeout_s)
        except TimeoutError as exc:
            raise DatabaseUnavailable(
                "memory://", f"busy: no write lock within {self._db.busy_timeout_s} s"
            ) from exc
        self._entered = True
        self.working = self._db.committed.copy()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Drop what was not committed and release the lock."""
        self.working = _Tables()
        if self._entered:
            self._entered = False
            self._db.lock.release()

    def _require(self) -> None:
        if not self._entered:
            raise RuntimeError("use the unit of work inside `async with`")

    async def commit(self) -> None:
        """Publish the working state."""
        self._require()
        self._db.committed = self.working.copy()

    async def rollback(self) -> None:
        """Discard what was written since the last commit."""
        self._require()
        self.working = self._db.committed.copy()


class InMemoryUnitOfWorkFactory:
    """Makes InMemoryUnitOfWork instances over one InMemoryDatabase."""

    def __init__(
        self,
        database: InMemoryDatabase | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.database = database or InMemoryDatabase()
        self._clock = clock

    def __call__(self) -> InMemoryUnitOfWork:
        """A new unit of work."""
        return InMemoryUnitOfWork(self.database, clock=self._clock)
