"""Alembic environment: async engines, run either programmatically (a connection is handed in by
`adapters.persistence.migrate`) or from the `alembic` command line (URL from the config)."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from adapters.persistence.engine import create_engine
from adapters.persistence.migrate import include_name, render_item
from adapters.persistence.tables import Base

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    """Run the migrations on an open (sync-facing) connection."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_with_own_engine(url: str) -> None:
    """Create an engine from the configured URL and migrate."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


def main() -> None:
    """Entry point Alembic calls."""
    if context.is_offline_mode():
        raise SystemExit("offline (SQL script) migrations are not supported; use `treasury db`")
    connection: Any = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url, or run migrations through `treasury db upgrade`")
    asyncio.run(run_with_own_engine(url))


main()
