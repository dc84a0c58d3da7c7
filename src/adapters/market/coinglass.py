"""Coinglass open API v4 funding rates for BTC and ETH perpetuals.

`/api/futures/funding-rate/exchange-list` answers `{"code": "0", "msg": ..., "data": [...]}`
with, per coin, the current rate of each exchange's USD-margined (`stablecoin_margin_list`) and
coin-margined (`token_margin_list`) perpetual, in **percent per funding interval**, with the
interval in hours. A `code` other than "0" is an error even with HTTP 200.

How one number comes out (MarketData.funding_rate, a fraction per 8 hours):
1. each contract's rate becomes a fraction per 8 h: `rate / 100 * 8 / interval_hours`
   (a missing interval is taken as 8 h, the common one; contracts without a rate are skipped);
2. per coin, the plain mean over every exchange and both margin types: each venue counts once,
   so one exchange with many listings cannot dominate, and both crowds (stablecoin- and
   coin-margined) show the leverage we want to read;
3. the result is the mean of the BTC and ETH means, so each coin weighs the same however many
   venues list it; if one coin is absent, the other alone.
The symbol filter is applied here too, since the service has been seen to ignore it: one
request (without `symbol`) serves both coins, which halves the quota spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from adapters.market.cache import Reading
from adapters.market.errors import (
    MalformedPayload,
    SourceAuthFailed,
    SourceHttpError,
    SourceRateLimited,
)
from adapters.market.transport import JsonGetter, parse_model
from application.ports.clock import Clock

SOURCE = "coinglass"
DEFAULT_BASE_URL = "https://open-api-v4.coinglass.com"
PATH = "/api/futures/funding-rate/exchange-list"
COINS = ("BTC", "ETH")
EIGHT_HOURS = Decimal(8)
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingRates:
    """Funding as fractions per 8 h: the combined average and each coin's own."""

    average: Decimal
    per_coin: dict[str, Decimal]
    contracts: int


class _Contract(BaseModel):
    model_config = ConfigDict(extra="ignore")

    exchange: str
    funding_rate_interval: int | None = Field(default=None, gt=0)
    funding_rate: Decimal | None = None


class _Coin(BaseModel):
    model_config = ConfigDict(extra="ignore")

    symbol: str
    stablecoin_margin_list: list[_Contract] = Field(default_factory=list)
    token_margin_list: list[_Contract] = Field(default_factory=list)


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str
    msg: str | None = None
    data: list[_Coin] | None = None


def per_eight_hours(percent: Decimal, interval_hours: int | None) -> Decimal:
    """A Coinglass rate (percent per interval) as a fraction per 8 hours."""
    hours = Decimal(interval_hours) if interval_hours else EIGHT_HOURS
    return percent / HUNDRED * EIGHT_HOURS / hours


def _raise_for_code(code: str, message: str) -> None:
    detail = message[:160]
    if code in ("401", "403"):
        raise SourceAuthFailed(SOURCE, int(code), detail)
    if code == "429":
        raise SourceRateLimited(SOURCE, None, detail)
    status = int(code) if code.isdigit() else 400
    raise SourceHttpError(SOURCE, status, f"code {code}: {detail}".rstrip(": "))


class CoinglassFunding:
    """Reads the average BTC and ETH perpetual funding rate from Coinglass."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        clock: Clock,
        api_key: str | None,
        base_url: str = DEFAULT_BASE_URL,
        budget_s: float = 4.0,
    ) -> None:
        headers = {"CG-API-KEY": api_key} if api_key else {}
        self._http = JsonGetter(
            source=SOURCE, client=client, base_url=base_url, budget_s=budget_s, headers=headers
        )
        self._clock = clock

    def __repr__(self) -> str:
        return f"CoinglassFunding(base_url={self._http.base_url!r})"

    async def read(self) -> Reading[FundingRates]:
        """The current funding rates, observed now (the service gives no observation time).

        Raises:
            MarketDataUnavailable: (a subclass naming coinglass) on any failure, including an
                answer without BTC or ETH rates.
        """
        body = await self._http.get(PATH)
        envelope = parse_model(SOURCE, _Envelope, body)
        if envelope.code != "0":
            _raise_for_code(envelope.code, envelope.msg or "")
        if envelope.data is None:
            raise MalformedPayload(SOURCE, "data: field required")
        per_coin: dict[str, Decimal] = {}
        contracts = 0
        for coin in envelope.data:
            symbol = coin.symbol.upper()
            if symbol not in COINS or symbol in per_coin:
                continue
            rates = [
                per_eight_hours(c.funding_rate, c.funding_rate_interval)
                for c in (*coin.stablecoin_margin_list, *coin.token_margin_list)
                if c.funding_rate is not None and c.funding_rate.is_finite()
            ]
            if rates:
                per_coin[symbol] = sum(rates, Decimal(0)) / len(rates)
                contracts += len(rates)
        if not per_coin:
            raise MalformedPayload(SOURCE, "no BTC or ETH funding rate in the answer")
        average = sum(per_coin.values(), Decimal(0)) / len(per_coin)
        return Reading(
            value=FundingRates(average=average, per_coin=per_coin, contracts=contracts),
            observed_at=self._clock.now(),
        )
