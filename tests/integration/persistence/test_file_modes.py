"""The embedded database and its directory are readable by their owner only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.persistence.engine import create_engine, private_directory, sqlite_url


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common default umask (022), under which files come out world-readable."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("usual_umask")
async def test_a_new_sqlite_database_its_wal_and_its_directory_are_private(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    engine = create_engine(sqlite_url(data_dir))
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
            await connection.execute(text("INSERT INTO t VALUES (1)"))
        files = sorted(data_dir.iterdir())
        assert {f.name for f in files} >= {"treasury.db", "treasury.db-wal"}
        assert mode(data_dir) == 0o700
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("usual_umask")
def test_an_existing_world_readable_data_directory_is_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "old"
    data_dir.mkdir(mode=0o755)
    assert mode(data_dir) == 0o755
    private_directory(data_dir)
    assert mode(data_dir) == 0o700
