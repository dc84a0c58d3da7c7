"""SQLAlchemy implementations of the persistence ports. Each works inside one AsyncSession (the
unit of work's transaction) and maps rows to domain values through `codec`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Select, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.persistence import codec
from adapters.persistence import tables as t
from adapters.persistence.audit_append import AppendsSealedEntries
from application.errors import ConcurrencyConflict, NotFound, require_found
from application.ports.persistence import DecisionOutcome, ManualMvrv, OperatorFlag
from domain.audit import GENESIS_HASH, AuditEntry, verify_chain
from domain.budget import BreakerState, SlippageBudgetState
from domain.decisions import Decision, DecisionStatus
from domain.execution import (
    SENT_STATUSES,
    UNFINISHED_STATUSES,
    ExecutedTransaction,
    StepKind,
    utc_day,
)
from domain.market import MarketData
from domain.performance import EquityPoint
from domain.plans import RebalancingPlan
from domain.portfolio import PortfolioState, Position, distinct_holdings, snapshot_time
from domain.signals import AllocationSignal
from domain.tactical import RatchetState

R = TypeVar("R", bound=t.Base)

DEFAULT_NAME = "default"
# One fixed key for the transaction-level advisory lock that serialises audit appends on
# PostgreSQL ("audit" in ASCII).
AUDIT_LOCK_KEY = 0x6175646974
VERIFY_BATCH = 1000


class _Repo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _all(self, stmt: Select[R]) -> list[R]:
        # populate_existing: a row read earlier in this unit of work is refreshed, never stale.
        result = await self._session.execute(stmt.execution_options(populate_existing=True))
        return list(result.scalars().all())

    async def _one(self, stmt: Select[R]) -> R | None:
        rows = await self._all(stmt.limit(1))
        return rows[0] if rows else None


class SqlPortfolioSnapshots(_Repo):
    """Portfolio snapshots with their positions."""

    async def add(self, state: PortfolioState) -> None:
        """Store a snapshot (`as_of` required)."""
        row = codec.snapshot_to_row(state, snapshot_time(state))
        self._session.add(row)
        await self._session.flush()
        for i, p in enumerate(state.positions):
            self._session.add(
                t.SnapshotPositionRow(
                    snapshot_id=row.id, position_index=i, **codec.position_fields(p)
                )
            )
        await self._session.flush()

    async def _load(self, rows: list[t.PortfolioSnapshotRow]) -> list[PortfolioState]:
        if not rows:
            return []
        positions = await self._all(
            select(t.SnapshotPositionRow).where(
                t.SnapshotPositionRow.snapshot_id.in_([r.id for r in rows])
            )
        )
        by_snapshot: dict[int, list[t.SnapshotPositionRow]] = {}
        for p in positions:
            by_snapshot.setdefault(p.snapshot_id, []).append(p)
        return [codec.snapshot_from_row(r, by_snapshot.get(r.id, [])) for r in rows]

    async def latest(self) -> PortfolioState | None:
        """The newest snapshot."""
        row = await self._one(
            select(t.PortfolioSnapshotRow).order_by(
                t.PortfolioSnapshotRow.as_of.desc(), t.PortfolioSnapshotRow.id.desc()
            )
        )
        return (await self._load([row]))[0] if row else None

    async def between(self, start: datetime, end: datetime) -> list[PortfolioState]:
        """Snapshots in [start, end], oldest first."""
        col = t.PortfolioSnapshotRow.as_of
        rows = await self._all(
            select(t.PortfolioSnapshotRow)
            .where(col >= start, col <= end)
            .order_by(col, t.PortfolioSnapshotRow.id)
        )
        return await self._load(rows)

    async def equity_between(self, start: datetime, end: datetime) -> list[EquityPoint]:
        """Each snapshot's time, value and net flow in [start, end], oldest first."""
        snap = t.PortfolioSnapshotRow
        result = await self._session.execute(
            select(snap.as_of, snap.total_value_usd, snap.net_flow_usd)
            .where(snap.as_of >= start, snap.as_of <= end)
            .order_by(snap.as_of, snap.id)
        )
        return [
            EquityPoint(at=at, value_usd=value, net_flow_usd=flow)
            for at, value, flow in result.all()
        ]


class SqlPositions(_Repo):
    """The current positions."""

    async def replace_all(self, positions: Sequence[Position]) -> None:
        """Replace every current position."""
        distinct_holdings(positions)
        await self._session.execute(delete(t.PositionRow))
        self._session.add_all(t.PositionRow(**codec.position_fields(p)) for p in positions)
        await self._session.flush()

    async def list_all(self) -> list[Position]:
        """Every current position, by chain, protocol and asset."""
        rows = await self._all(
            select(t.PositionRow).order_by(
                t.PositionRow.chain, t.PositionRow.protocol, t.PositionRow.asset
            )
        )
        return [codec.position_from_row(r) for r in rows]


