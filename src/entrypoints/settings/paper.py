"""Paper-trading settings (env prefix `TREASURY_`).

`TREASURY_PAPER_HOURS_PER_CYCLE` (default 1, the live hourly cadence): simulated hours that
pass at each scheduler tick. `TREASURY_PAPER_START` (`split`, the spec's 60/40, or `cash`: all
capital as USDC in the wallet, for the strategy to deploy) and `TREASURY_PAPER_CAPITAL_USD`
(default 400000) shape the treasury funded on a new data directory.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PaperStart(StrEnum):
    """How a new paper treasury starts."""

    SPLIT = "split"
    CASH = "cash"


class PaperSettings(BaseSettings):
    """How paper mode simulates time and what treasury it starts with."""

    model_config = SettingsConfigDict(env_prefix="TREASURY_", extra="ignore")

    paper_hours_per_cycle: float = Field(default=1.0, gt=0, le=24 * 30)
    paper_start: PaperStart = PaperStart.SPLIT
    paper_capital_usd: Decimal = Field(default=Decimal(400_000), ge=Decimal(1_000))
