"""Databases for the persistence integration tests.

SQLite: a file under tmp_path, copied from a template migrated once per run. PostgreSQL: the
server at TREASURY_TEST_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test);
each run works in its own fresh schema, dropped at the end, so runs are isolated and
re-runnable. A missing PostgreSQL skips locally and fails under CI=true.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence import migrate
from adapters.persistence.engine import create_engine
from adapters.persistence.tables import Base
from tests.servers import port_open, require_server

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """The PostgreSQL URL tests use."""
    return os.environ.get("TREASURY_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def postgres_available() -> bool:
    """Whether something listens where the PostgreSQL URL points."""
    url = make_url(postgres_url())
    return port_open(url.host or "127.0.0.1", url.port or 5432)


def require_postgres() -> None:
    """Skip (locally) or fail (CI) when PostgreSQL is missing."""
    require_server(
        "PostgreSQL",
        postgres_available(),
        f"start PostgreSQL at {make_url(postgres_url()).render_as_string(hide_password=True)} "
        "or set TREASURY_TEST_POSTGRES_URL",
    )


def sqlite_url_for(path: Path) -> str:
    """A SQLite URL for a file."""
    return f"sqlite+aiosqlite:///{path}"


async def _with_engine(url: str, schema: str | None, migrate_up: bool) -> None:
    engine = create_engine(url, schema=schema)
    try:
        if migrate_up:
            await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def _pg_admin(sql: str) -> None:
    engine = create_engine(postgres_url())
    try:
        async with engine.begin() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


def new_schema_name() -> str:
    """A unique schema name for this test run."""
    return f"tm_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class PgSchema:
    """A migrated PostgreSQL schema for this test run."""

    url: str
    schema: str


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once per run."""
    path = tmp_path_factory.mktemp("sqlite-template") / "treasury.db"
    asyncio.run(_with_engine(sqlite_url_for(path), None, migrate_up=True))
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A fresh, migrated SQLite database file for one test."""
    path = tmp_path / "treasury.db"
    shutil.copyfile(sqlite_template, path)
    return sqlite_url_for(path)


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh migrated SQLite database."""
    engine = create_engine(sqlite_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[PgSchema]:
    """A fresh schema, migrated to head, for this run; dropped afterwards."""
    if not postgres_available():
        yield PgSchema(url=postgres_url(), schema="")
        return
    schema = new_schema_name()
    asyncio.run(_pg_admin(f'CREATE SCHEMA "{schema}"'))
    try:
        asyncio.run(_with_engine(postgres_url(), schema, migrate_up=True))
        yield PgSchema(url=postgres_url(), schema=schema)
    finally:
        asyncio.run(_pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture
async def pg_engine(pg_schema: PgSchema) -> AsyncIterator[AsyncEngine]:
    """An engine on the run's schema with every table emptied."""
    require_postgres()
    engine = create_engine(pg_schema.url, schema=pg_schema.schema)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield engine
    await engine.dispose()


@pytest.fixture
async def empty_pg_engine() -> AsyncIterator[AsyncEngine]:
    """An engine on a brand-new empty schema (for migration tests); dropped afterwards."""
    require_postgres()
    schema = new_schema_name()
    await _pg_admin(f'CREATE SCHEMA "{schema}"')
    engine = create_engine(postgres_url(), schema=schema)
    try:
        yield engine
    finally:
        await engine.dispose()
        await _pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
async def empty_sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a SQLite file that does not exist yet (in a directory not yet made)."""
    engine = create_engine(sqlite_url_for(tmp_path / "var" / "treasury.db"))
    yield engine
    await engine.dispose()
