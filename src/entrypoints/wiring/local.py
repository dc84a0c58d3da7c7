"""The narrow bootstrap of local commands (`treasury market set-mvrv` and the like): the
database alone, its schema checked, and a unit of work over it. Such a command then calls the
same use case the API calls, so it validates and audits exactly as the API does."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import cast

from adapters.persistence import migrate
from adapters.persistence.engine import create_engine
from adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from application.ports.clock import Clock
from application.ports.persistence import UnitOfWorkFactory
from entrypoints.settings.database import DatabaseSettings


@contextlib.asynccontextmanager
async def local_units_of_work(
    settings: DatabaseSettings, clock: Clock
) -> AsyncIterator[UnitOfWorkFactory]:
    """Units of work over the configured database for the block (audit rows stamped by
    `clock`, as in the service); the engine is closed after it.

    Raises:
        SchemaBehind: the schema is older than this code (`treasury db upgrade`).
    """
    engine = create_engine(settings.resolved_database_url())
    try:
        await migrate.ensure_schema_current(engine)
        # The container hands the same factory to the use cases untyped (dependency-injector);
        # mypy does not match SqlUnitOfWork's repositories to the port's protocol attributes.
        yield cast(UnitOfWorkFactory, SqlUnitOfWorkFactory(engine, clock=clock.now))
    finally:
        await engine.dispose()


__all__ = ["local_units_of_work"]
