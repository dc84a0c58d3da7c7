"""SQLite and PostgreSQL pass the same persistence contract as the in-memory unit of work."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.contracts.persistence import Tamper, UnitOfWorkContract


def tamper_with(engine: AsyncEngine) -> Tamper:
    async def tamper(seq: int) -> None:
        # Raw SQL behind the application's back, as someone with database access could.
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE audit_log SET payload = :payload WHERE seq = :seq"),
                {"payload": '{"i":999}', "seq": seq},
            )

    return tamper


class TestSqliteUnitOfWork(UnitOfWorkContract):
    @pytest.fixture
    def uow_factory(self, sqlite_engine: AsyncEngine) -> SqlUnitOfWorkFactory:
        return SqlUnitOfWorkFactory(sqlite_engine)

    @pytest.fixture
    def tamper_audit(self, sqlite_engine: AsyncEngine) -> Tamper:
        return tamper_with(sqlite_engine)


@pytest.mark.postgres
class TestPostgresUnitOfWork(UnitOfWorkContract):
    @pytest.fixture
    def uow_factory(self, pg_engine: AsyncEngine) -> SqlUnitOfWorkFactory:
        return SqlUnitOfWorkFactory(pg_engine)

    @pytest.fixture
    def tamper_audit(self, pg_engine: AsyncEngine) -> Tamper:
        return tamper_with(pg_engine)


async def test_an_audit_row_edited_into_garbage_is_reported_as_broken(
    sqlite_engine: AsyncEngine,
) -> None:
    factory = SqlUnitOfWorkFactory(sqlite_engine)
    async with factory() as uow:
        for i in range(3):
            await uow.audit.append("cycle", "step", "plan", "plan-1", {"i": i})
        await uow.commit()
    async with sqlite_engine.begin() as connection:
        await connection.execute(text("UPDATE audit_log SET payload = '{not json' WHERE seq = 2"))
    async with factory() as uow:
        assert await uow.audit.verify() == 2
