"""The notification delivery log (`DeliveryLog` port): SQL and in-memory.

Kept out of the unit of work on purpose: deliveries happen in the background, long after the
decision's transaction committed, and each record is written in its own short transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.persistence import tables as t
from adapters.persistence.engine import redacted
from adapters.persistence.errors import database_errors
from application.ports.notify import DeliveryOutcome, DeliveryRecord, EventKind, EventSeverity

MAX_TEXT = 2000


def bounded(record: DeliveryRecord) -> DeliveryRecord:
    """The record as stored: key, title and detail cut to the column sizes."""
    return replace(
        record,
        dedup_key=record.dedup_key[: t.NAME],
        title=record.title[:MAX_TEXT],
        detail=record.detail[:MAX_TEXT] if record.detail is not None else None,
    )


def _to_row(record: DeliveryRecord) -> t.NotificationDeliveryRow:
    record = bounded(record)
    return t.NotificationDeliveryRow(
        at=record.at,
        channel=record.channel,
        event_kind=record.event_kind.value,
        severity=record.severity.value,
        dedup_key=record.dedup_key,
        title=record.title,
        outcome=record.outcome.value,
        attempt=record.attempt,
        status_code=record.status_code,
        detail=record.detail,
    )


def _to_domain(row: t.NotificationDeliveryRow) -> DeliveryRecord:
    return DeliveryRecord(
        channel=row.channel,
        event_kind=EventKind(row.event_kind),
        severity=EventSeverity(row.severity),
        dedup_key=row.dedup_key,
        title=row.title,
        outcome=DeliveryOutcome(row.outcome),
        attempt=row.attempt,
        at=row.at,
        status_code=row.status_code,
        detail=row.detail,
    )


class SqlDeliveryLog:
    """Delivery records in the `notification_deliveries` table, one transaction per write."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            engine, expire_on_commit=False
        )
        self._url = redacted(engine.url)

    async def record(self, record: DeliveryRecord) -> None:
        """Store one attempt's outcome.

        Raises:
            DatabaseUnavailable: the database could not be written.
        """
        async with (
            database_errors(self._url, "recording a notification delivery"),
            self._sessions() as session,
        ):
            session.add(_to_row(record))
            await session.commit()

    async def last(self, channel: str) -> DeliveryRecord | None:
        """The newest record of a channel."""
        rows = await self.recent(1, channel)
        return rows[0] if rows else None

    async def recent(self, limit: int = 50, channel: str | None = None) -> list[DeliveryRecord]:
        """The newest records, newest first."""
        stmt = select(t.NotificationDeliveryRow)
        if channel is not None:
            stmt = stmt.where(t.NotificationDeliveryRow.channel == channel)
        stmt = stmt.order_by(
            t.NotificationDeliveryRow.at.desc(), t.NotificationDeliveryRow.id.desc()
        ).limit(limit)
        async with (
            database_errors(self._url, "reading notification deliveries"),
            self._sessions() as session,
        ):
            rows = (await session.execute(stmt)).scalars().all()
        return [_to_domain(r) for r in rows]


class InMemoryDeliveryLog:
    """The in-memory twin: same ordering (newest first, ties by insertion) and limits."""

    def __init__(self) -> None:
        self._records: list[DeliveryRecord] = []
        self._lock = asyncio.Lock()

    async def record(self, record: DeliveryRecord) -> None:
        """Store one attempt's outcome."""
        async with self._lock:
            self._records.append(bounded(record))

    async def last(self, channel: str) -> DeliveryRecord | None:
        """The newest record of a channel."""
        rows = await self.recent(1, channel)
        return rows[0] if rows else None

    async def recent(self, limit: int = 50, channel: str | None = None) -> list[DeliveryRecord]:
        """The newest records, newest first."""
        indexed = [
            (r.at, i, r)
            for i, r in enumerate(self._records)
            if channel is None or r.channel == channel
        ]
        indexed.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [r for _, _, r in indexed[:limit]]

    @property
    def records(self) -> list[DeliveryRecord]:
        """Every record, oldest first (for tests and the CLI)."""
        return list(self._records)
