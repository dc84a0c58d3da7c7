"""Service-wide settings: mode, adapter selection, API tokens, scheduling and approvals.

`TREASURY_MODE=paper` (the default) presets every port to its simulated adapter; `live`
presets the real ones and refuses to start without a keystore, RPC URLs and API tokens.
Each port can still be chosen on its own (`TREASURY_MARKET_DATA`, `TREASURY_ADVISOR`,
`TREASURY_CHAIN`).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.faults import FaultSpec


class Mode(StrEnum):
    """Paper trading (simulated adapters) or live."""

    PAPER = "paper"
    LIVE = "live"


class MarketDataChoice(StrEnum):
    """Which market data adapter to use."""

    SIMULATED = "simulated"
    LIVE = "live"


class AdvisorChoice(StrEnum):
    """Which advisor decides."""

    RULES = "rules"
    CLAUDE = "claude"


class ChainChoice(StrEnum):
    """The in-process dev chain, or real JSON-RPC nodes."""

    DEVCHAIN = "devchain"
    RPC = "rpc"


class ServiceSettings(BaseSettings):
    """Settings that shape the whole service."""

    model_config = SettingsConfigDict(env_prefix="TREASURY_", extra="ignore")

    mode: Mode = Mode.PAPER
    market_data: MarketDataChoice | None = None
    advisor: AdvisorChoice | None = None
    chain: ChainChoice | None = None
    api_tokens: SecretStr = SecretStr("")
    host: str = "127.0.0.1"
    port: int = Field(default=8600, ge=1, le=65535)
    cycle_interval_s: float | None = Field(default=None, gt=0)
    approval_expiry_hours: float = Field(default=24, gt=0)
    log_level: str = "INFO"
    log_json: bool | None = None
    """`TREASURY_LOG_JSON`: true for JSON logs, false for text; unset, JSON unless stderr is a
    terminal."""
    dashboard_url: str | None = None
    risk_free_rate: Decimal = Field(default=Decimal("0.04"), gt=-1, lt=1)
    """Annual risk-free rate for the Sharpe and Sortino ratios (`TREASURY_RISK_FREE_RATE`)."""
    leadership_check_s: float = Field(default=5.0, gt=0, le=60)
    """How often a standby tries to take the leader lock and the leader re-checks it holds it
    (`TREASURY_LEADERSHIP_CHECK_S`); also the time limit of each check."""
    rate_limit_rebalances_per_minute: int = Field(default=10, ge=1)
    """Requests to `POST /portfolio/rebalance` one token may make per minute; each runs a
    decision cycle and writes a decision, a plan and audit rows."""
    rate_limit_mutations_per_minute: int = Field(default=60, ge=1)
    """Requests to any mutating route (POST, PUT) one token may make per minute."""
    fault_at: str | None = None
    """Tests only (`TREASURY_FAULT_AT`): SIGKILL the process at this execution boundary,
    `<boundary>` or `<boundary>@<n>` (see docs/chain.md). Off unless set."""

    @field_validator("fault_at")
    @classmethod
    def _known_fault(cls, value: str | None) -> str | None:
        if value:
            FaultSpec.parse(value)
        return value or None

    @property
    def fault_spec(self) -> FaultSpec | None:
        """The parsed `TREASURY_FAULT_AT`, or None when crash injection is off."""
        return FaultSpec.parse(self.fault_at) if self.fault_at else None

    @model_validator(mode="after")
    def _apply_mode_presets(self) -> ServiceSettings:
        paper = self.mode is Mode.PAPER
        if self.market_data is None:
            self.market_data = MarketDataChoice.SIMULATED if paper else MarketDataChoice.LIVE
        if self.advisor is None:
            self.advisor = AdvisorChoice.RULES if paper else AdvisorChoice.CLAUDE
        if self.chain is None:
            self.chain = ChainChoice.DEVCHAIN if paper else ChainChoice.RPC
        if self.cycle_interval_s is None:
            self.cycle_interval_s = 10.0 if paper else 3600.0
        return self

    @property
    def public_url(self) -> str:
        """Where the dashboard and API are reachable, for links in notifications."""
        return self.dashboard_url or f"http://{self.host}:{self.port}"
