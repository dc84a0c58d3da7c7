"""One protocol's failure degrades that protocol's position, not the whole portfolio read: the
position keeps its last value and is flagged stale; the other positions are read as usual."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import httpx
import pytest

from adapters.chain.devchain.fake_apis import FakeApiServer
from adapters.chain.devchain.paper import devchain_venues
from adapters.chain.treasury import ChainPortfolioReader
from application.ports.chain import ProtocolUnavailable
from tests.fakes.treasury import FixedClock
from tests.integration.chain.conftest import SLIPPAGE, Rig
from tests.integration.devchain.fixtures import FAKE_ONEINCH_API_KEY

USDC = 10**6


class SwitchableTransport(httpx.AsyncBaseTransport):
    """The real loopback transport, until `down` is set: then every request fails to connect."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def prices() -> Mapping[str, Decimal]:
    return {"BTC": Decimal(65_000), "ETH": Decimal(3_500)}


@pytest.mark.parametrize("rig", ["in-process"], indirect=True)
async def test_a_pendle_outage_leaves_the_pt_position_at_its_last_value_flagged_stale(
    rig: Rig, apis: FakeApiServer
) -> None:
    book, owner = rig.chain.book, rig.chain.treasury_address
    transport = SwitchableTransport()
    async with httpx.AsyncClient(transport=transport, timeout=10) as client:
        venues = devchain_venues(
            rig.chain.w3,
            book,
            owner=owner,
            client=client,
            oneinch_base_url=apis.oneinch_base_url,
            oneinch_api_key=FAKE_ONEINCH_API_KEY,
            pendle_base_url=apis.pendle_base_url,
            curve_base_url=apis.curve_base_url,
        )
        for i, step in enumerate(
            await venues.pendle.build_deposit(owner, book.pendle_market, 10_000 * USDC, SLIPPAGE)
        ):
            await rig.executor.send(step, f"buy-{i}")
        for i, step in enumerate(await rig.aave.build_deposit(owner, "USDC", 5_000 * USDC)):
            await rig.executor.send(step, f"aave-{i}")
        reader = ChainPortfolioReader(venues, w3=rig.chain.w3, prices=prices, clock=FixedClock())
        healthy = await reader.read()

        transport.down = True  # the Pendle (and Curve) APIs are unreachable from now on
        degraded = await reader.read()

    before = {p.key: p for p in healthy.positions}
    after = {p.key: p for p in degraded.positions}
    assert after[("pendle", "PT-USDC")] == before[("pendle", "PT-USDC")]  # last value shown
    assert after[("aave", "USDC")].value_usd >= before[("aave", "USDC")].value_usd  # read live
    assert degraded.extra["stale_positions"] == "pendle/PT-USDC"
    assert "pendle" in degraded.extra["stale:pendle/PT-USDC"]
    assert "stale_positions" not in healthy.extra


@pytest.mark.parametrize("rig", ["in-process"], indirect=True)
async def test_a_protocol_failing_on_the_first_read_still_fails_the_read(
    rig: Rig, apis: FakeApiServer
) -> None:
    # With no earlier value, there is nothing honest to show: the read fails, typed.
    transport = SwitchableTransport()
    transport.down = True
    async with httpx.AsyncClient(transport=transport, timeout=10) as client:
        venues = devchain_venues(
            rig.chain.w3,
            rig.chain.book,
            owner=rig.chain.treasury_address,
            client=client,
            oneinch_base_url=apis.oneinch_base_url,
            oneinch_api_key=FAKE_ONEINCH_API_KEY,
            pendle_base_url=apis.pendle_base_url,
            curve_base_url=apis.curve_base_url,
        )
        reader = ChainPortfolioReader(venues, w3=rig.chain.w3, prices=prices, clock=FixedClock())
        with pytest.raises(ProtocolUnavailable, match="pendle"):
            await reader.read()
