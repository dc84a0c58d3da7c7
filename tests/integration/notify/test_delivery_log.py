"""The delivery log behaves the same in memory, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.deliveries import InMemoryDeliveryLog, SqlDeliveryLog
from application.ports.notify import (
    DeliveryLog,
    DeliveryOutcome,
    DeliveryRecord,
    EventKind,
    EventSeverity,
)
from tests.integration.persistence.conftest import (  # noqa: F401  (fixtures)
    pg_engine,
    pg_schema,
    sqlite_engine,
    sqlite_template,
    sqlite_url,
)
from tests.unit.notify.samples import AT


def record(
    channel: str, outcome: DeliveryOutcome, minutes: int, **changes: object
) -> DeliveryRecord:
    values: dict[str, object] = {
        "channel": channel,
        "event_kind": EventKind.APPROVAL_PENDING,
        "severity": EventSeverity.WARNING,
        "dedup_key": "approval_pending:dec-1",
        "title": "Approval needed: rebalance moving up to $160,000.00",
        "outcome": outcome,
        "attempt": 1,
        "at": AT + timedelta(minutes=minutes),
    }
    values.update(changes)
    return DeliveryRecord(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def delivery_log(request: pytest.FixtureRequest) -> DeliveryLog:
    if request.param == "memory":
        return InMemoryDeliveryLog()
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    engine: AsyncEngine = request.getfixturevalue(name)
    return SqlDeliveryLog(engine)


async def test_records_come_back_newest_first_per_channel(delivery_log: DeliveryLog) -> None:
    await delivery_log.record(
        record("slack", DeliveryOutcome.RETRYING, 0, status_code=503, detail="slack: HTTP 503")
    )
    await delivery_log.record(record("slack", DeliveryOutcome.SENT, 1, attempt=2, status_code=200))
    await delivery_log.record(record("telegram", DeliveryOutcome.FAILED, 2, detail="timed out"))
    last = await delivery_log.last("slack")
    assert last == record("slack", DeliveryOutcome.SENT, 1, attempt=2, status_code=200)
    assert [r.outcome for r in await delivery_log.recent(10, "slack")] == [
        DeliveryOutcome.SENT,
        DeliveryOutcome.RETRYING,
    ]
    assert [r.channel for r in await delivery_log.recent(2)] == ["telegram", "slack"]
    assert await delivery_log.last("webhook") is None


async def test_ties_in_time_keep_the_order_they_were_written(delivery_log: DeliveryLog) -> None:
    await delivery_log.record(record("webhook", DeliveryOutcome.RETRYING, 0))
    await delivery_log.record(record("webhook", DeliveryOutcome.FAILED, 0, attempt=2))
    last = await delivery_log.last("webhook")
    assert last is not None
    assert last.outcome is DeliveryOutcome.FAILED


async def test_long_details_are_cut_to_the_column_not_refused(delivery_log: DeliveryLog) -> None:
    await delivery_log.record(record("webhook", DeliveryOutcome.FAILED, 0, detail="x" * 5000))
    last = await delivery_log.last("webhook")
    assert last is not None
    assert last.detail == "x" * 2000
