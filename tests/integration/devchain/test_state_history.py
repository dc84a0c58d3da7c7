"""The in-process chain forgets old world states and nothing else (adapters.chain.devchain.history).

py-evm keeps every version of the world state; paper mode mines about three blocks a simulated
hour, so the paper service grew by about 23 KiB a cycle without bound (issue 18). The world's
tick now prunes every state older than a window of recent blocks. These tests run on a chain
of their own: the shared session chain is reverted to snapshots whose parent states a prune
would drop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from eth_tester import EthereumTester
from web3 import AsyncWeb3

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.deploy import DevChainConfig, deploy_devchain
from adapters.chain.devchain.history import StateHistory
from adapters.chain.devchain.node import in_process_web3, new_tester
from adapters.chain.devchain.oracle import oracle_price
from adapters.chain.devchain.world import DevChainWorld
from domain.market import MarketData
from tests.integration.devchain.fixtures import COMPILE_CACHE
from tests.unit.domain.builders import market

pytestmark = pytest.mark.slow(seconds=40)

KEEP = 8
HOLDER = "0x00000000000000000000000000000000000000bb"


def _market(btc: int) -> MarketData:
    return market(btc=str(btc))


class _Chain:
    def __init__(self, tester: EthereumTester, book: AddressBook) -> None:
        self.tester = tester
        self.book = book
        self.w3: AsyncWeb3[Any] = in_process_web3(tester)
        self.history = StateHistory(tester, keep_blocks=KEEP, every_blocks=KEEP)
        self.world = DevChainWorld(
            w3=self.w3,
            book=book,
            config=DevChainConfig(curve_daily_volume_share=Decimal("0.05")),
            cache_dir=COMPILE_CACHE,
            history=self.history,
        )

    def stored_keys(self) -> int:
        return len(self.history.store())

    async def ticks(self, count: int, start: int = 0) -> None:
        for n in range(count):
            await self.world.tick(_market(100_000 + start + n), timedelta(hours=1))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chain() -> AsyncIterator[_Chain]:
    tester = new_tester()
    book = await deploy_devchain(in_process_web3(tester), cache_dir=COMPILE_CACHE)
    yield _Chain(tester, book)


@pytest.mark.asyncio(loop_scope="module")
async def test_the_chain_s_memory_stops_growing_with_its_old_states(chain: _Chain) -> None:
    await chain.ticks(10)  # a warm-up: allowances set once, a first prune
    chain.history.prune()  # each measure right after a prune, whatever the prunes' phase
    middle = chain.stored_keys()
    await chain.ticks(12, start=20)
    chain.history.prune()
    per_tick = (chain.stored_keys() - middle) / 12
    # A tick mines four blocks. What it must keep for good: their headers, transactions,
    # receipts and py-evm's lookups (about 15 keys), and what the live state itself grew by
    # (about 6). Without pruning it also keeps every state-trie node its blocks replaced:
    # 73 keys a tick in all.
    assert per_tick < 30, f"{per_tick:.1f} keys kept per tick"


@pytest.mark.asyncio(loop_scope="module")
async def test_every_block_transaction_and_receipt_stays_readable(chain: _Chain) -> None:
    w3 = chain.w3
    first = await w3.eth.block_number + 1
    await chain.ticks(3 * KEEP, start=100)
    head = await w3.eth.block_number
    transactions = 0
    # The blocks this test mined, all but the newest far older than the states kept, and the
    # deployment's first blocks (the oldest of all).
    for number in [*range(1, 6), *range(first, head + 1)]:
        block = await w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            receipt = await w3.eth.get_transaction_receipt(tx["hash"])
            assert receipt["blockNumber"] == number
            transactions += 1
    assert transactions > 3 * KEEP
    assert head - first > 3 * KEEP  # the window was passed several times over
    # The newest states answer, contracts keep their code and the oracle its last price.
    for number in range(head - KEEP + 1, head + 1):
        await w3.eth.get_balance(w3.to_checksum_address(chain.book.deployer), number)
    assert await w3.eth.get_code(w3.to_checksum_address(chain.book.token("USDC")))
    assert await oracle_price(w3, chain.book, "BTC") == Decimal(100_000 + 100 + 3 * KEEP - 1)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_snapshot_revert_after_a_prune_still_restores_the_chain(chain: _Chain) -> None:
    await chain.ticks(KEEP, start=200)
    snapshot = chain.tester.take_snapshot()
    before = await oracle_price(chain.w3, chain.book, "BTC")
    await chain.world.fund(HOLDER, Decimal(5))
    await chain.ticks(1, start=900)
    chain.history.prune()
    chain.tester.revert_to_snapshot(snapshot)
    assert await oracle_price(chain.w3, chain.book, "BTC") == before
    await chain.ticks(2, start=300)  # the chain goes on from there
    assert await oracle_price(chain.w3, chain.book, "BTC") == Decimal(100_000 + 301)
