"""The dev chain's outside world in paper mode: time passing, other traders' 3pool volume,
oracle prices and new capital, all sent from the deployer account.

Every one of these writes to the chain, and so does the executor's bundle simulation on the
in-process EVM (evm_snapshot, send, evm_revert). They must never overlap: a block the world
mines between the executor's snapshot and its revert is thrown away by the revert (the chain
clock goes back, an oracle price is lost, and a swap the world is waiting on is "not in the
chain after 60 seconds"), and two sends from the deployer at once could pick the same nonce.
So the world and the executor share one `asyncio.Lock` (`write_lock`), and the world holds it
for each whole step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from web3 import AsyncWeb3

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.deploy import DevChainConfig, fund_account
from adapters.chain.devchain.history import StateHistory
from adapters.chain.devchain.oracle import advance_time, push_market_data
from adapters.chain.devchain.volume import trade_curve_volume
from domain.market import MarketData


@dataclass(slots=True, kw_only=True)
class DevChainWorld:
    """Moves the dev chain with simulated time and prices, and mints deposits; one write at a
    time under `write_lock`, the lock the executor holds while it simulates."""

    w3: AsyncWeb3[Any]
    book: AddressBook
    config: DevChainConfig
    cache_dir: Path | None = None
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    on_new_time: Callable[[int], Awaitable[None]] | None = None
    """Called under the lock with the chain's new timestamp after time passed (paper mode
    lists the next Pendle market here)."""
    history: StateHistory | None = None
    """The in-process chain's old world states, pruned under the lock after each step
    (`adapters.chain.devchain.history`); None on a JSON-RPC node, which keeps its own."""

    async def tick(self, market: MarketData, delta: timedelta) -> None:
        """Let `delta` pass on the chain (its clock, the 3pool's volume) and copy the market's
        prices into the oracle.

        Raises:
            DevChainDeploymentFailed: a transaction failed.
            DevChainUnreachable: the node did not answer.
        """
        seconds = int(delta.total_seconds())
        async with self.write_lock:
            if seconds > 0:
                now = await advance_time(self.w3, seconds)
                # Other traders' volume: the 3pool's fees are its base APY.
                await trade_curve_volume(self.w3, self.book, seconds, self.config)
                if self.on_new_time is not None:
                    await self.on_new_time(now)
            await push_market_data(self.w3, self.book, market)
            if self.history is not None:
                self.history.maybe_prune()

    async def fund(self, address: str, usd: Decimal) -> None:
        """Mint `usd` of USDC to `address` (new capital arriving).

        Raises:
            DevChainDeploymentFailed: the mint failed.
        """
        async with self.write_lock:
            await fund_account(self.w3, self.book, address, {"USDC": usd}, cache_dir=self.cache_dir)


__all__ = ["DevChainWorld"]
