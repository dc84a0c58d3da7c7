"""A portfolio read batches its contract reads through Multicall3 into one `eth_call`, and reads
the very same portfolio one call at a time where the chain has no Multicall3 (issue 18)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from decimal import Decimal

import httpx
import pytest_asyncio

from adapters.chain.devchain.fake_apis import FakeApiServer
from adapters.chain.devchain.paper import devchain_venues
from adapters.chain.multicall3 import BatchReader
from adapters.chain.treasury import ChainPortfolioReader, Venues
from tests.fakes.treasury import FixedClock
from tests.integration.chain.conftest import SLIPPAGE, Rig
from tests.integration.devchain.fixtures import FAKE_ONEINCH_API_KEY
from tests.rpc_counter import RpcCounter

USDC = 10**6
# An address with no code: a reader pointed there finds no Multicall3, as on a chain without it.
NOWHERE = "0x000000000000000000000000000000000000dEaD"


async def prices() -> Mapping[str, Decimal]:
    return {"BTC": Decimal(65_000), "ETH": Decimal(3_500)}


@pytest_asyncio.fixture
async def venues(rig: Rig, apis: FakeApiServer) -> AsyncIterator[Venues]:
    """The treasury's venues on the rig's chain, holding a position in each protocol."""
    book, owner = rig.chain.book, rig.chain.treasury_address
    async with httpx.AsyncClient(timeout=30) as client:
        found = devchain_venues(
            rig.chain.w3,
            book,
            owner=owner,
            client=client,
            oneinch_base_url=apis.oneinch_base_url,
            oneinch_api_key=FAKE_ONEINCH_API_KEY,
            pendle_base_url=apis.pendle_base_url,
            curve_base_url=apis.curve_base_url,
        )
        moves = [
            *await found.pendle.build_deposit(owner, book.pendle_market, 10_000 * USDC, SLIPPAGE),
            *await found.aave.build_deposit(owner, "USDC", 5_000 * USDC),
            *await found.curve.build_deposit(owner, "USDC", 7_000 * USDC, SLIPPAGE),
        ]
        for i, step in enumerate(moves):
            await rig.executor.send(step, f"seed-{i}")
        yield found


def reader(rig: Rig, venues: Venues, *, multicall3: bool) -> ChainPortfolioReader:
    w3 = rig.chain.w3
    return ChainPortfolioReader(
        venues,
        w3=w3,
        prices=prices,
        clock=FixedClock(),
        batch=BatchReader(w3) if multicall3 else BatchReader(w3, address=NOWHERE),
    )


async def test_a_portfolio_read_is_one_eth_call_and_single_calls_read_the_same_portfolio(
    rig: Rig, venues: Venues
) -> None:
    batched, single = reader(rig, venues, multicall3=True), reader(rig, venues, multicall3=False)
    await batched.read()  # the first read learns the aToken (then read in a second batch)
    counter = RpcCounter.attach(rig.chain.w3)

    state = await batched.read()
    batched_calls = counter.eth_calls
    counter.reset()
    alone = await single.read()

    assert {p.protocol for p in state.positions} == {"aave", "curve", "pendle", "wallet"}
    assert state == alone
    assert batched_calls == 1
    assert counter.eth_calls >= 10  # every balance, the reserve, the virtual price, one each


async def test_unit_prices_are_the_same_either_way(rig: Rig, venues: Venues) -> None:
    batched, single = reader(rig, venues, multicall3=True), reader(rig, venues, multicall3=False)

    assert await batched.unit_prices() == await single.unit_prices()


async def test_unit_prices_right_after_a_read_are_that_blocks_without_reading_again(
    rig: Rig, venues: Venues
) -> None:
    batched = reader(rig, venues, multicall3=True)
    await batched.read()
    counter = RpcCounter.attach(rig.chain.w3)

    same_block = await batched.unit_prices()

    assert counter.eth_calls == 0
    assert same_block == await reader(rig, venues, multicall3=True).unit_prices()  # read afresh
    await rig.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    counter.reset()
    await batched.unit_prices()
    assert counter.eth_calls == 1  # a new block: the virtual price is read again
