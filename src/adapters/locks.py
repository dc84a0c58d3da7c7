"""The treasury lock: one decision cycle or plan execution at a time, in-process and across
processes. PostgreSQL uses a session advisory lock; SQLite (one machine) uses an OS file lock
beside the database."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.errors import CycleBusy

# A fixed signed 64-bit key for pg_advisory_lock: the first 8 bytes of a SHA-256 of our name.
ADVISORY_KEY = int.from_bytes(
    hashlib.sha256(b"treasury-manager/cycle").digest()[:8], "big", signed=True
)


class _CrossProcess(Protocol):
    def acquire(self, timeout_s: float) -> AbstractAsyncContextManager[None]: ...


class FileLock:
    """An exclusive flock(2) on a file; released when the process dies, so no stale locks."""

    def __init__(self, path: Path) -> None:
        self._path = path

    @asynccontextmanager
    async def acquire(self, timeout_s: float) -> AsyncIterator[None]:
        """Hold the lock, polling until `timeout_s`.

        Raises:
            CycleBusy: another process holds it.
        """
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise CycleBusy(f"lock file {self._path.name}") from None
                    await asyncio.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


class PostgresAdvisoryLock:
    """A session-level pg advisory lock on its own connection, released on exit or disconnect."""

    def __init__(self, engine: AsyncEngine, key: int = ADVISORY_KEY) -> None:
        self._engine = engine
        self._key = key

    @asynccontextmanager
    async def acquire(self, timeout_s: float) -> AsyncIterator[None]:
        """Hold the advisory lock, polling until `timeout_s`.

        Raises:
            CycleBusy: another session holds it.
        """
        async with self._engine.connect() as conn:
            deadline = time.monotonic() + timeout_s
            while True:
                got = (
                    await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})
                ).scalar()
                await conn.commit()
                if got:
                    break
                if time.monotonic() >= deadline:
                    raise CycleBusy("another service instance (PostgreSQL advisory lock)")
                await asyncio.sleep(0.1)
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                await conn.commit()


class TreasuryLock:
    """The CycleLock port: an asyncio lock in this process, then the cross-process lock."""

    def __init__(self, cross_process: _CrossProcess | None, timeout_s: float = 30.0) -> None:
        self._local = asyncio.Lock()
        self._cross = cross_process
        self._timeout_s = timeout_s

    @asynccontextmanager
    async def _held(self) -> AsyncIterator[None]:
        try:
            await asyncio.wait_for(self._local.acquire(), timeout=self._timeout_s)
        except TimeoutError:
            raise CycleBusy("this process") from None
        try:
            if self._cross is None:
                yield
            else:
                async with self._cross.acquire(self._timeout_s):
                    yield
        finally:
            self._local.release()

    def hold(self) -> AbstractAsyncContextManager[None]:
        """Hold the treasury lock for the block.

        Raises:
            CycleBusy: it could not be had within the timeout.
        """
        return self._held()


def lock_for(engine: AsyncEngine, data_dir: Path, timeout_s: float = 30.0) -> TreasuryLock:
    """The right lock for the database behind `engine`."""
    if engine.dialect.name == "postgresql":
        return TreasuryLock(PostgresAdvisoryLock(engine), timeout_s)
    return TreasuryLock(FileLock(data_dir / "treasury.lock"), timeout_s)
