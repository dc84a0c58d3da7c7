"""The treasury's cash is every stablecoin in its wallet, not only USDC: an exit may sell into
USDT or DAI when USDC is off its peg, and that money must not vanish from the portfolio."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import httpx

from adapters.chain.devchain.fake_apis import FakeApiServer
from adapters.chain.devchain.paper import devchain_venues
from adapters.chain.treasury import ChainPortfolioReader
from tests.fakes.treasury import FixedClock
from tests.integration.devchain.fixtures import FAKE_ONEINCH_API_KEY, DevChain


async def _prices() -> Mapping[str, Decimal]:
    return {"BTC": Decimal(60_000), "ETH": Decimal(3_500)}


async def test_wallet_usdt_and_dai_count_as_cash(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        venues = devchain_venues(
            devchain.w3,
            devchain.book,
            owner=devchain.treasury_address,
            client=client,
            oneinch_base_url=fake_apis.oneinch_base_url,
            oneinch_api_key=FAKE_ONEINCH_API_KEY,
            pendle_base_url=fake_apis.pendle_base_url,
            curve_base_url=fake_apis.curve_base_url,
        )
        reader = ChainPortfolioReader(venues, w3=devchain.w3, prices=_prices, clock=FixedClock())
        state = await reader.read()
    # The test treasury holds $1,000,000 USDC, $250,000 USDT and $250,000 DAI.
    assert state.cash_balance == Decimal(1_500_000)
