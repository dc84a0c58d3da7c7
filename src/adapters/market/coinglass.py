"""Coinglass open API v4 funding rates for BTC and ETH perpetuals.

`/api/futures/funding-rate/exchange-list` answers `{"code": "0", "msg": ..., "data": [...]}`
with, per coin, the current rate of each exchange's USD-margined (`stablecoin_margin_list`) and
coin-margined (`token_margin_list`) perpetual, in **percent per funding interval**, with the
interval in hours. A `code` other than "0" is an error even with HTTP 200; the code comes
as a string ("0") or, from some gateways, a number (0): both are read.

How one number comes out (MarketData.funding_rate, a fraction per 8 hours):
1. each contract's rate becomes a fraction per 8 h: `rate / 100 * 8 / interval_hours`
   (a missing interval is taken as 8 h, the common one; contracts without a rate are skipped,
   and so is an odd row, such as one with no exchange or an interval of 0, which is logged:
   one bad listing must not cost the whole reading);
2. per coin, the plain mean over every exchange and both margin types: each venue counts once,
   so one exchange with many listings cannot dominate, and both crowds (stablecoin- and
   coin-margined) show the leverage we want to read;
3. the result is the mean of the BTC and ETH means, so each coin weighs the same however many
   venues list it; if one coin is absent, the other alone.
The symbol filter is applied here too, since the service has been seen to ignore it: one
request (without `symbol`) serves both coins, which halves the quota spent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.market.cache import Reading
from adapters.market.errors import (
    MalformedPayload,
    SourceAuthFailed,
    SourceHttpError,
    SourceRateLimited,
)
from adapters.market.transport import JsonGetter, parse_model
from application.ports.clock import Clock

log = logging.getLogger(__name__)

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

    exchange: str = Field(min_length=1)
    funding_rate_interval: int | None = Field(default=None, gt=0)
    funding_rate: Decimal | None = None


class _Coin(BaseModel):
    model_config = ConfigDict(extra="ignore")

    symbol: str
    # Rows are validated one by one (see `_contracts`): one odd row is skipped, not fatal.
    stablecoin_margin_list: list[Any] = Field(default_factory=list)
    token_margin_list: list[Any] = Field(default_factory=list)


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str | int
    msg: str | None = None
    data: list[_Coin] | None = None


def _contracts(coin: _Coin) -> list[_Contract]:
    """The coin's well-formed contract rows; odd ones are logged and skipped."""
    good: list[_Contract] = []
    skipped = 0
    for row in (*coin.stablecoin_margin_list, *coin.token_margin_list):
        try:
            good.append(_Contract.model_validate(row))
        except ValidationError:
            skipped += 1
    if skipped:
        log.warning(
            "coinglass: odd funding rows skipped",
            extra={"source": SOURCE, "symbol": coin.symbol, "skipped": skipped},
        )
    return good


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
        code = str(envelope.code)
        if code != "0":
            _raise_for_code(code, envelope.msg or "")
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
                for c in _contracts(coin)
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
