"""CachedTvl: one read per TTL, failures not cached, concurrent callers share one read."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal

import pytest

from adapters.chain.treasury import CachedTvl
from application.ports.chain import RpcUnavailable


class Source:
    def __init__(self) -> None:
        self.reads = 0
        self.fail = False

    async def __call__(self) -> Mapping[str, Decimal]:
        self.reads += 1
        await asyncio.sleep(0)
        if self.fail:
            raise RpcUnavailable("http://127.0.0.1:8545", "node down")
        return {"aave": Decimal(1000 * self.reads)}


async def test_a_fresh_reading_is_reused_until_the_ttl_passes() -> None:
    now = [100.0]
    source = Source()
    tvl = CachedTvl(source, ttl_s=300, monotonic=lambda: now[0])
    assert await tvl() == {"aave": Decimal(1000)}
    now[0] += 299
    assert await tvl() == {"aave": Decimal(1000)}
    now[0] += 2
    assert await tvl() == {"aave": Decimal(2000)}
    assert source.reads == 2


async def test_concurrent_callers_share_one_read() -> None:
    source = Source()
    tvl = CachedTvl(source, ttl_s=300)
    results = await asyncio.gather(*(tvl() for _ in range(10)))
    assert source.reads == 1
    assert all(r == {"aave": Decimal(1000)} for r in results)


async def test_a_failed_read_is_raised_and_not_cached() -> None:
    now = [0.0]
    source = Source()
    tvl = CachedTvl(source, ttl_s=10, monotonic=lambda: now[0])
    source.fail = True
    with pytest.raises(RpcUnavailable):
        await tvl()
    source.fail = False
    assert await tvl() == {"aave": Decimal(2000)}