class SqlMarketData(_Repo):
    """Market data history."""

    async def add(self, market: MarketData) -> None:
        """Store one observation."""
        self._session.add(codec.market_to_row(market))
        await self._session.flush()

    async def latest(self) -> MarketData | None:
        """The newest observation."""
        row = await self._one(
            select(t.MarketDataRow).order_by(
                t.MarketDataRow.timestamp.desc(), t.MarketDataRow.id.desc()
            )
        )
        return codec.market_from_row(row) if row else None

    async def between(self, start: datetime, end: datetime) -> list[MarketData]:
        """Observations in [start, end], oldest first."""
        col = t.MarketDataRow.timestamp
        rows = await self._all(
            select(t.MarketDataRow)
            .where(col >= start, col <= end)
            .order_by(col, t.MarketDataRow.id)
        )
        return [codec.market_from_row(r) for r in rows]


class SqlSignals(_Repo):
    """Allocation signals."""

    async def add(self, signal: AllocationSignal) -> None:
        """Store a signal."""
        self._session.add(codec.signal_to_row(signal))
        await self._session.flush()

    async def latest(self) -> AllocationSignal | None:
        """The newest signal."""
        row = await self._one(
            select(t.SignalRow).order_by(t.SignalRow.created_at.desc(), t.SignalRow.id.desc())
        )
        return codec.signal_from_row(row) if row else None

    async def between(self, start: datetime, end: datetime) -> list[AllocationSignal]:
        """Signals in [start, end], oldest first."""
        col = t.SignalRow.created_at
        rows = await self._all(
            select(t.SignalRow).where(col >= start, col <= end).order_by(col, t.SignalRow.id)
        )
        return [codec.signal_from_row(r) for r in rows]


class SqlDecisions(_Repo):
    """Decisions with optimistic versioning."""

    async def add(self, decision: Decision) -> None:
        """Store a new decision."""
        if await self._session.get(t.DecisionRow, decision.id) is not None:
            raise ConcurrencyConflict("decision", decision.id, "already exists")
        self._session.add(t.DecisionRow(**codec.decision_values(decision)))
        await self._session.flush()

    async def find(self, decision_id: str) -> Decision | None:
        """The decision, or None."""
        row = await self._one(select(t.DecisionRow).where(t.DecisionRow.id == decision_id))
        return codec.decision_from_row(row) if row else None

    async def get(self, decision_id: str) -> Decision:
        """The decision, or NotFound."""
        return require_found(await self.find(decision_id), "decision", decision_id)

    async def update(self, decision: Decision) -> None:
        """Store a changed decision if nobody changed it since it was read.

        On PostgreSQL the UPDATE takes the row lock; a concurrent writer waits for it, then
        re-checks the version and matches nothing, which is reported as a conflict.
        """
        values = codec.decision_values(decision)
        result = await self._session.execute(
            update(t.DecisionRow)
            .where(t.DecisionRow.id == decision.id, t.DecisionRow.version == decision.version - 1)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) == 1:
            return
        current = await self._session.execute(
            select(t.DecisionRow.version).where(t.DecisionRow.id == decision.id)
        )
        stored = current.scalar_one_or_none()
        if stored is None:
            raise NotFound("decision", decision.id)
        raise ConcurrencyConflict.stale_version(
            "decision", decision.id, stored, decision.version - 1
        )

    async def list_by_status(self, status: DecisionStatus, limit: int = 100) -> list[Decision]:
        """Decisions in one status, oldest first."""
        rows = await self._all(
            select(t.DecisionRow)
            .where(t.DecisionRow.status == status.value)
            .order_by(t.DecisionRow.created_at, t.DecisionRow.id)
            .limit(limit)
        )
        return [codec.decision_from_row(r) for r in rows]

    async def recent(self, limit: int = 50) -> list[Decision]:
        """The newest decisions, newest first."""
        rows = await self._all(
            select(t.DecisionRow)
            .order_by(t.DecisionRow.created_at.desc(), t.DecisionRow.id.desc())
            .limit(limit)
        )
        return [codec.decision_from_row(r) for r in rows]

    async def created_between(
        self, start: datetime, end: datetime, limit: int = 500
    ) -> list[Decision]:
        """Decisions created at or after `start` and at or before `end`, newest first."""
        rows = await self._all(
            select(t.DecisionRow)
            .where(t.DecisionRow.created_at >= start, t.DecisionRow.created_at <= end)
            .order_by(t.DecisionRow.created_at.desc(), t.DecisionRow.id.desc())
            .limit(limit)
        )
        return [codec.decision_from_row(r) for r in rows]


