"""Engine URLs: only SQLite (aiosqlite) and PostgreSQL (asyncpg) are accepted; passwords hidden."""

from __future__ import annotations

import pytest

from adapters.persistence.engine import create_engine, redacted
from adapters.persistence.errors import UnsupportedDatabase


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("mysql+aiomysql://u:hunter2@127.0.0.1/db", id="mysql"),
        pytest.param("postgresql://u:hunter2@127.0.0.1/db", id="sync-postgres-driver"),
        pytest.param("sqlite:///var/treasury.db", id="sync-sqlite-driver"),
    ],
)
def test_other_databases_and_sync_drivers_are_refused_without_showing_the_password(
    url: str,
) -> None:
    with pytest.raises(UnsupportedDatabase) as caught:
        create_engine(url)
    assert "hunter2" not in str(caught.value)
    assert "sqlite+aiosqlite" in str(caught.value)


def test_redacted_urls_hide_the_password() -> None:
    shown = redacted("postgresql+asyncpg://treasury:hunter2@127.0.0.1:5432/t")
    assert shown == "postgresql+asyncpg://treasury:***@127.0.0.1:5432/t"
