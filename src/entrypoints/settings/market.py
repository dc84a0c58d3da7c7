"""Market intelligence settings (env prefix `TREASURY_`).

Live sources: `COINGECKO_BASE_URL`, `COINGECKO_API_KEY`, `COINGECKO_PLAN` (demo/pro),
`GLASSNODE_BASE_URL`, `GLASSNODE_API_KEY`, `COINGLASS_BASE_URL`, `COINGLASS_API_KEY`,
`FEAR_GREED_BASE_URL`, `DERIBIT_BASE_URL` (public API v2, no key); behaviour:
`MARKET_CACHE_TTL_S` (300), `MARKET_SOURCE_TIMEOUT_S` (4), `MARKET_MAX_STALE_S` (3600),
`MARKET_ERROR_COOLDOWN_S` (30), `MARKET_MANUAL_MVRV_MAX_AGE_S` (one week).
Simulated market: `MARKET_SCENARIO` (full-cycle, bull-to-top, crash, sideways), `MARKET_SEED`,
`MARKET_SIMULATED_DAY_S` (clock seconds per simulated day, 86400 = real time),
`MARKET_HISTORY_CSV` (replay this daily history instead of a scenario).
`BLACK_SWAN_IV_SPIKE_24H` (the implied-volatility early warning) is a strategy limit: see
`settings/strategy.py`.
Which adapter runs is `TREASURY_MARKET_DATA` (service settings).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.market.aggregate import LiveMarketConfig
from adapters.market.coingecko import DEFAULT_BASE_URL as COINGECKO_URL
from adapters.market.coingecko import PRO_BASE_URL, CoinGeckoPlan
from adapters.market.coinglass import DEFAULT_BASE_URL as COINGLASS_URL
from adapters.market.deribit import DEFAULT_BASE_URL as DERIBIT_URL
from adapters.market.fear_greed import DEFAULT_BASE_URL as FEAR_GREED_URL
from adapters.market.glassnode import DEFAULT_BASE_URL as GLASSNODE_URL
from adapters.market.simulated import Scenario


def _secret(value: SecretStr | None) -> str | None:
    if value is None:
        return None
    return value.get_secret_value().strip() or None


class MarketSettings(BaseSettings):
    """Where the market data comes from and how hard we try."""

    model_config = SettingsConfigDict(env_prefix="TREASURY_", extra="ignore")

    coingecko_base_url: str | None = None
    coingecko_api_key: SecretStr | None = None
    coingecko_plan: CoinGeckoPlan = CoinGeckoPlan.DEMO
    glassnode_base_url: str = GLASSNODE_URL
    glassnode_api_key: SecretStr | None = None
    coinglass_base_url: str = COINGLASS_URL
    coinglass_api_key: SecretStr | None = None
    fear_greed_base_url: str = FEAR_GREED_URL
    deribit_base_url: str = DERIBIT_URL
    market_cache_ttl_s: float = Field(default=300.0, gt=0)
    market_source_timeout_s: float = Field(default=4.0, gt=0, le=30)
    market_max_stale_s: float = Field(default=3600.0, ge=0)
    market_error_cooldown_s: float = Field(default=30.0, ge=0)
    market_manual_mvrv_max_age_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    market_scenario: Scenario = Scenario.FULL_CYCLE
    market_seed: int = 7
    market_simulated_day_s: float = Field(default=86_400.0, gt=0)
    market_history_csv: Path | None = None

    def resolved_coingecko_base_url(self) -> str:
        """The CoinGecko host: the one set, else the pro or public host for the plan."""
        if self.coingecko_base_url:
            return self.coingecko_base_url
        return PRO_BASE_URL if self.coingecko_plan is CoinGeckoPlan.PRO else COINGECKO_URL

    def live_config(self) -> LiveMarketConfig:
        """Plain values for the live adapters (secrets unwrapped only here)."""
        return LiveMarketConfig(
            coingecko_base_url=self.resolved_coingecko_base_url(),
            coingecko_api_key=_secret(self.coingecko_api_key),
            coingecko_plan=self.coingecko_plan,
            glassnode_base_url=self.glassnode_base_url,
            glassnode_api_key=_secret(self.glassnode_api_key),
            coinglass_base_url=self.coinglass_base_url,
            coinglass_api_key=_secret(self.coinglass_api_key),
            fear_greed_base_url=self.fear_greed_base_url,
            deribit_base_url=self.deribit_base_url,
            cache_ttl_s=self.market_cache_ttl_s,
            source_timeout_s=self.market_source_timeout_s,
            max_stale_s=self.market_max_stale_s,
            error_cooldown_s=self.market_error_cooldown_s,
            manual_mvrv_max_age_s=self.market_manual_mvrv_max_age_s,
        )