class SqlPlans(_Repo):
    """Rebalancing plans and their planned transactions."""

    async def add(self, plan: RebalancingPlan, decision_id: str | None = None) -> None:
        """Store a plan with its transactions."""
        if await self._session.get(t.PlanRow, plan.plan_id) is not None:
            raise ConcurrencyConflict("plan", plan.plan_id, "already exists")
        row, txs = codec.plan_to_rows(plan, decision_id)
        self._session.add(row)
        await self._session.flush()
        self._session.add_all(txs)
        await self._session.flush()

    async def _load(self, rows: list[t.PlanRow]) -> list[RebalancingPlan]:
        if not rows:
            return []
        txs = await self._all(
            select(t.PlannedTransactionRow).where(
                t.PlannedTransactionRow.plan_id.in_([r.plan_id for r in rows])
            )
        )
        by_plan: dict[str, list[t.PlannedTransactionRow]] = {}
        for tx in txs:
            by_plan.setdefault(tx.plan_id, []).append(tx)
        return [codec.plan_from_rows(r, by_plan.get(r.plan_id, [])) for r in rows]

    async def find(self, plan_id: str) -> RebalancingPlan | None:
        """The plan, or None."""
        row = await self._one(select(t.PlanRow).where(t.PlanRow.plan_id == plan_id))
        return (await self._load([row]))[0] if row else None

    async def get(self, plan_id: str) -> RebalancingPlan:
        """The plan, or NotFound."""
        return require_found(await self.find(plan_id), "plan", plan_id)

    async def for_decision(self, decision_id: str) -> list[RebalancingPlan]:
        """A decision's plans, oldest first."""
        rows = await self._all(
            select(t.PlanRow)
            .where(t.PlanRow.decision_id == decision_id)
            .order_by(t.PlanRow.created_at, t.PlanRow.plan_id)
        )
        return await self._load(rows)


NOT_TRADES = tuple(k.value for k in StepKind if not k.is_trade)
"""Step kinds that are not trades (a token approval), as stored."""


