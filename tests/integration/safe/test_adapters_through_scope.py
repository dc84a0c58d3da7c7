"""The adapters' own calldata passes the agent's scope: a plan built by the real Aave, Curve,
Pendle and 1inch adapters for the Safe (against the fake 1inch/Pendle APIs) executes as one
Safe batch, and the portfolio read for the Safe's address shows exactly what it bought."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal

import httpx
import pytest

from adapters.chain.devchain.fake_apis import serve_fake_apis
from adapters.chain.devchain.paper import devchain_venues
from adapters.chain.journal import InMemoryStepJournal
from adapters.chain.treasury import ChainPortfolioReader, Venues
from tests.fakes.treasury import FixedClock
from tests.integration.devchain.chain_calls import balance
from tests.integration.devchain.fixtures import FAKE_ONEINCH_API_KEY, DevChain
from tests.integration.safe.scope import scoped_safe
from tests.integration.safe.test_batch import _sender

pytestmark = [pytest.mark.slow(seconds=60), pytest.mark.anvil]
USDC = 10**6
SLIPPAGE = Decimal("0.01")


async def _prices() -> Mapping[str, Decimal]:
    return {"BTC": Decimal(65_000), "ETH": Decimal(3_500)}


@asynccontextmanager
async def _venues_for(chain: DevChain, safe: str) -> AsyncIterator[Venues]:
    """The real adapters building for the Safe, against the fake 1inch and Pendle APIs."""
    async with (
        serve_fake_apis(chain.w3, chain.book, oneinch_api_key=FAKE_ONEINCH_API_KEY) as apis,
        httpx.AsyncClient(timeout=10) as client,
    ):
        yield devchain_venues(
            chain.w3,
            chain.book,
            owner=safe,
            client=client,
            oneinch_base_url=apis.oneinch_base_url,
            oneinch_api_key=FAKE_ONEINCH_API_KEY,
            pendle_base_url=apis.pendle_base_url,
            curve_base_url=apis.curve_base_url,
        )


async def test_a_plan_the_adapters_build_for_the_safe_runs_as_one_scoped_batch_on_anvil(
    anvil_devchain: DevChain,
) -> None:
    chain = anvil_devchain
    scoped = await scoped_safe(chain)  # $100,000 USDC and 1,000 DAI in the Safe
    safe = scoped.safe
    async with _venues_for(chain, safe) as venues:
        usdc, wbtc = venues.token("USDC").address, venues.token("WBTC").address
        requests = (
            *await venues.aave.build_deposit(safe, "USDC", 30_000 * USDC, SLIPPAGE),
            *await venues.curve.build_deposit(safe, "USDC", 20_000 * USDC, SLIPPAGE),
            *await venues.pendle.build_deposit(
                safe, chain.book.pendle_market, 20_000 * USDC, SLIPPAGE
            ),
            *await venues.swap.build_swap(safe, usdc, wbtc, 15_000 * USDC, SLIPPAGE),
        )
        receipt = await _sender(scoped, InMemoryStepJournal()).send(requests, "adapters-plan")
        assert receipt.success
        state = await ChainPortfolioReader(
            venues, w3=chain.w3, prices=_prices, clock=FixedClock()
        ).read()
    held = {(p.protocol, p.asset): p for p in state.positions}
    assert Decimal("29999") < held[("aave", "USDC")].value_usd <= Decimal("30001")
    assert Decimal("19900") < held[("curve", "3CRV")].value_usd < Decimal("20100")
    assert Decimal("19800") < held[("pendle", "PT-USDC")].value_usd < Decimal("20100")
    wbtc_value = sum(p.value_usd for p in state.positions if p.asset == "WBTC")
    assert Decimal("14900") < wbtc_value < Decimal("15050")
    # What is left: $15,000 USDC and the 1,000 DAI, read for the Safe's address.
    assert state.cash_balance == Decimal("16000")


async def test_the_black_swan_exit_is_within_the_agents_scope_on_anvil(
    anvil_devchain: DevChain,
) -> None:
    """Issue 20: the exit (sell every volatile holding for a stablecoin, the Safe receiving)
    needs no owner: the agent's key sends it through the scope as one batch."""
    chain = anvil_devchain
    scoped = await scoped_safe(chain)  # $100,000 USDC and 1,000 DAI in the Safe
    safe = scoped.safe
    async with _venues_for(chain, safe) as venues:
        usdc, wbtc, weth = (venues.token(s).address for s in ("USDC", "WBTC", "WETH"))
        bought = (
            *await venues.swap.build_swap(safe, usdc, wbtc, 20_000 * USDC, SLIPPAGE),
            *await venues.swap.build_swap(safe, usdc, weth, 10_000 * USDC, SLIPPAGE),
        )
        journal = InMemoryStepJournal()
        assert (await _sender(scoped, journal).send(bought, "buy-volatile")).success
        held = {symbol: await balance(chain, symbol, safe) for symbol in ("USDC", "WBTC", "WETH")}
        assert held["WBTC"] > 0
        assert held["WETH"] > 0
        exit_requests = (
            *await venues.swap.build_swap(safe, wbtc, usdc, held["WBTC"], SLIPPAGE),
            *await venues.swap.build_swap(safe, weth, usdc, held["WETH"], SLIPPAGE),
        )
        receipt = await _sender(scoped, journal).send(exit_requests, "black-swan-exit")
        assert receipt.success
        after = {symbol: await balance(chain, symbol, safe) for symbol in ("USDC", "WBTC", "WETH")}
    assert after["WBTC"] == 0
    assert after["WETH"] == 0
    # The Safe got the stablecoin back (less the router's fee and slippage).
    assert after["USDC"] - held["USDC"] > 29_000 * USDC
