"""Market data as the strategy reads it: values with their provenance and freshness."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from domain.errors import FearGreedOutOfRange, InvalidValue
from domain.money import require_aware, require_no_floats, require_non_negative


class MarketPhase(StrEnum):
    """The market-cycle phase, as the spec names it."""

    ACCUMULATION = "accumulation"
    EUPHORIA = "euphoria"
    TOP = "top"
    BEAR = "bear"


class MarketField(StrEnum):
    """The fields of MarketData that come from outside sources."""

    BTC_PRICE = "btc_price"
    ETH_PRICE = "eth_price"
    MVRV_Z_SCORE = "mvrv_z_score"
    FUNDING_RATE = "funding_rate"
    FEAR_GREED_INDEX = "fear_greed_index"
    BTC_IMPLIED_VOLATILITY = "btc_implied_volatility"
    ETH_IMPLIED_VOLATILITY = "eth_implied_volatility"
    PUT_CALL_RATIO = "put_call_ratio"


@dataclass(frozen=True, slots=True, kw_only=True)
class Freshness:
    """Where one field came from, when it was observed, and whether it is stale.

    `stale` means the source failed and the last good value is being served; `manual`
    means an operator typed the value in (the spec's MVRV fallback).
    """

    source: str
    observed_at: datetime
    stale: bool = False
    manual: bool = False
    age_seconds: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        require_aware(self.observed_at, "observed_at")
        require_non_negative(self.age_seconds, "age_seconds")


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketData:
    """The market intelligence one decision cycle works from.

    Any field may be None when its source could not be read and no fresh-enough value was
    cached; the signal's confidence falls accordingly. `funding_rate` is the average
    perpetual funding rate as a fraction per 8 hours (0.0001 is 0.01 %). Price changes are
    fractions over 24 h (-0.2 is a 20 % fall).

    The options fields come from Deribit: `btc_implied_volatility` and `eth_implied_volatility`
    are the DVOL indices (30-day implied volatility, annualised, in percentage points: 55 is
    55 %), `btc_iv_change_24h` / `eth_iv_change_24h` their change over 24 h as a fraction, and
    `put_call_ratio` the open interest of puts over that of calls (the mean of the BTC and ETH
    ratios). They inform confidence, agreement and an optional early warning, never a trade on
    their own; None means unknown.
    """

    btc_price: Decimal | None
    eth_price: Decimal | None
    mvrv_z_score: Decimal | None
    funding_rate: Decimal | None
    fear_greed_index: int | None
    market_phase: MarketPhase
    timestamp: datetime
    btc_change_24h: Decimal | None = None
    eth_change_24h: Decimal | None = None
    stablecoin_prices: Mapping[str, Decimal] = field(default_factory=dict)
    btc_implied_volatility: Decimal | None = None
    eth_implied_volatility: Decimal | None = None
    btc_iv_change_24h: Decimal | None = None
    eth_iv_change_24h: Decimal | None = None
    put_call_ratio: Decimal | None = None
    freshness: Mapping[MarketField, Freshness] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_no_floats(self)
        require_aware(self.timestamp, "timestamp")
        for name in ("btc_price", "eth_price"):
            price = getattr(self, name)
            if price is not None and price <= 0:
                raise InvalidValue(name, price, "must be positive")
        fng = self.fear_greed_index
        if fng is not None and (isinstance(fng, bool) or not 0 <= fng <= 100):
            raise FearGreedOutOfRange(fng)
        for change_name in ("btc_change_24h", "eth_change_24h"):
            change = getattr(self, change_name)
            if change is not None and change < -1:
                raise InvalidValue(change_name, change, "cannot fall more than 100 %")
        for iv_name in ("btc_implied_volatility", "eth_implied_volatility"):
            iv = getattr(self, iv_name)
            if iv is not None and iv <= 0:
                raise InvalidValue(iv_name, iv, "must be positive")
        for iv_change_name in ("btc_iv_change_24h", "eth_iv_change_24h"):
            iv_change = getattr(self, iv_change_name)
            if iv_change is not None and iv_change < -1:
                raise InvalidValue(iv_change_name, iv_change, "cannot fall more than 100 %")
        if self.put_call_ratio is not None:
            require_non_negative(self.put_call_ratio, "put_call_ratio")
        for asset, price in self.stablecoin_prices.items():
            require_non_negative(price, f"stablecoin_prices[{asset}]")
        object.__setattr__(
            self, "stablecoin_prices", MappingProxyType(dict(self.stablecoin_prices))
        )
        object.__setattr__(self, "freshness", MappingProxyType(dict(self.freshness)))

    def missing_fields(self) -> tuple[MarketField, ...]:
        """The outside fields that have no value."""
        return tuple(f for f in MarketField if getattr(self, f.value) is None)

    def stale_fields(self) -> tuple[MarketField, ...]:
        """The fields served from a stale cache after their source failed."""
        return tuple(
            f
            for f, info in self.freshness.items()
            if info.stale and getattr(self, f.value) is not None
        )

    def price_of(self, asset: str) -> Decimal | None:
        """USD price of an asset this data knows (BTC/WBTC, ETH/WETH, stablecoins)."""
        symbol = asset.upper()
        if symbol in ("BTC", "WBTC"):
            return self.btc_price
        if symbol in ("ETH", "WETH"):
            return self.eth_price
        return self.stablecoin_prices.get(symbol, Decimal(1) if symbol in STABLECOINS else None)


# Deribit's extras: they inform confidence and an optional warning, so their absence is
# reported as missing but is not a data outage that costs the signal confidence.
OPTIONS_FIELDS: frozenset[MarketField] = frozenset(
    {
        MarketField.BTC_IMPLIED_VOLATILITY,
        MarketField.ETH_IMPLIED_VOLATILITY,
        MarketField.PUT_CALL_RATIO,
    }
)
STABLECOINS: frozenset[str] = frozenset({"USDC", "USDT", "DAI"})
VOLATILE_ASSETS: frozenset[str] = frozenset({"BTC", "WBTC", "ETH", "WETH"})
