"""The treasury lock keeps cycles apart within a process and across processes."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.locks import FileLock, PostgresAdvisoryLock, TreasuryLock
from application.errors import CycleBusy
from tests.servers import port_open, require_server

PG_URL = os.environ.get(
    "TREASURY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)

HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(30)
"""


async def test_one_holder_at_a_time_in_process(tmp_path: Path) -> None:
    lock = TreasuryLock(FileLock(tmp_path / "t.lock"), timeout_s=0.3)
    order: list[str] = []

    async def worker(name: str) -> None:
        async with lock.hold():
            order.append(f"{name} in")
            await asyncio.sleep(0.05)
            order.append(f"{name} out")

    await asyncio.gather(worker("a"), worker("b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


async def test_waiting_longer_than_the_timeout_is_cycle_busy(tmp_path: Path) -> None:
    lock = TreasuryLock(None, timeout_s=0.1)
    async with lock.hold():
        with pytest.raises(CycleBusy, match="this process"):
            async with lock.hold():
                pass


async def test_another_process_holding_the_file_lock_makes_us_wait_then_fail(
    tmp_path: Path,
) -> None:
    path = tmp_path / "treasury.lock"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(path), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"held"
        with pytest.raises(CycleBusy, match=r"treasury\.lock"):
            async with TreasuryLock(FileLock(path), timeout_s=0.3).hold():
                pass
    finally:
        proc.kill()
        await proc.wait()
    # The holder died: the OS released its lock, no stale lock file blocks us.
    async with TreasuryLock(FileLock(path), timeout_s=1).hold():
        pass


@pytest.mark.postgres
async def test_postgres_advisory_lock_excludes_a_second_session() -> None:
    require_server("PostgreSQL", port_open("127.0.0.1", 5432), "start it at 127.0.0.1:5432")
    first = create_async_engine(PG_URL)
    second = create_async_engine(PG_URL)
    try:
        async with TreasuryLock(PostgresAdvisoryLock(first), timeout_s=1).hold():
            with pytest.raises(CycleBusy, match="advisory lock"):
                async with TreasuryLock(PostgresAdvisoryLock(second), timeout_s=0.3).hold():
                    pass
        async with TreasuryLock(PostgresAdvisoryLock(second), timeout_s=1).hold():
            pass
    finally:
        await first.dispose()
        await second.dispose()
