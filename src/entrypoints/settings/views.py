"""How often the read models behind the API and dashboard refresh (env prefix `TREASURY_`).

`TREASURY_STATUS_REFRESH_S`: the background refresh of the portfolio status, in seconds. By
default the chain's block time live (12 s: the state cannot change faster) and the scheduler's
tick in paper mode (`TREASURY_CYCLE_INTERVAL_S`). Cycles and executions refresh it besides.
`TREASURY_MARKET_REFRESH_S` (default 1): the same for market data and the signal preview,
which read the market adapter's cache.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Ethereum mainnet's slot time: the chain's state changes at most this often.
BLOCK_TIME_S = 12.0


class ViewSettings(BaseSettings):
    """Refresh intervals of the read models."""

    model_config = SettingsConfigDict(env_prefix="TREASURY_", extra="ignore")

    status_refresh_s: float | None = Field(default=None, gt=0)
    market_refresh_s: float = Field(default=1.0, gt=0)

    def status_refresh(self, *, paper: bool, cycle_interval_s: float | None) -> float:
        """The portfolio status refresh interval: the setting, else the paper tick or the
        block time."""
        if self.status_refresh_s is not None:
            return self.status_refresh_s
        if paper and cycle_interval_s is not None:
            return cycle_interval_s
        return BLOCK_TIME_S
