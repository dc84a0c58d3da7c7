"""The dev 3pool earns fees from simulated volume, and its base APY reaches the Curve adapter
through the fake Curve API, in the shape Curve's `getVolumes` documents."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from eth.vm.forks.frontier.state import FrontierState

from adapters.chain.addresses import Token
from adapters.chain.curve import Curve3Pool
from adapters.chain.curve_api import CurveApi
from adapters.chain.devchain.deploy import DAY, DevChainConfig, contract_at
from adapters.chain.devchain.fake_apis import RECORDED_CURVE_VOLUMES, FakeApiServer
from adapters.chain.devchain.oracle import advance_time, set_prices
from adapters.chain.devchain.recorded import recorded
from adapters.chain.devchain.volume import trade_curve_volume
from tests.integration.devchain.fixtures import DevChain

HOUR = 3600


def _curve(devchain: DevChain, api: CurveApi) -> Curve3Pool:
    book = devchain.book
    tokens = {
        s: Token(symbol=s, address=a, decimals=book.decimals[s]) for s, a in book.tokens.items()
    }
    return Curve3Pool.with_tokens(
        devchain.w3,
        tokens,
        chain_id=book.chain_id,
        pool=book.curve_pool,
        lp_token=book.curve_lp,
        apy_source=api,
    )


async def test_the_dev_3pool_earns_fees_from_volume_and_shows_a_non_zero_base_apy(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    pool = contract_at(devchain.w3, "CurvePool", devchain.book.curve_pool)
    async with httpx.AsyncClient(timeout=30) as client:
        curve = _curve(
            devchain, CurveApi(client, base_url=fake_apis.curve_base_url, cache_seconds=0)
        )
        assert await curve.apy() == 0  # no trading yet: no fees
        price_before = await pool.functions.get_virtual_price().call()

        await advance_time(devchain.w3, DAY)
        traded = await trade_curve_volume(devchain.w3, devchain.book, DAY, DevChainConfig())

        assert traded > Decimal(5_000_000)  # about 30 % of the 30M pool
        assert await pool.functions.get_virtual_price().call() > price_before
        apy = await curve.apy()
    # 9M a day at 1 bp on 30M: about 1.1 % a year.
    assert Decimal("0.005") < apy < Decimal("0.02")


async def test_the_fake_curve_api_answers_in_the_documented_shape(
    devchain: DevChain, fake_apis: FakeApiServer
) -> None:
    async with httpx.AsyncClient(base_url=fake_apis.curve_base_url) as client:
        response = await client.get("/getVolumes/ethereum")
    body = json.loads(response.text, parse_float=Decimal)
    documented = recorded(RECORDED_CURVE_VOLUMES)
    assert set(body) == set(documented) - {"_provenance"}
    assert set(body["data"]) == set(documented["data"])
    (pool,) = body["data"]["pools"]
    assert set(pool) == set(documented["data"]["pools"][0])
    assert pool["address"] == devchain.book.curve_pool


async def test_an_hour_of_the_worlds_volume_and_unchanged_prices_cost_one_read_each(
    devchain: DevChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every paper tick moves the world: the reads it needs go in one batch (the swaps'
    outputs come from their receipts), so an hour is one read and the two swaps, and prices
    the oracle already holds are one read and no transaction."""
    w3, book = devchain.w3, devchain.book
    prices = {"BTC": Decimal(97_000), "ETH": Decimal(3_500), "USDC": Decimal(1)}
    await set_prices(w3, book, prices)
    await trade_curve_volume(w3, book, HOUR, DevChainConfig())  # approves the pool once
    dai = contract_at(w3, "ERC20", book.token("DAI"))
    held = await dai.functions.balanceOf(book.deployer).call()
    executions = 0
    original = FrontierState.apply_transaction

    def counting(self: FrontierState, transaction: Any) -> Any:
        nonlocal executions
        executions += 1
        return original(self, transaction)

    monkeypatch.setattr(FrontierState, "apply_transaction", counting)
    await advance_time(w3, HOUR)
    executions = 0
    traded = await trade_curve_volume(w3, book, HOUR, DevChainConfig())
    assert traded > 0
    assert executions == 3
    executions = 0
    await set_prices(w3, book, prices)
    assert executions == 1
    # The trader's DAI, kept without reading it back, is what the chain holds: the round trip
    # lost the pool's fee.
    assert await dai.functions.balanceOf(book.deployer).call() < held
