"""The treasury lock: one decision cycle or plan execution at a time, in-process and across
processes. PostgreSQL uses a session advisory lock; SQLite (one machine) uses an OS file lock
beside the database.

The leader lock: which of several service processes sharing one database runs cycles and
executions. On PostgreSQL it is a session advisory lock (its own key, per database and schema)
held on a connection of its own for as long as the process leads; PostgreSQL releases it when
that connection ends, so the lock dies with the process. On SQLite it is an flock(2) on a file
in the data directory, released by the OS when the process dies. With a leadership check given,
the treasury lock refuses (`NotLeader`) unless this process still leads, checked each time.

The instance lock: one service per data directory, for the life of the process.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from application.errors import CycleBusy, NotLeader, PermanentError

log = logging.getLogger(__name__)

# A fixed signed 64-bit key for pg_advisory_lock: the first 8 bytes of a SHA-256 of our name.
ADVISORY_KEY = int.from_bytes(
    hashlib.sha256(b"treasury-manager/cycle").digest()[:8], "big", signed=True
)


# The leader lock's keys: a fixed namespace (31 bits of a SHA-256 of our name, so never
# negative) and, computed by the server, a hash of the database's current schema.
LEADER_NAMESPACE = int.from_bytes(hashlib.sha256(b"treasury-manager/leader").digest()[:4]) >> 1
# current_schema() is NULL when no schema on the search_path exists yet.
_TAKE_LEADER_LOCK = "SELECT pg_try_advisory_lock(:ns, hashtext(coalesce(current_schema(), '')))"
# pg_backend_pid(): a connection SQLAlchemy silently replaced after a drop holds no lock.
_LEADER_LOCK_HELD = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND pid = pg_backend_pid() AND classid = :ns "
    "AND objid = hashtext(coalesce(current_schema(), ''))::oid)"
)


class _CrossProcess(Protocol):
    def acquire(self, timeout_s: float) -> AbstractAsyncContextManager[None]: ...


class LeadershipCheck(Protocol):
    """Whether this process leads right now (checked against the database, not remembered)."""

    async def confirm(self) -> bool: ...


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

    def __init__(
        self,
        cross_process: _CrossProcess | None,
        timeout_s: float = 30.0,
        *,
        leadership: LeadershipCheck | None = None,
    ) -> None:
        self._local = asyncio.Lock()
        self._cross = cross_process
        self._timeout_s = timeout_s
        self._leadership = leadership

    @asynccontextmanager
    async def _held(self) -> AsyncIterator[None]:
        try:
            await asyncio.wait_for(self._local.acquire(), timeout=self._timeout_s)
        except TimeoutError:
            raise CycleBusy("this process") from None
        try:
            # Checked every time, not remembered: a leader whose lock connection dropped must
            # stop before its next cycle or execution, even if it has not noticed yet.
            if self._leadership is not None and not await self._leadership.confirm():
                raise NotLeader
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
            NotLeader: this process does not (or no longer) lead.
        """
        return self._held()


def lock_for(
    engine: AsyncEngine,
    data_dir: Path,
    timeout_s: float = 30.0,
    *,
    leadership: LeadershipCheck | None = None,
) -> TreasuryLock:
    """The right lock for the database behind `engine`, gated by `leadership` when given."""
    if engine.dialect.name == "postgresql":
        return TreasuryLock(PostgresAdvisoryLock(engine), timeout_s, leadership=leadership)
    return TreasuryLock(FileLock(data_dir / "treasury.lock"), timeout_s, leadership=leadership)


class LeaderLock(Protocol):
    """A lock one process holds for as long as it leads; released when that process dies."""

    async def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True if this process holds it now."""
        ...

    async def still_held(self) -> bool:
        """Whether this process still holds the lock (False when it was lost)."""
        ...

    async def release(self) -> None:
        """Let the lock go (nothing when not held)."""
        ...


class PostgresLeaderLock:
    """The leader lock as a session advisory lock on a dedicated connection (see module doc).

    Every query is bounded by `timeout_s`: a leader that cannot confirm its lock in time takes
    it as lost, and a standby that cannot reach the database does not lead.
    """

    def __init__(self, engine: AsyncEngine, *, timeout_s: float = 5.0) -> None:
        self._engine = engine
        self._timeout_s = timeout_s
        self._conn: AsyncConnection | None = None
        self._guard = asyncio.Lock()

    async def try_acquire(self) -> bool:
        """Try once to take the lock on a new connection; True if held.

        Raises:
            SQLAlchemyError, OSError, TimeoutError: the database could not be asked.
        """
        async with self._guard:
            if self._conn is not None:
                return await self._check(self._conn)
            conn = await asyncio.wait_for(self._engine.connect(), self._timeout_s)
            try:
                got = await asyncio.wait_for(
                    conn.scalar(text(_TAKE_LEADER_LOCK), {"ns": LEADER_NAMESPACE}),
                    self._timeout_s,
                )
                await conn.commit()
            except BaseException:
                await self._discard(conn)
                raise
            if not got:
                await self._discard(conn)
                return False
            self._conn = conn
            return True

    async def still_held(self) -> bool:
        """Ask the server whether our lock connection still holds an advisory lock; a dropped
        connection, an error or no answer within the timeout all count as lost."""
        async with self._guard:
            if self._conn is None:
                return False
            return await self._check(self._conn)

    async def _check(self, conn: AsyncConnection) -> bool:
        try:
            held = await asyncio.wait_for(
                conn.scalar(text(_LEADER_LOCK_HELD), {"ns": LEADER_NAMESPACE}),
                self._timeout_s,
            )
            await conn.commit()
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            log.warning(
                "the leader lock could not be confirmed",
                extra={"error_type": type(exc).__name__, "error": str(exc)},
            )
            held = False
        if not held:
            self._conn = None
            await self._discard(conn)
        return bool(held)

    async def release(self) -> None:
        """Close the lock connection; the server drops the lock with it."""
        async with self._guard:
            conn, self._conn = self._conn, None
            if conn is not None:
                await self._discard(conn)

    async def _discard(self, conn: AsyncConnection) -> None:
        # Invalidate rather than return it to the pool: a pooled connection would keep the
        # session lock alive behind our back.
        try:
            await conn.invalidate()
            await conn.close()
        except (SQLAlchemyError, OSError) as exc:
            log.debug("closing the leader lock connection failed", extra={"error": str(exc)})


class FileLeaderLock:
    """The leader lock as an flock(2) held on an open file (SQLite: processes on one machine)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    async def try_acquire(self) -> bool:
        """Try once to take the lock; True if held."""
        if self._fd is not None:
            return True
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def still_held(self) -> bool:
        """An flock lasts as long as the open file: held while we keep it open."""
        return self._fd is not None

    async def release(self) -> None:
        """Close the file, which releases the lock."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def leader_lock_for(engine: AsyncEngine, data_dir: Path, *, timeout_s: float) -> LeaderLock:
    """The leader lock for the database behind `engine`."""
    if engine.dialect.name == "postgresql":
        return PostgresLeaderLock(engine, timeout_s=timeout_s)
    return FileLeaderLock(data_dir / "treasury.leader")


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
