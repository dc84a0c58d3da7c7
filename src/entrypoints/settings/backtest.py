"""Backtest defaults (env prefix `TREASURY_BACKTEST_`); the CLI's options override them.

`TREASURY_BACKTEST_GAS_USD` (5), `TREASURY_BACKTEST_SWAP_FEE` (0.0005),
`TREASURY_BACKTEST_SWAP_IMPACT_PER_MILLION` (0.001), `TREASURY_BACKTEST_BASE_APY` (0.065, every
venue), `TREASURY_BACKTEST_APPROVAL_DELAY_DAYS` (1).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.baselines import STATIC_YIELD_APY


class BacktestSettings(BaseSettings):
    """Cost, yield and approval assumptions of a backtest."""

    model_config = SettingsConfigDict(env_prefix="TREASURY_BACKTEST_", extra="ignore")

    gas_usd: Decimal = Decimal(5)
    swap_fee: Decimal = Decimal("0.0005")
    swap_impact_per_million: Decimal = Decimal("0.001")
    base_apy: Decimal = STATIC_YIELD_APY
    approval_delay_days: int = 1