class SqlExecutions(_Repo):
    """Executed (on-chain) transactions."""

    async def add(self, tx: ExecutedTransaction) -> None:
        """Store a new step."""
        if await self._session.get(t.ExecutedTransactionRow, tx.id) is not None:
            raise ConcurrencyConflict("executed transaction", tx.id, "already exists")
        self._session.add(t.ExecutedTransactionRow(**codec.execution_values(tx)))
        await self._session.flush()

    async def update(self, tx: ExecutedTransaction) -> None:
        """Replace a stored step."""
        result = await self._session.execute(
            update(t.ExecutedTransactionRow)
            .where(t.ExecutedTransactionRow.id == tx.id)
            .values(**codec.execution_values(tx))
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise NotFound("executed transaction", tx.id)

    async def get(self, tx_id: str) -> ExecutedTransaction:
        """The step, or NotFound."""
        row = await self._one(
            select(t.ExecutedTransactionRow).where(t.ExecutedTransactionRow.id == tx_id)
        )
        if row is None:
            raise NotFound("executed transaction", tx_id)
        return codec.execution_from_row(row)

    async def by_plan(self, plan_id: str) -> list[ExecutedTransaction]:
        """A plan's steps in order."""
        rows = await self._all(
            select(t.ExecutedTransactionRow)
            .where(t.ExecutedTransactionRow.plan_id == plan_id)
            .order_by(t.ExecutedTransactionRow.step_index, t.ExecutedTransactionRow.created_at)
        )
        return [codec.execution_from_row(r) for r in rows]

    async def unfinished(self) -> list[ExecutedTransaction]:
        """Steps not yet finished, oldest first."""
        rows = await self._all(
            select(t.ExecutedTransactionRow)
            .where(t.ExecutedTransactionRow.status.in_([s.value for s in UNFINISHED_STATUSES]))
            .order_by(t.ExecutedTransactionRow.created_at, t.ExecutedTransactionRow.id)
        )
        return [codec.execution_from_row(r) for r in rows]

    async def by_hash(self, tx_hash: str) -> ExecutedTransaction | None:
        """The step with this hash (case-insensitive)."""
        row = await self._one(
            select(t.ExecutedTransactionRow).where(
                func.lower(t.ExecutedTransactionRow.tx_hash) == tx_hash.lower()
            )
        )
        return codec.execution_from_row(row) if row else None

    async def count_sent_on(self, day: date) -> int:
        """Steps created that UTC day and broadcast or confirmed."""
        start, end = utc_day(day)
        col = t.ExecutedTransactionRow.created_at
        result = await self._session.execute(
            select(func.count())
            .select_from(t.ExecutedTransactionRow)
            .where(
                col >= start,
                col < end,
                t.ExecutedTransactionRow.status.in_([s.value for s in SENT_STATUSES]),
                t.ExecutedTransactionRow.kind.not_in(NOT_TRADES),
            )
        )
        return int(result.scalar_one())

    async def recent(self, limit: int = 50) -> list[ExecutedTransaction]:
        """The newest steps, newest first."""
        rows = await self._all(
            select(t.ExecutedTransactionRow)
            .order_by(
                t.ExecutedTransactionRow.created_at.desc(), t.ExecutedTransactionRow.id.desc()
            )
            .limit(limit)
        )
        return [codec.execution_from_row(r) for r in rows]


class SqlStrategyState(_Repo):
    """The ratchet, the slippage budget and the circuit breaker."""

    async def _upsert(self, row_type: type[R], values: Mapping[str, Any]) -> None:
        existing = await self._session.get(row_type, DEFAULT_NAME)
        if existing is None:
            self._session.add(row_type(name=DEFAULT_NAME, **values))
        else:
            for key, value in values.items():
                setattr(existing, key, value)
        await self._session.flush()

    async def _get(self, row_type: type[R]) -> R | None:
        stmt = select(row_type).where(row_type.name == DEFAULT_NAME)  # type: ignore[attr-defined]
        return await self._one(stmt)

    async def ratchet(self) -> RatchetState:
        """The ratchet, fresh if never saved."""
        row = await self._get(t.RatchetRow)
        return codec.ratchet_from_row(row) if row else RatchetState()

    async def save_ratchet(self, state: RatchetState) -> None:
        """Store the ratchet."""
        await self._upsert(t.RatchetRow, codec.ratchet_values(state))

    async def slippage_budget(self) -> SlippageBudgetState:
        """The slippage budget state, empty if never saved."""
        row = await self._get(t.SlippageBudgetRow)
        return codec.slippage_from_row(row) if row else SlippageBudgetState()

    async def save_slippage_budget(self, state: SlippageBudgetState) -> None:
        """Store the slippage budget state."""
        await self._upsert(t.SlippageBudgetRow, {"used_usd": state.used_usd, "as_of": state.as_of})

    async def breaker(self) -> BreakerState:
        """The breaker state, zero if never saved."""
        row = await self._get(t.BreakerRow)
        return codec.breaker_from_row(row) if row else BreakerState()

    async def save_breaker(self, state: BreakerState) -> None:
        """Store the breaker state."""
        await self._upsert(t.BreakerRow, {"consecutive_failures": state.consecutive_failures})


class SqlOperatorFlags(_Repo):
    """Operator flags."""

    async def set(self, flag: OperatorFlag) -> None:
        """Store a flag's new value."""
        existing = await self._session.get(t.OperatorFlagRow, flag.name)
        if existing is None:
            existing = t.OperatorFlagRow(name=flag.name)
            self._session.add(existing)
        existing.active = flag.active
        existing.set_by = flag.set_by
        existing.reason = flag.reason
        existing.set_at = flag.set_at
        await self._session.flush()

    async def get(self, name: str) -> OperatorFlag | None:
        """A flag's last value."""
        row = await self._one(select(t.OperatorFlagRow).where(t.OperatorFlagRow.name == name))
        return codec.flag_from_row(row) if row else None

    async def is_active(self, name: str) -> bool:
        """Whether the flag is on."""
        flag = await self.get(name)
        return flag is not None and flag.active


class SqlManualMvrv(_Repo):
    """Manual MVRV Z values."""

    async def set_manual_mvrv(self, value: Decimal, at: datetime, set_by: str) -> None:
        """Store a manual value."""
        record = ManualMvrv(value=value, set_at=at, set_by=set_by)
        self._session.add(
            t.ManualMvrvRow(value=record.value, set_at=record.set_at, set_by=record.set_by)
        )
        await self._session.flush()

    async def latest(self) -> ManualMvrv | None:
        """The newest manual value with who set it."""
        row = await self._one(
            select(t.ManualMvrvRow).order_by(
                t.ManualMvrvRow.set_at.desc(), t.ManualMvrvRow.id.desc()
            )
        )
        return codec.manual_mvrv_from_row(row) if row else None

    async def get_manual_mvrv(self) -> tuple[Decimal, datetime] | None:
        """The newest manual value and its time."""
        record = await self.latest()
        return (record.value, record.set_at) if record else None


class SqlDecisionOutcomes(_Repo):
    """Decision outcomes per horizon."""

    async def record(self, outcome: DecisionOutcome) -> None:
        """Store (or replace) an outcome."""
        key = (outcome.decision_id, outcome.horizon_days)
        existing = await self._session.get(t.DecisionOutcomeRow, key)
        if existing is None:
            existing = t.DecisionOutcomeRow(
                decision_id=outcome.decision_id, horizon_days=outcome.horizon_days
            )
            self._session.add(existing)
        existing.portfolio_return = outcome.portfolio_return
        existing.hold_return = outcome.hold_return
        existing.measured_at = outcome.measured_at
        await self._session.flush()

    async def for_decision(self, decision_id: str) -> list[DecisionOutcome]:
        """A decision's outcomes, shortest horizon first."""
        rows = await self._all(
            select(t.DecisionOutcomeRow)
            .where(t.DecisionOutcomeRow.decision_id == decision_id)
            .order_by(t.DecisionOutcomeRow.horizon_days)
        )
        return [codec.outcome_from_row(r) for r in rows]

    async def recent(self, limit: int = 100) -> list[DecisionOutcome]:
        """The most recently measured outcomes, newest first."""
        rows = await self._all(
            select(t.DecisionOutcomeRow)
            .order_by(
                t.DecisionOutcomeRow.measured_at.desc(),
                t.DecisionOutcomeRow.decision_id,
                t.DecisionOutcomeRow.horizon_days,
            )
            .limit(limit)
        )
        return [codec.outcome_from_row(r) for r in rows]


class SqlAuditLog(_Repo, AppendsSealedEntries):
    """The hash-chained audit log."""

    def __init__(
        self, session: AsyncSession, clock: Callable[[], datetime], dialect_name: str
    ) -> None:
        _Repo.__init__(self, session)
        AppendsSealedEntries.__init__(self, clock)
        self._dialect = dialect_name

    async def _head(self) -> tuple[int, str] | None:
        # PostgreSQL: writers queue on one advisory lock held until commit or rollback, so no
        # two transactions read the same head. SQLite: BEGIN IMMEDIATE already serialises.
        if self._dialect == "postgresql":
            await self._session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY}
            )
        head = (
            await self._session.execute(
                select(t.AuditRow.seq, t.AuditRow.hash).order_by(t.AuditRow.seq.desc()).limit(1)
            )
        ).first()
        return (head.seq, head.hash) if head else None

    async def _keep(self, entry: AuditEntry) -> None:
        self._session.add(codec.audit_to_row(entry))
        await self._session.flush()

    async def entries(self, after_seq: int = 0, limit: int = 100) -> list[AuditEntry]:
        """Entries after a seq, oldest first."""
        rows = await self._all(
            select(t.AuditRow)
            .where(t.AuditRow.seq > after_seq)
            .order_by(t.AuditRow.seq)
            .limit(limit)
        )
        return [codec.audit_from_row(r) for r in rows]

    async def tail(self, count: int = 20) -> list[AuditEntry]:
        """The newest entries, oldest first."""
        rows = await self._all(select(t.AuditRow).order_by(t.AuditRow.seq.desc()).limit(count))
        return [codec.audit_from_row(r) for r in reversed(rows)]

    async def for_subject(self, subject_type: str, subject_id: str) -> list[AuditEntry]:
        """Every entry about one subject."""
        rows = await self._all(
            select(t.AuditRow)
            .where(t.AuditRow.subject_type == subject_type, t.AuditRow.subject_id == subject_id)
            .order_by(t.AuditRow.seq)
        )
        return [codec.audit_from_row(r) for r in rows]

    async def verify(self) -> int | None:
        """Walk the chain in batches; the first broken seq, or None."""
        expected_seq, prev_hash, after = 1, GENESIS_HASH, 0
        while True:
            rows = await self._all(
                select(t.AuditRow)
                .where(t.AuditRow.seq > after)
                .order_by(t.AuditRow.seq)
                .limit(VERIFY_BATCH)
            )
            if not rows:
                return None
            for row in rows:
                try:
                    entry = codec.audit_from_row(row)
                except ValueError:
                    # A row edited into something that is not even a valid entry is broken.
                    return row.seq
                broken = verify_chain([entry], start_seq=expected_seq, prev_hash=prev_hash)
                if broken is not None:
                    return broken
                expected_seq, prev_hash = entry.seq + 1, entry.hash
            after = rows[-1].seq
