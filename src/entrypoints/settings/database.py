"""Where the treasury keeps its state: data directory, database URL and the state file.

`TREASURY_DATA_DIR` (default `./var`) holds the embedded SQLite database and the state file.
`TREASURY_DATABASE_URL` selects the database (default SQLite under the data directory; for
PostgreSQL use `postgresql+asyncpg://USER:PASSWORD@HOST:5432/DB`). `TREASURY_STATE_FILE`
(default `<data dir>/portfolio_state.json`) is the live portfolio state JSON.
`TREASURY_DB_AUTO_UPGRADE` lets the service migrate a database that is behind (paper mode).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.persistence.engine import redacted, sqlite_url

DEFAULT_DATA_DIR = Path("var")
STATE_FILE_NAME = "portfolio_state.json"


class DatabaseSettings(BaseSettings):
    """Persistence settings (env prefix `TREASURY_`)."""

    model_config = SettingsConfigDict(env_prefix="TREASURY_", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    # A secret: a PostgreSQL URL may carry a password.
    database_url: SecretStr | None = None
    state_file: Path | None = None
    db_auto_upgrade: bool = False

    def resolved_database_url(self) -> str:
        """The database URL to use (SQLite under the data directory unless one is set)."""
        if self.database_url is not None and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return sqlite_url(self.data_dir)

    def display_database_url(self) -> str:
        """The database URL with any password hidden."""
        return redacted(self.resolved_database_url())

    def resolved_state_file(self) -> Path:
        """The state file path."""
        return self.state_file if self.state_file is not None else self.data_dir / STATE_FILE_NAME
