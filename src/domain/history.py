"""Daily market history rows, as the backtester and the CSV replay market read them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from domain.errors import FearGreedOutOfRange, InvalidValue


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyObservation:
    """One UTC day of market history. Unknown values are None, as the live system treats them.

    `funding_rate` is a fraction per 8 hours, like MarketData's.
    """

    day: date
    btc_price: Decimal
    eth_price: Decimal | None = None
    mvrv_z_score: Decimal | None = None
    funding_rate: Decimal | None = None
    fear_greed: int | None = None

    def __post_init__(self) -> None:
        if self.btc_price <= 0:
            raise InvalidValue("btc_price", self.btc_price, "must be positive")
        if self.eth_price is not None and self.eth_price <= 0:
            raise InvalidValue("eth_price", self.eth_price, "must be positive")
        if self.fear_greed is not None and not 0 <= self.fear_greed <= 100:
            raise FearGreedOutOfRange(self.fear_greed)
