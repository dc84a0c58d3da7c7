"""A process killed in the middle of a unit of work leaves nothing of that unit behind."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.engine import create_engine
from adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.contracts.persistence import make_decision
from tests.integration.persistence.conftest import PgSchema

ROOT = Path(__file__).resolve().parents[3]
WRITER = Path(__file__).with_name("crash_writer.py")


def kill_mid_unit(url: str, schema: str | None) -> None:
    """Start the writer, wait until its unit is written but not committed, SIGKILL it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    args = [sys.executable, str(WRITER), url, *([schema] if schema else [])]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert child.stdout is not None
        readable, _, _ = select.select([child.stdout], [], [], 30)
        line = child.stdout.readline() if readable else b""
        assert line == b"ready\n", child.stderr.read() if child.poll() is not None else b""
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


async def assert_nothing_left(engine: AsyncEngine) -> None:
    factory = SqlUnitOfWorkFactory(engine)
    async with factory() as uow:
        assert await uow.decisions.find("dec-crash") is None
        assert await uow.plans.find("plan-crash") is None
        assert await uow.snapshots.latest() is None
        assert await uow.audit.tail() == []
    # And the database is not left locked: the next writer commits at once.
    async with factory() as uow:
        await uow.decisions.add(make_decision("dec-after"))
        await uow.audit.append("cycle", "decision.created", "decision", "dec-after", {})
        await uow.commit()
    async with factory() as uow:
        assert await uow.audit.verify() is None
        assert [e.seq for e in await uow.audit.tail()] == [1]


async def test_a_killed_sqlite_writer_leaves_no_half_written_unit(sqlite_url: str) -> None:
    kill_mid_unit(sqlite_url, None)
    engine = create_engine(sqlite_url)  # a "restart": a fresh engine on the same file
    try:
        await assert_nothing_left(engine)
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_killed_postgres_writer_leaves_no_half_written_unit(
    pg_engine: AsyncEngine, pg_schema: PgSchema
) -> None:
    kill_mid_unit(pg_schema.url, pg_schema.schema)
    await assert_nothing_left(pg_engine)
