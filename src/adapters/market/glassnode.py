"""Glassnode MVRV Z-Score for BTC, daily (`/v1/metrics/market/mvrv_z_score?a=BTC&i=24h`).

The answer is a list of `{"t": unix seconds, "v": number | null}` points, oldest first; the
newest non-null point is the reading, observed at its `t`. The key goes in `X-Api-Key`. It is
a paid metric: without a key (or with a plan that lacks it) the aggregate falls back to the
operator's manual value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from pydantic import BaseModel, ConfigDict, RootModel

from adapters.market.cache import Reading
from adapters.market.errors import MalformedPayload
from adapters.market.transport import JsonGetter, parse_model
from application.ports.clock import Clock

SOURCE = "glassnode"
DEFAULT_BASE_URL = "https://api.glassnode.com"
PATH = "/v1/metrics/market/mvrv_z_score"
LOOKBACK = timedelta(days=7)


class _Point(BaseModel):
    model_config = ConfigDict(extra="ignore")

    t: int
    v: Decimal | None


class _Series(RootModel[list[_Point]]):
    pass


class GlassnodeMvrv:
    """Reads the latest BTC MVRV Z-Score from Glassnode."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        clock: Clock,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        budget_s: float = 4.0,
    ) -> None:
        self._http = JsonGetter(
            source=SOURCE,
            client=client,
            base_url=base_url,
            budget_s=budget_s,
            headers={"X-Api-Key": api_key},
        )
        self._clock = clock

    def __repr__(self) -> str:
        return f"GlassnodeMvrv(base_url={self._http.base_url!r})"

    async def read(self) -> Reading[Decimal]:
        """The newest MVRV Z-Score point of the last week.

        Raises:
            MarketDataUnavailable: (a subclass naming glassnode) on any failure, including an
                answer with no non-null point.
        """
        since = int((self._clock.now() - LOOKBACK).timestamp())
        body = await self._http.get(PATH, {"a": "BTC", "i": "24h", "s": str(since)})
        points = [(p.t, p.v) for p in parse_model(SOURCE, _Series, body).root if p.v is not None]
        if not points:
            raise MalformedPayload(SOURCE, "no MVRV Z-Score value in the answer")
        stamp, value = max(points, key=lambda p: p[0])
        if not value.is_finite():
            raise MalformedPayload(SOURCE, "MVRV Z-Score is not a finite number")
        return Reading(value=value, observed_at=datetime.fromtimestamp(stamp, UTC))
