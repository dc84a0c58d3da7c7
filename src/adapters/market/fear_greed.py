"""Alternative.me Crypto Fear & Greed index (`/fng/?limit=1`, no key).

Every value in the answer is a string: `value` "0".."100" and `timestamp` in unix seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from pydantic import BaseModel, ConfigDict, Field

from adapters.market.cache import Reading
from adapters.market.errors import MalformedPayload
from adapters.market.transport import JsonGetter, parse_model

SOURCE = "alternative.me"
DEFAULT_BASE_URL = "https://api.alternative.me"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value: int = Field(ge=0, le=100)
    value_classification: str | None = None
    timestamp: int


class _Metadata(BaseModel):
    error: str | None = None


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    data: list[_Entry]
    metadata: _Metadata = _Metadata()


class FearGreedIndex:
    """Reads the latest Fear & Greed index."""

    def __init__(
        self, *, client: httpx.AsyncClient, base_url: str = DEFAULT_BASE_URL, budget_s: float = 4.0
    ) -> None:
        self._http = JsonGetter(source=SOURCE, client=client, base_url=base_url, budget_s=budget_s)

    def __repr__(self) -> str:
        return f"FearGreedIndex(base_url={self._http.base_url!r})"

    async def read(self) -> Reading[int]:
        """The latest index value (0 extreme fear .. 100 extreme greed).

        Raises:
            MarketDataUnavailable: (a subclass naming alternative.me) on any failure.
        """
        body = await self._http.get("/fng/", {"limit": "1"})
        answer = parse_model(SOURCE, _Answer, body)
        if answer.metadata.error:
            raise MalformedPayload(SOURCE, f"service reported: {answer.metadata.error[:160]}")
        if not answer.data:
            raise MalformedPayload(SOURCE, "data is empty")
        latest = max(answer.data, key=lambda e: e.timestamp)
        return Reading(
            value=latest.value, observed_at=datetime.fromtimestamp(latest.timestamp, UTC)
        )
