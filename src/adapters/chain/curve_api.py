"""Curve's public API: a pool's base APY (trading fees) from `GET {base}/getVolumes/{chain}`.

The endpoint (curvefi/curve-api, "Returns all 24h volume and base APY data for Curve pools on
each chain") answers `{"success": true, "data": {"pools": [{"address", "type", "volumeUSD",
"latestDailyApyPcent", "latestWeeklyApyPcent", "includedApyPcentFromLsts", "virtualPrice"}],
"totalVolumes": {...}}}`. APYs are in percent and leave as fractions. The weekly figure is
used (a day of volume is noisy), the daily one when the weekly is missing. Pools are matched
by their full address; the list is fetched once per `cache_seconds`.
"""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from adapters.chain.http_api import get_json
from application.ports.chain import ProtocolUnavailable

SOURCE = "curve-api"
DEFAULT_BASE_URL = "https://api.curve.finance/v1"
BLOCKCHAIN_IDS = {1: "ethereum", 42161: "arbitrum", 8453: "base", 10: "optimism", 137: "polygon"}
"""Curve's blockchain ids by chain id (the chains its volumes endpoint serves)."""


class _Pool(BaseModel):
    model_config = ConfigDict(extra="ignore")
    address: str
    latestDailyApyPcent: Decimal | None = None  # noqa: N815
    latestWeeklyApyPcent: Decimal | None = None  # noqa: N815


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore")
    pools: list[_Pool]


class _Volumes(BaseModel):
    model_config = ConfigDict(extra="ignore")
    success: bool
    data: _Data | None = None


class CurveApi:
    """Base APYs of Curve pools on one chain."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str = DEFAULT_BASE_URL,
        blockchain_id: str = "ethereum",
        cache_seconds: float = 300.0,
    ) -> None:
        self._client = client
        self._url = f"{base_url.rstrip('/')}/getVolumes/{blockchain_id}"
        self._ttl = cache_seconds
        self._cached: tuple[float, dict[str, _Pool]] | None = None

    async def _pools(self) -> dict[str, _Pool]:
        if self._cached is not None and time.monotonic() - self._cached[0] < self._ttl:
            return self._cached[1]
        body = await get_json(self._client, SOURCE, self._url)
        try:
            volumes = _Volumes.model_validate(body)
        except ValidationError as exc:
            raise ProtocolUnavailable(
                SOURCE, "unexpected getVolumes answer", permanent=True
            ) from exc
        if not volumes.success or volumes.data is None:
            raise ProtocolUnavailable(SOURCE, "getVolumes answered without success")
        pools = {p.address.lower(): p for p in volumes.data.pools}
        self._cached = (time.monotonic(), pools)
        return pools

    async def base_apy(self, pool: str) -> Decimal:
        """The pool's base APY (trading fees) as a fraction.

        Raises:
            ProtocolUnavailable: the API failed, or does not list the pool or its APY.
        """
        found = (await self._pools()).get(pool.lower())
        if found is None:
            raise ProtocolUnavailable(SOURCE, f"pool {pool} not listed", permanent=True)
        percent = found.latestWeeklyApyPcent
        if percent is None:
            percent = found.latestDailyApyPcent
        if percent is None:
            raise ProtocolUnavailable(SOURCE, f"pool {pool} has no base APY")
        return percent / 100
