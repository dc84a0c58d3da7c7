"""The SQLAlchemy unit of work: one AsyncSession, one transaction, every repository."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.persistence.engine import redacted
from adapters.persistence.errors import database_errors
from adapters.persistence.repositories import (
    SqlAuditLog,
    SqlDecisionOutcomes,
    SqlDecisions,
    SqlExecutions,
    SqlManualMvrv,
    SqlMarketData,
    SqlOperatorFlags,
    SqlPlans,
    SqlPortfolioSnapshots,
    SqlPositions,
    SqlSignals,
    SqlStrategyState,
)


def utc_now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


class SqlUnitOfWork:
    """`async with uow:` begins a transaction (BEGIN IMMEDIATE on SQLite); leaving without
    `await uow.commit()` rolls it back. Not reusable across concurrent tasks."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        url: str,
        dialect_name: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._sessions = sessions
        self._url = url
        self._dialect = dialect_name
        self._clock = clock
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        """Open a session and begin its transaction."""
        session = self._sessions()
        async with database_errors(self._url, "beginning a transaction"):
            try:
                await session.connection()
            except BaseException:
                await session.close()
                raise
        self._session = session
        self.snapshots = SqlPortfolioSnapshots(session)
        self.positions = SqlPositions(session)
        self.market_data = SqlMarketData(session)
        self.signals = SqlSignals(session)
        self.decisions = SqlDecisions(session)
        self.plans = SqlPlans(session)
        self.executions = SqlExecutions(session)
        self.strategy = SqlStrategyState(session)
        self.flags = SqlOperatorFlags(session)
        self.manual_mvrv = SqlManualMvrv(session)
        self.outcomes = SqlDecisionOutcomes(session)
        self.audit = SqlAuditLog(session, self._clock, self._dialect)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back anything not committed and release the connection."""
        session, self._session = self._session, None
        if session is None:
            return
        try:
            await session.rollback()
        finally:
            await session.close()

    def _require(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("use the unit of work inside `async with`")
        return self._session

    async def commit(self) -> None:
        """Commit everything written in this unit, atomically."""
        session = self._require()
        async with database_errors(self._url, "commit"):
            await session.commit()
        # Keep the unit usable after a commit: the next statement begins a new transaction.

    async def rollback(self) -> None:
        """Discard everything written since the last commit."""
        await self._require().rollback()


class SqlUnitOfWorkFactory:
    """Makes SqlUnitOfWork instances over one engine (a `UnitOfWorkFactory`)."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self._clock = clock
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
        self._url = redacted(engine.url)

    def __call__(self) -> SqlUnitOfWork:
        """A new unit of work."""
        return SqlUnitOfWork(
            self._sessions, url=self._url, dialect_name=self.engine.dialect.name, clock=self._clock
        )
