"""Typed errors of the persistence adapter, and the one place database failures are translated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from application.errors import ApplicationError, PermanentError, TransientError

UPGRADE_COMMAND = "treasury db upgrade"


class DatabaseUnavailable(TransientError):
    """The database could not be reached or was busy for too long."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"database {url}: {reason}")


class UnsupportedDatabase(PermanentError):
    """The database URL names a backend this adapter does not support."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"unsupported database URL {url!r}: use sqlite+aiosqlite:///PATH or "
            "postgresql+asyncpg://USER@HOST:PORT/DB"
        )


class SchemaBehind(PermanentError):
    """The database schema is older than the code needs."""

    def __init__(self, current: str | None, head: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"database schema is at {current or 'nothing (empty database)'} but this version "
            f"needs {head}; run `{UPGRADE_COMMAND}`"
        )


class SchemaUnknown(PermanentError):
    """The database carries a schema revision this code does not know (newer code wrote it)."""

    def __init__(self, current: str, head: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"database schema revision {current} is unknown to this version (head {head}); "
            "upgrade the treasury software or point it at another database"
        )


def _reason(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@asynccontextmanager
async def database_errors(url: str, doing: str) -> AsyncIterator[None]:
    """Translate connection failures (refused, lost, busy too long) into DatabaseUnavailable.

    `url` must already be redacted. Our own typed errors pass through unchanged.
    """
    try:
        yield
    except ApplicationError:
        raise
    except (OperationalError, InterfaceError, OSError) as exc:
        raise DatabaseUnavailable(url, f"{doing} failed: {_reason(exc)}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise DatabaseUnavailable(url, f"{doing} failed: connection lost") from exc
        raise
