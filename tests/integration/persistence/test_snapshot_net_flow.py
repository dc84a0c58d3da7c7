"""Snapshots keep their net flow on SQLite and PostgreSQL; migration 0004 gives old ones zero."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence import migrate
from adapters.persistence.tables import PortfolioSnapshotRow
from adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from domain.portfolio import PortfolioState

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
FLOW = Decimal("-1234.567890123456789")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> AsyncEngine:
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    found: AsyncEngine = request.getfixturevalue(name)
    return found


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest) -> AsyncEngine:
    name = "empty_sqlite_engine" if request.param == "sqlite" else "empty_pg_engine"
    found: AsyncEngine = request.getfixturevalue(name)
    return found


async def test_a_snapshot_reads_back_with_its_exact_net_flow(engine: AsyncEngine) -> None:
    factory = SqlUnitOfWorkFactory(engine)
    state = PortfolioState.build(
        positions=(), cash_balance=Decimal(10_000), as_of=T0, net_flow_usd=FLOW
    )
    async with factory() as uow:
        await uow.snapshots.add(state)
        await uow.snapshots.add(
            PortfolioState.build(
                positions=(), cash_balance=Decimal(1), as_of=T0 + timedelta(hours=1)
            )
        )
        await uow.commit()
    async with factory() as uow:
        stored = await uow.snapshots.between(T0, T0 + timedelta(hours=1))
    assert [s.net_flow_usd for s in stored] == [FLOW.quantize(Decimal("1e-18")), Decimal(0)]


async def test_snapshots_written_before_0004_have_no_flow(empty_engine: AsyncEngine) -> None:
    await migrate.upgrade(empty_engine, "0003")
    async with empty_engine.begin() as connection:
        await connection.execute(
            insert(PortfolioSnapshotRow.__table__).values(  # type: ignore[arg-type]
                as_of=T0,
                total_value_usd=Decimal(500),
                cash_balance=Decimal(500),
                cash_asset="USDC",
                allocations="{}",
                extra="{}",
            )
        )
    await migrate.upgrade(empty_engine)
    async with SqlUnitOfWorkFactory(empty_engine)() as uow:
        old = await uow.snapshots.latest()
    assert old is not None
    assert old.net_flow_usd == 0
    assert old.total_value_usd == Decimal(500)
    await migrate.downgrade(empty_engine, "0003")
    assert await migrate.current_revision(empty_engine) == "0003"
