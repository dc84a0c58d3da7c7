"""Database settings: SQLite under the data directory by default; passwords never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.settings.database import DatabaseSettings


def test_defaults_put_the_database_and_state_file_under_var(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("TREASURY_DATA_DIR", "TREASURY_DATABASE_URL", "TREASURY_STATE_FILE"):
        monkeypatch.delenv(name, raising=False)
    settings = DatabaseSettings()
    assert settings.data_dir == Path("var")
    expected = f"sqlite+aiosqlite:///{(Path('var') / 'treasury.db').resolve()}"
    assert settings.resolved_database_url() == expected
    assert settings.resolved_state_file() == Path("var") / "portfolio_state.json"
    assert settings.db_auto_upgrade is False


def test_the_data_dir_moves_the_database_and_the_state_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TREASURY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TREASURY_DATABASE_URL", raising=False)
    monkeypatch.delenv("TREASURY_STATE_FILE", raising=False)
    settings = DatabaseSettings()
    assert settings.resolved_database_url() == f"sqlite+aiosqlite:///{tmp_path}/treasury.db"
    assert settings.resolved_state_file() == tmp_path / "portfolio_state.json"


def test_a_postgres_url_is_used_as_given_but_never_displayed_with_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "postgresql+asyncpg://treasury:s3cr3t-pw@127.0.0.1:5432/treasury"
    monkeypatch.setenv("TREASURY_DATABASE_URL", url)
    settings = DatabaseSettings()
    assert settings.resolved_database_url() == url
    assert "s3cr3t-pw" not in settings.display_database_url()
    assert "s3cr3t-pw" not in repr(settings)
    assert "s3cr3t-pw" not in str(settings.model_dump())
