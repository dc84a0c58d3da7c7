"""Ports the decision cycle needs besides market data, advice, chain and persistence."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Protocol

from domain.maturity import TermHolding, TermMarket
from domain.portfolio import PortfolioState


class PortfolioReader(Protocol):
    """Reads the treasury as it is now: positions valued as each protocol defines them, plus
    idle stablecoins, from the chain (or the simulated chain)."""

    async def read(self) -> PortfolioState:
        """The current portfolio (as_of set to now).

        Raises:
            TransientError: the chain could not be read.
        """
        ...

    async def unit_prices(self) -> Mapping[str, Decimal]:
        """USD per unit of every non-volatile asset held (LP tokens, PTs, aTokens)."""
        ...


class TermMarkets(Protocol):
    """Fixed-term positions (Pendle PT): which markets they are held in, and the markets they
    could be rolled into."""

    async def holdings(self) -> tuple[TermHolding, ...]:
        """PT held, one entry per market holding any, with each market's maturity.

        Raises:
            ProtocolUnavailable: the protocol could not be read.
        """
        ...

    async def candidates(self) -> tuple[TermMarket, ...]:
        """Active markets of the same venue a holding could be rolled into.

        Raises:
            ProtocolUnavailable: the protocol could not be read.
        """
        ...


class ChainConditions(Protocol):
    """Facts about the outside world the safety policy needs: fees and protocol TVL."""

    async def base_fee_gwei(self) -> Decimal | None:
        """The latest base fee in gwei, or None when it cannot be read now."""
        ...

    async def gas_price_gwei(self) -> Decimal:
        """The gas price (base fee plus priority fee) to cost plans with.

        Raises:
            TransientError: fees could not be read.
        """
        ...

    async def protocol_tvl_usd(self) -> Mapping[str, Decimal]:
        """TVL per protocol name; a protocol missing from the map has unknown TVL."""
        ...


class StateFileWriter(Protocol):
    """Writes the spec's live portfolio state JSON file, atomically."""

    async def write(self, state: PortfolioState) -> None:
        """Replace the state file with this state."""
        ...


class CycleLock(Protocol):
    """Makes sure only one decision cycle or plan execution runs, within this process (an
    asyncio lock) and across every process sharing the database (an advisory lock)."""

    def hold(self) -> AbstractAsyncContextManager[None]:
        """Hold the lock for the duration of the block.

        Raises:
            CycleBusy: another process holds it and did not release it in time.
        """
        ...
