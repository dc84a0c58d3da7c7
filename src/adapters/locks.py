"""The treasury lock: one decision cycle or plan execution at a time, in-process and across
processes. PostgreSQL uses a session advisory lock; SQLite (one machine) uses an OS file lock
beside the database.

The instance lock: one service per data directory, for the life of the process."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.errors import CycleBusy, PermanentError

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


class DataDirectoryInUse(PermanentError):
    """Another service process holds the data directory."""

    def __init__(self, data_dir: Path, holder: str) -> None:
        self.data_dir = data_dir
        self.holder = holder
        super().__init__(
            f"data directory {data_dir} is in use by another treasury service ({holder}); "
            "stop that one first, or give this one its own TREASURY_DATA_DIR"
        )


def _describe(owner: dict[str, object]) -> str:
    parts = [f"pid {owner.get('pid', '?')} on host {owner.get('host', '?')}"]
    if owner.get("url"):
        parts.append(f"serving {owner['url']}")
    if owner.get("started_at"):
        parts.append(f"started {owner['started_at']}")
    return ", ".join(parts)


class InstanceLock:
    """An exclusive flock(2) on `<data dir>/service.lock`, held for the life of the service.

    The kernel drops it when the process ends, however it ends (a SIGKILL too), so a stale lock
    file never blocks a restart; the file only says who holds the lock (pid, host, URL), for
    the refusal message of a second instance.
    """

    FILE = "service.lock"

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._path = data_dir / self.FILE
        self._fd: int | None = None

    def acquire(self, *, url: str | None, started_at: str) -> None:
        """Take the lock and record who holds it; call before writing anything else.

        Raises:
            DataDirectoryInUse: another live process holds it (the message names it).
        """
        self._data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder(fd)
            os.close(fd)
            raise DataDirectoryInUse(self._data_dir, holder) from None
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "url": url,
            "started_at": started_at,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(owner).encode(), 0)
        self._fd = fd

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            owner = json.loads(os.pread(fd, 4096, 0) or b"{}")
        except ValueError:
            owner = {}
        if not isinstance(owner, dict) or not owner:
            return "a process that is still starting"
        return _describe(owner)

    def release(self) -> None:
        """Let the lock go (the process ending does the same)."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
