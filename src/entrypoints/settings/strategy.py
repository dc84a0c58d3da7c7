"""Strategy settings: every limit and number of the strategy, one home (env prefix `TREASURY_`).

`strategy_config()` builds the one `StrategyConfig` the service gives to the planner, the
safety policy, the executor (gas cap, gas share) and the advisor's prompt; a number set here
reaches all of them, and the defaults are the domain's (the spec's numbers). Each setting is
listed in docs/configuration.md with its default.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.budget import SlippageBudget
from domain.market import STABLECOINS
from domain.maturity import RollRules
from domain.planner import PlannerConfig
from domain.strategy import StrategyConfig

_STRATEGY = StrategyConfig()
_LIMITS = _STRATEGY.limits
_PLANNER = _STRATEGY.planner
_ROLL = _STRATEGY.roll


class StrategySettings(BaseSettings):
    """The strategy's limits; each defaults to the domain's value."""

    model_config = SettingsConfigDict(env_prefix="TREASURY_", extra="ignore")

    approval_threshold_usd: Decimal = Field(default=_LIMITS.approval_threshold_usd, ge=0)
    """A plan trading more than this in total, or any move above it, waits for a human."""
    max_volatile_share: Decimal = Field(default=_LIMITS.max_volatile_share, ge=0, le=1)
    """Most of the treasury in BTC/ETH (hard)."""
    max_single_position_share: Decimal = Field(
        default=_LIMITS.max_single_position_share, ge=0, le=1
    )
    """Most of the treasury in one position (hard)."""
    max_trades_per_day: int = Field(default=_LIMITS.max_trades_per_day, ge=0)
    """Trades per UTC day, counting the plan's own."""
    gas_cap_gwei: Decimal = Field(default=_LIMITS.gas_price_cap_gwei, gt=0)
    """No plan, and no transaction sent, while the base fee is above this."""
    max_gas_share: Decimal = Field(default=_PLANNER.max_gas_share, gt=0, le=1)
    """A move whose gas costs more than this share of its value is skipped (planner and
    executor)."""
    min_protocol_tvl_usd: Decimal = Field(default=_LIMITS.min_protocol_tvl_usd, ge=0)
    """Deposit only into protocols with at least this TVL."""
    max_protocol_risk_score: int = Field(default=_LIMITS.max_protocol_risk_score, ge=0, le=10)
    """Deposit only into protocols scored at most this (out of 10)."""
    black_swan_drop_24h: Decimal = Field(default=_LIMITS.black_swan_drop_24h, gt=0, le=1)
    """A BTC or ETH fall of this much in 24 h is a black swan."""
    depeg_tolerance: Decimal = Field(default=_LIMITS.depeg_tolerance, gt=0, le=1)
    """A stablecoin further than this from $1 is off its peg."""
    slippage_budget_share: Decimal = Field(default=_LIMITS.slippage_budget.fraction, ge=0, le=1)
    """Cumulative slippage allowed per budget period, as a share of the treasury."""
    slippage_budget_days: int = Field(default=_LIMITS.slippage_budget.period.days, ge=1)
    """The slippage budget's period (it refills linearly over it)."""
    circuit_breaker_failures: int = Field(default=_LIMITS.circuit_breaker_failures, ge=1)
    """Consecutive failed executions that stop everything until a human resumes."""
    max_advisor_deviation: Decimal = Field(default=_LIMITS.max_advisor_deviation, ge=0, le=1)
    """Furthest the advisor's targets may be from the signal's, per bucket; beyond, clamped."""
    drift_band: Decimal = Field(default=_STRATEGY.drift_band, ge=0, le=1)
    """A bucket further than this from its target makes a rebalance due."""
    min_trade_usd: Decimal = Field(default=_PLANNER.min_trade_usd, ge=0)
    """Smaller moves are skipped."""
    cash_buffer_share: Decimal = Field(default=_PLANNER.cash_buffer_share, ge=0, le=1)
    """Idle stablecoins kept in the wallet, as a share of the treasury; idle cash above it
    (by at least the minimum trade) is swept into the safest base venues. 1 turns it off."""
    max_slices_per_move: int = Field(default=_PLANNER.max_slices_per_move, ge=1)
    """Slices of one large swap a rebalance sends per cycle."""
    max_slippage: Decimal = Field(default=_PLANNER.default_slippage_tolerance, gt=0, le=1)
    """A rebalance move expected to slip more than this is sliced or skipped."""
    black_swan_iv_spike_24h: Decimal | None = Field(
        default=_LIMITS.black_swan_iv_spike_24h, gt=0, le=10
    )
    """Off unless set: a fraction such as 0.5; when BTC's or ETH's Deribit implied-volatility
    index (DVOL) rises at least that much in 24 h, the black-swan detector treats it as an early
    warning, as it does a price fall."""
    reentry_cooldown_hours: int = Field(
        default=int(_LIMITS.reentry_cooldown.total_seconds() // 3600), ge=0
    )
    """Hours after an exit during which nothing buys BTC/ETH."""
    exit_stablecoins: str = ",".join(_LIMITS.exit_stablecoins)
    """Comma-separated stablecoins an exit may sell into, in order of preference."""
    roll_days_before_maturity: int = Field(default=_ROLL.days_before_maturity, ge=0, le=365)
    """A Pendle PT position this close to its market's maturity (or past it) is redeemed and
    rolled into the best eligible market."""
    roll_min_apy: Decimal = Field(default=_ROLL.min_apy, ge=0, le=1)
    """A market a PT position is rolled into must offer at least this fixed APY."""
    roll_min_liquidity_usd: Decimal = Field(default=_ROLL.min_liquidity_usd, ge=0)
    """A market a PT position is rolled into must hold at least this much liquidity."""

    @field_validator("exit_stablecoins")
    @classmethod
    def _known_stablecoins(cls, value: str) -> str:
        names = [n.strip().upper() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in STABLECOINS]
        if not names or unknown:
            raise ValueError(
                f"TREASURY_EXIT_STABLECOINS must list stablecoins from {sorted(STABLECOINS)};"
                f" got {value!r}"
            )
        return ",".join(names)

    def strategy_config(self) -> StrategyConfig:
        """The one StrategyConfig these settings describe.

        Raises:
            InvalidValue: the numbers contradict each other (named in the message).
        """
        limits = replace(
            _LIMITS,
            approval_threshold_usd=self.approval_threshold_usd,
            max_volatile_share=self.max_volatile_share,
            max_single_position_share=self.max_single_position_share,
            max_trades_per_day=self.max_trades_per_day,
            gas_price_cap_gwei=self.gas_cap_gwei,
            min_protocol_tvl_usd=self.min_protocol_tvl_usd,
            max_protocol_risk_score=self.max_protocol_risk_score,
            black_swan_drop_24h=self.black_swan_drop_24h,
            depeg_tolerance=self.depeg_tolerance,
            black_swan_iv_spike_24h=self.black_swan_iv_spike_24h,
            slippage_budget=SlippageBudget(
                fraction=self.slippage_budget_share,
                period=timedelta(days=self.slippage_budget_days),
            ),
            circuit_breaker_failures=self.circuit_breaker_failures,
            max_advisor_deviation=self.max_advisor_deviation,
            reentry_cooldown=timedelta(hours=self.reentry_cooldown_hours),
            exit_stablecoins=tuple(self.exit_stablecoins.split(",")),
        )
        planner: PlannerConfig = replace(
            _PLANNER,
            approval_threshold_usd=self.approval_threshold_usd,
            max_volatile_share=self.max_volatile_share,
            max_single_position_share=self.max_single_position_share,
            max_gas_share=self.max_gas_share,
            min_trade_usd=self.min_trade_usd,
            cash_buffer_share=self.cash_buffer_share,
            max_slices_per_move=self.max_slices_per_move,
            default_slippage_tolerance=self.max_slippage,
        )
        roll = RollRules(
            days_before_maturity=self.roll_days_before_maturity,
            min_apy=self.roll_min_apy,
            min_liquidity_usd=self.roll_min_liquidity_usd,
        )
        return replace(
            _STRATEGY, limits=limits, planner=planner, drift_band=self.drift_band, roll=roll
        )
