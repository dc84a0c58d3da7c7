"""Deribit public API v2 (no key): BTC and ETH implied volatility (DVOL) and the options
put/call open-interest ratio.

Deribit answers JSON-RPC envelopes over plain GET: `{"jsonrpc": "2.0", "result": ...,
"usIn": ..., "usOut": ..., "usDiff": ..., "testnet": false}`, or `{"error": {"code", "message"}}`
with HTTP 400 on a bad request.

How the numbers come out (each read makes four requests, concurrently):
1. `public/get_volatility_index_data` (currency, start/end in ms, resolution 3600) answers
   hourly candles `[timestamp_ms, open, high, low, close]` over the last 25 hours. The latest
   close is the coin's DVOL (annualised 30-day implied volatility in percentage points); its
   change over 24 h compares it with the last candle at least 24 h older (None when the answer
   holds no such candle).
2. `public/get_book_summary_by_currency` (currency, kind=option) lists every option with its
   `open_interest` (in coins, so puts and calls of one currency add up in the same unit). The
   coin's ratio is the open interest of names ending `-P` over those ending `-C`; the
   `put_call_ratio` is the mean of the BTC and ETH ratios (each coin weighs the same); a coin
   without call open interest has no ratio.
The reading is all or nothing: any failed request fails the read, and the cache serves the last
good reading (flagged stale) or nothing. Its observation time is the older of the two latest
DVOL candles.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from adapters.market.cache import Reading
from adapters.market.errors import MalformedPayload
from adapters.market.transport import JsonGetter, parse_model
from application.ports.clock import Clock

SOURCE = "deribit"
DEFAULT_BASE_URL = "https://www.deribit.com/api/v2"
DVOL_PATH = "/public/get_volatility_index_data"
BOOK_PATH = "/public/get_book_summary_by_currency"
COINS = ("BTC", "ETH")
DVOL_RESOLUTION = "3600"
DVOL_WINDOW = timedelta(hours=25)
DAY = timedelta(hours=24)
RATIO_PLACES = Decimal("0.0001")
CHANGE_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionsMarket:
    """What Deribit tells us: DVOL per coin, its 24 h change, and the put/call ratios."""

    implied_volatility: dict[str, Decimal]
    iv_change_24h: dict[str, Decimal | None]
    put_call_per_coin: dict[str, Decimal]

    @property
    def put_call_ratio(self) -> Decimal | None:
        """The mean of the coins' put/call open-interest ratios, None if no coin has one."""
        ratios = list(self.put_call_per_coin.values())
        if not ratios:
            return None
        mean = sum(ratios, Decimal(0)) / len(ratios)
        return mean.quantize(RATIO_PLACES)


class _Error(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: int | None = None
    message: str = ""


class _DvolResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    data: list[list[Decimal]]
    continuation: int | None = None


class _DvolAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    result: _DvolResult | None = None
    error: _Error | None = None


class _Summary(BaseModel):
    model_config = ConfigDict(extra="ignore")

    instrument_name: str
    open_interest: Decimal | None = Field(default=None, ge=0)


class _BookAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    result: list[_Summary] | None = None
    error: _Error | None = None


def _service_error(error: _Error | None, what: str) -> MalformedPayload:
    if error is not None:
        return MalformedPayload(SOURCE, f"{what}: error {error.code}: {error.message[:120]}")
    return MalformedPayload(SOURCE, f"{what}: result: field required")


def dvol_from_candles(
    candles: list[list[Decimal]], coin: str
) -> tuple[Decimal, Decimal | None, datetime]:
    """The latest close, its change over 24 h (None without a candle 24 h older) and its time.

    Raises:
        MalformedPayload: no candles, or a candle that is not [ms, open, high, low, close]
            with a positive close.
    """
    if not candles:
        raise MalformedPayload(SOURCE, f"{coin} DVOL: no candles in the answer")
    points: list[tuple[datetime, Decimal]] = []
    for candle in candles:
        if len(candle) != 5 or not all(v.is_finite() for v in candle) or candle[4] <= 0:
            raise MalformedPayload(SOURCE, f"{coin} DVOL: a candle is not [ms, o, h, l, c]")
        at = datetime.fromtimestamp(int(candle[0]) / 1000, UTC)
        points.append((at, candle[4]))
    points.sort()
    latest_at, latest = points[-1]
    earlier = [value for at, value in points if at <= latest_at - DAY]
    change = (latest / earlier[-1] - 1).quantize(CHANGE_PLACES) if earlier else None
    return latest, change, latest_at


def put_call_ratio(summaries: list[_Summary]) -> Decimal | None:
    """Open interest of puts over that of calls; None when calls have no open interest."""
    puts = sum(
        (s.open_interest or Decimal(0) for s in summaries if s.instrument_name.endswith("-P")),
        Decimal(0),
    )
    calls = sum(
        (s.open_interest or Decimal(0) for s in summaries if s.instrument_name.endswith("-C")),
        Decimal(0),
    )
    if calls <= 0:
        return None
    return (puts / calls).quantize(RATIO_PLACES)


class DeribitOptions:
    """Reads DVOL and the put/call open-interest ratio for BTC and ETH from Deribit."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        clock: Clock,
        base_url: str = DEFAULT_BASE_URL,
        budget_s: float = 4.0,
    ) -> None:
        self._http = JsonGetter(source=SOURCE, client=client, base_url=base_url, budget_s=budget_s)
        self._clock = clock

    def __repr__(self) -> str:
        return f"DeribitOptions(base_url={self._http.base_url!r})"

    async def read(self) -> Reading[OptionsMarket]:
        """The current options picture for BTC and ETH.

        Raises:
            MarketDataUnavailable: (a subclass naming deribit) when any request fails or an
                answer cannot be read.
        """
        now = self._clock.now()
        # All four at once, so the whole read fits in one source budget.
        btc_dvol, eth_dvol, btc_book, eth_book = await asyncio.gather(
            self._dvol("BTC", now), self._dvol("ETH", now), self._book("BTC"), self._book("ETH")
        )
        dvols, books = (btc_dvol, eth_dvol), (btc_book, eth_book)
        implied = {coin: value for coin, (value, _, _) in zip(COINS, dvols, strict=True)}
        changes = {coin: change for coin, (_, change, _) in zip(COINS, dvols, strict=True)}
        ratios = {coin: r for coin, r in zip(COINS, books, strict=True) if r is not None}
        observed_at = min(min(at for _, _, at in dvols), now)
        return Reading(
            value=OptionsMarket(
                implied_volatility=implied, iv_change_24h=changes, put_call_per_coin=ratios
            ),
            observed_at=observed_at,
        )

    async def _dvol(self, coin: str, now: datetime) -> tuple[Decimal, Decimal | None, datetime]:
        body = await self._http.get(
            DVOL_PATH,
            {
                "currency": coin,
                "start_timestamp": str(int((now - DVOL_WINDOW).timestamp() * 1000)),
                "end_timestamp": str(int(now.timestamp() * 1000)),
                "resolution": DVOL_RESOLUTION,
            },
        )
        answer = parse_model(SOURCE, _DvolAnswer, body)
        if answer.result is None:
            raise _service_error(answer.error, f"{coin} DVOL")
        return dvol_from_candles(answer.result.data, coin)

    async def _book(self, coin: str) -> Decimal | None:
        body = await self._http.get(BOOK_PATH, {"currency": coin, "kind": "option"})
        answer = parse_model(SOURCE, _BookAnswer, body)
        if answer.result is None:
            raise _service_error(answer.error, f"{coin} options")
        return put_call_ratio(answer.result)
