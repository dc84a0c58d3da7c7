"""DeFiLlama: protocol TVL (`api.llama.fi/tvl/{slug}`) and pool APYs (`yields.llama.fi/pools`).

APYs arrive in percent and leave as fractions. The pools list is large: it is fetched once per
`cache_seconds` and filtered here.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx

from adapters.chain.http_api import get_json
from application.ports.chain import PoolYield, ProtocolUnavailable

SOURCE = "defillama"


class DefiLlama:
    """The ProtocolDataSource over DeFiLlama's public APIs."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str = "https://api.llama.fi",
        yields_url: str = "https://yields.llama.fi",
        cache_seconds: float = 600.0,
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._yields = yields_url.rstrip("/")
        self._ttl = cache_seconds
        self._pools: tuple[float, list[Any]] | None = None

    async def protocol_tvl(self, protocol: str) -> Decimal:
        """A protocol's TVL in USD.

        Raises:
            ProtocolUnavailable: the API failed or did not answer a number.
        """
        body = await get_json(self._client, SOURCE, f"{self._base}/tvl/{protocol}")
        if isinstance(body, bool) or not isinstance(body, int | Decimal):
            raise ProtocolUnavailable(SOURCE, f"TVL of {protocol} is not a number", permanent=True)
        return Decimal(body)

    async def _all_pools(self) -> list[Any]:
        if self._pools is not None and time.monotonic() - self._pools[0] < self._ttl:
            return self._pools[1]
        body = await get_json(self._client, SOURCE, f"{self._yields}/pools")
        if not isinstance(body, dict) or body.get("status") != "success":
            raise ProtocolUnavailable(SOURCE, "pools answer has no success status", permanent=True)
        data = body.get("data")
        if not isinstance(data, list):
            raise ProtocolUnavailable(SOURCE, "pools answer has no data list", permanent=True)
        self._pools = (time.monotonic(), data)
        return data

    async def pools(self, project: str, chain: str | None = None) -> tuple[PoolYield, ...]:
        """A project's pools (optionally on one chain), APY as a fraction."""
        found = []
        for raw in await self._all_pools():
            if not isinstance(raw, dict) or raw.get("project") != project:
                continue
            if chain is not None and str(raw.get("chain", "")).lower() != chain.lower():
                continue
            try:
                apy = raw.get("apy")
                found.append(
                    PoolYield(
                        project=project,
                        chain=str(raw["chain"]),
                        symbol=str(raw["symbol"]),
                        tvl_usd=Decimal(raw["tvlUsd"]),
                        apy=None if apy is None else Decimal(apy) / 100,
                        pool_id=str(raw["pool"]),
                    )
                )
            except (KeyError, TypeError, ArithmeticError) as exc:
                raise ProtocolUnavailable(SOURCE, f"malformed pool: {exc}", permanent=True) from exc
        return tuple(found)
