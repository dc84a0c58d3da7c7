"""Engine creation from a URL: SQLite (aiosqlite, embedded default) or PostgreSQL (asyncpg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.persistence.errors import UnsupportedDatabase

SQLITE_BUSY_TIMEOUT_MS = 30_000
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def sqlite_url(data_dir: Path, filename: str = "treasury.db") -> str:
    """The embedded database URL under a data directory."""
    return f"sqlite+aiosqlite:///{(data_dir / filename).resolve()}"


def redacted(url: str | URL) -> str:
    """The URL with any password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def create_engine(url: str | URL, *, schema: str | None = None, echo: bool = False) -> AsyncEngine:
    """An async engine for a SQLite or PostgreSQL URL.

    SQLite: the database's directory is created (0700) and the file too (0600, which its WAL
    and shared-memory files inherit); WAL, foreign keys and a 30 s busy timeout are
    switched on; every transaction starts with BEGIN IMMEDIATE, so writers queue one after the
    other (the audit chain cannot fork) and a unit of work never half-applies. PostgreSQL:
    asyncpg with pre-ping; `schema` sets the search_path (tests isolate themselves with it).

    Raises:
        UnsupportedDatabase: the URL is neither sqlite+aiosqlite nor postgresql+asyncpg.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    if backend == "sqlite" and driver == "aiosqlite":
        return _sqlite_engine(parsed, echo)
    if backend == "postgresql" and driver == "asyncpg":
        connect_args: dict[str, Any] = {}
        if schema:
            connect_args["server_settings"] = {"search_path": schema}
        return create_async_engine(parsed, echo=echo, pool_pre_ping=True, connect_args=connect_args)
    raise UnsupportedDatabase(redacted(parsed))


def private_directory(path: Path) -> Path:
    """Create `path` readable by its owner only (0700), or tighten it to that if it exists.

    The data directory holds positions, the audit log and signed raw transactions: no other
    local user may read them.

    Raises:
        OSError: the directory cannot be created, or it exists and is not ours to change.
    """
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != PRIVATE_DIR_MODE:
        path.chmod(PRIVATE_DIR_MODE)
    return path


def _sqlite_engine(url: URL, echo: bool) -> AsyncEngine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        file = Path(database).expanduser()
        if not file.parent.exists():
            private_directory(file.parent)
        # SQLite creates the -wal and -shm files with the database file's mode.
        file.touch(mode=PRIVATE_FILE_MODE, exist_ok=True)
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN, so that we can make it IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
