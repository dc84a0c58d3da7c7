"""CoinGecko `/simple/price`: BTC and ETH in USD with their 24 h change.

The demo plan (and the keyless public API) sends its key in `x-cg-demo-api-key`; the pro plan
uses `x-cg-pro-api-key` on its own host. CoinGecko gives the 24 h change in percent; we return
a fraction (3.6 % becomes 0.036).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

import httpx
from pydantic import BaseModel, ConfigDict, Field

from adapters.market.cache import Reading
from adapters.market.errors import MalformedPayload
from adapters.market.transport import JsonGetter, parse_model
from application.ports.clock import Clock

SOURCE = "coingecko"
DEFAULT_BASE_URL = "https://api.coingecko.com/api/v3"
PRO_BASE_URL = "https://pro-api.coingecko.com/api/v3"
HUNDRED = Decimal(100)


class CoinGeckoPlan(StrEnum):
    """Which CoinGecko plan the key belongs to (it decides the key header)."""

    DEMO = "demo"
    PRO = "pro"


KEY_HEADER = {CoinGeckoPlan.DEMO: "x-cg-demo-api-key", CoinGeckoPlan.PRO: "x-cg-pro-api-key"}


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotPrices:
    """BTC and ETH in USD, with 24 h changes as fractions (None when CoinGecko has none)."""

    btc_usd: Decimal
    eth_usd: Decimal
    btc_change_24h: Decimal | None
    eth_change_24h: Decimal | None


class _Quote(BaseModel):
    model_config = ConfigDict(extra="ignore")

    usd: Decimal = Field(gt=0)
    usd_24h_change: Decimal | None = None
    last_updated_at: int | None = None


class _SimplePrice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    bitcoin: _Quote
    ethereum: _Quote


def _fraction(percent: Decimal | None) -> Decimal | None:
    if percent is None:
        return None
    change = percent / HUNDRED
    if change < -1:
        raise MalformedPayload(SOURCE, f"24 h change {percent} % is below -100 %")
    return change


class CoinGeckoPrices:
    """Reads spot prices from CoinGecko."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        clock: Clock,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        plan: CoinGeckoPlan = CoinGeckoPlan.DEMO,
        budget_s: float = 4.0,
    ) -> None:
        headers = {KEY_HEADER[plan]: api_key} if api_key else {}
        self._http = JsonGetter(
            source=SOURCE, client=client, base_url=base_url, budget_s=budget_s, headers=headers
        )
        self._clock = clock

    def __repr__(self) -> str:
        return f"CoinGeckoPrices(base_url={self._http.base_url!r})"

    async def read(self) -> Reading[SpotPrices]:
        """The current BTC and ETH prices.

        Raises:
            MarketDataUnavailable: (a subclass naming coingecko) on any failure.
        """
        body = await self._http.get(
            "/simple/price",
            {
                "ids": "bitcoin,ethereum",
                "vs_currencies": "usd",
                "include_24hr_change": "true",
                "include_last_updated_at": "true",
            },
        )
        quotes = parse_model(SOURCE, _SimplePrice, body)
        stamps = [q.last_updated_at for q in (quotes.bitcoin, quotes.ethereum) if q.last_updated_at]
        observed = datetime.fromtimestamp(min(stamps), UTC) if stamps else self._clock.now()
        return Reading(
            value=SpotPrices(
                btc_usd=quotes.bitcoin.usd,
                eth_usd=quotes.ethereum.usd,
                btc_change_24h=_fraction(quotes.bitcoin.usd_24h_change),
                eth_change_24h=_fraction(quotes.ethereum.usd_24h_change),
            ),
            observed_at=observed,
        )
