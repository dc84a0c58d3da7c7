"""The leader lock on a real PostgreSQL server (each test in a schema of its own) and on a file."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.locks import LEADER_NAMESPACE, FileLeaderLock, PostgresLeaderLock, TreasuryLock
from adapters.persistence.engine import create_engine
from application.errors import NotLeader
from entrypoints.election import LeaderElection, Role
from tests.integration.persistence.conftest import postgres_url, require_postgres


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    require_postgres()
    name = f"tm_leader_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url())
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        yield name
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        await admin.dispose()


@pytest.fixture
async def engines(schema: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two engines on the schema, as two service processes would have."""
    first, second = (
        create_engine(postgres_url(), schema=schema),
        create_engine(postgres_url(), schema=schema),
    )
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


async def terminate_leader_connection(schema: str) -> int:
    """Kill the server session holding the schema's leader lock, as a network drop would."""
    admin = create_engine(postgres_url())
    try:
        async with admin.begin() as conn:
            killed = (
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks "
                        "WHERE locktype = 'advisory' AND classid = :ns "
                        "AND objid = hashtext(:schema)::oid"
                    ),
                    {"ns": LEADER_NAMESPACE, "schema": schema},
                )
            ).all()
        return len(killed)
    finally:
        await admin.dispose()


@pytest.mark.postgres
async def test_only_one_process_holds_the_leader_lock_until_it_lets_go(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first, second = (PostgresLeaderLock(e, timeout_s=5) for e in engines)
    assert await first.try_acquire()
    assert await first.try_acquire()  # again: still ours
    assert not await second.try_acquire()
    assert await first.still_held()
    assert not await second.still_held()
    await first.release()
    assert not await first.still_held()
    assert await second.try_acquire()
    await second.release()


@pytest.mark.postgres
async def test_a_leader_whose_lock_connection_dropped_stops_before_its_next_cycle(
    engines: tuple[AsyncEngine, AsyncEngine], schema: str
) -> None:
    leader = LeaderElection(PostgresLeaderLock(engines[0], timeout_s=5), check_interval_s=1)
    standby = LeaderElection(PostgresLeaderLock(engines[1], timeout_s=5), check_interval_s=1)
    try:
        assert await leader.try_lead()
        assert not await standby.try_lead()
        cycle_lock = TreasuryLock(None, timeout_s=1, leadership=leader)
        async with cycle_lock.hold():
            pass

        assert await terminate_leader_connection(schema) == 1
        # The process runs on, but its next cycle is refused, and the standby takes over.
        with pytest.raises(NotLeader):
            async with cycle_lock.hold():
                pass
        assert leader.role is Role.FOLLOWER
        assert await standby.try_lead()
        assert not await leader.try_lead()  # back as a standby: it does not take it back
    finally:
        await leader.release()
        await standby.release()


@pytest.mark.postgres
async def test_treasuries_in_different_schemas_each_have_their_own_leader(
    engines: tuple[AsyncEngine, AsyncEngine], schema: str
) -> None:
    other_schema = f"{schema}_b"
    admin = create_engine(postgres_url())
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{other_schema}"'))
    other = create_engine(postgres_url(), schema=other_schema)
    here, there = PostgresLeaderLock(engines[0]), PostgresLeaderLock(other)
    try:
        assert await here.try_acquire()
        assert await there.try_acquire()
    finally:
        await here.release()
        await there.release()
        await other.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{other_schema}" CASCADE'))
        await admin.dispose()


async def test_the_file_leader_lock_has_one_holder_until_it_lets_go(tmp_path: Path) -> None:
    first, second = FileLeaderLock(tmp_path / "l"), FileLeaderLock(tmp_path / "l")
    assert await first.try_acquire()
    assert not await second.try_acquire()
    await first.release()
    assert await second.try_acquire()
    assert await second.still_held()
    await second.release()
