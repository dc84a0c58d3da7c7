"""Fixtures for the market integration tests: the loopback fake services and live markets
wired to them through a real httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from adapters.market.aggregate import LiveMarketConfig, LiveMarketData, build_live_market
from tests.fakes.market import InMemoryManualMvrv, MovableClock
from tests.integration.market.fake_services import (
    COINGECKO,
    COINGLASS,
    DERIBIT,
    FEAR_GREED,
    GLASSNODE,
    FakeMarketServices,
)
from tests.servers import port_open, require_server

KEYS = {COINGECKO: "CG-loopback-key", GLASSNODE: "gn-loopback-key", COINGLASS: "cgl-loopback-key"}


@pytest.fixture(scope="module")
def running_services() -> Iterator[FakeMarketServices]:
    with FakeMarketServices() as services:
        host, port = services.base.removeprefix("http://").split(":")
        require_server("fake market services", port_open(host, int(port)), "loopback bind failed")
        yield services


@pytest.fixture
def services(running_services: FakeMarketServices) -> FakeMarketServices:
    running_services.reset()
    for name, key in KEYS.items():
        running_services.knobs[name].api_key = key
    return running_services


def config_for(services: FakeMarketServices, **overrides: object) -> LiveMarketConfig:
    """Live settings pointing at the fake services, with the right keys."""
    urls = services.base_urls()
    values: dict[str, object] = {
        "coingecko_base_url": urls[COINGECKO],
        "coingecko_api_key": KEYS[COINGECKO],
        "glassnode_base_url": urls[GLASSNODE],
        "glassnode_api_key": KEYS[GLASSNODE],
        "coinglass_base_url": urls[COINGLASS],
        "coinglass_api_key": KEYS[COINGLASS],
        "fear_greed_base_url": urls[FEAR_GREED],
        "deribit_base_url": urls[DERIBIT],
        "source_timeout_s": 1.0,
    }
    values.update(overrides)
    return LiveMarketConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as shared:
        yield shared


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def store() -> InMemoryManualMvrv:
    return InMemoryManualMvrv()


@pytest.fixture
def make_market(
    services: FakeMarketServices,
    client: httpx.AsyncClient,
    clock: MovableClock,
    store: InMemoryManualMvrv,
) -> Callable[..., LiveMarketData]:
    def make(**overrides: object) -> LiveMarketData:
        return build_live_market(
            client, config_for(services, **overrides), clock=clock, manual_mvrv=store
        )

    return make
