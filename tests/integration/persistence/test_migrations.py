"""Migrations walk up and down on SQLite and PostgreSQL, agree with the models, and the
start-up guard refuses a database that is behind."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence import migrate
from adapters.persistence.errors import SchemaBehind, SchemaUnknown
from adapters.persistence.tables import Base

OUR_TABLES = set(Base.metadata.tables)


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    return set(names) - {migrate.VERSION_TABLE}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest) -> AsyncEngine:
    name = "empty_sqlite_engine" if request.param == "sqlite" else "empty_pg_engine"
    engine: AsyncEngine = request.getfixturevalue(name)
    return engine


async def test_migrations_go_from_empty_to_head_and_back(empty_engine: AsyncEngine) -> None:
    assert await migrate.current_revision(empty_engine) is None
    await migrate.upgrade(empty_engine)
    assert await migrate.current_revision(empty_engine) == migrate.head_revision()
    assert await table_names(empty_engine) == OUR_TABLES
    await migrate.downgrade(empty_engine)
    assert await migrate.current_revision(empty_engine) is None
    assert await table_names(empty_engine) == set()
    await migrate.upgrade(empty_engine)
    assert await migrate.current_revision(empty_engine) == migrate.head_revision()


async def test_every_revision_can_be_undone_and_redone_one_step_at_a_time(
    empty_engine: AsyncEngine,
) -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    revisions = list(reversed(list(script.walk_revisions())))
    for revision in revisions:
        await migrate.upgrade(empty_engine, revision.revision)
        await migrate.downgrade(empty_engine, revision.down_revision or "base")
        await migrate.upgrade(empty_engine, revision.revision)
        assert await migrate.current_revision(empty_engine) == revision.revision
    assert revisions[-1].revision == migrate.head_revision()


async def test_the_migrated_schema_matches_the_models(empty_engine: AsyncEngine) -> None:
    await migrate.upgrade(empty_engine)
    assert await migrate.schema_drift(empty_engine) == []


async def test_the_drift_check_notices_a_schema_that_differs_from_the_models(
    empty_engine: AsyncEngine,
) -> None:
    await migrate.upgrade(empty_engine)
    async with empty_engine.begin() as connection:
        await connection.execute(text("DROP INDEX ix_decisions_status"))
    drift = await migrate.schema_drift(empty_engine)
    assert [d[0] for d in drift] == ["add_index"]


async def test_an_empty_database_is_refused_with_the_command_to_run(
    empty_engine: AsyncEngine,
) -> None:
    with pytest.raises(SchemaBehind, match="run `treasury db upgrade`") as caught:
        await migrate.ensure_schema_current(empty_engine)
    assert caught.value.current is None
    assert caught.value.head == migrate.head_revision()


async def test_paper_mode_may_upgrade_a_database_that_is_behind(
    empty_engine: AsyncEngine,
) -> None:
    status = await migrate.ensure_schema_current(empty_engine, auto_upgrade=True)
    assert status.up_to_date
    assert await table_names(empty_engine) == OUR_TABLES


async def test_a_database_written_by_newer_code_is_refused(empty_engine: AsyncEngine) -> None:
    await migrate.upgrade(empty_engine)
    async with empty_engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = 'ffff_future'"))
    with pytest.raises(SchemaUnknown, match="ffff_future"):
        await migrate.ensure_schema_current(empty_engine, auto_upgrade=True)


def test_revision_files_carry_their_date_in_the_name() -> None:
    names = [p.name for p in (migrate.MIGRATIONS_DIR / "versions").glob("*.py")]
    assert names
    assert all(name[:4].isdigit() and name[4] == "_" for name in names)
