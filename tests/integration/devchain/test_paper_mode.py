"""Paper mode's dev chain: in-process with no server, compiled once and cached on disk."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.compile import CONTRACT_NAMES, compile_all
from adapters.chain.devchain.deploy import contract_at
from adapters.chain.devchain.node import open_devchain, running_devchain
from adapters.chain.devchain.oracle import oracle_price, push_market_data
from domain.market import MarketData, MarketPhase
from tests.integration.devchain.fixtures import COMPILE_CACHE, DevChain

TREASURY = "0x" + "77" * 20


async def test_in_process_dev_chain_deploys_funds_and_writes_the_address_book(
    tmp_path: Path,
) -> None:
    path = tmp_path / "devchain" / "address_book.json"
    # How long this takes is measured by `make bench` (paper service start-up), not here.
    chain = await open_devchain(
        rpc_url=None, address_book=path, fund=[TREASURY], cache_dir=COMPILE_CACHE
    )
    try:
        assert AddressBook.load(path) == chain.book
        usdc = chain.w3.eth.contract(
            address=chain.book.token("USDC"),
            abi=compile_all(COMPILE_CACHE)["ERC20"].abi,
        )
        owner = chain.w3.to_checksum_address(TREASURY)
        assert await usdc.functions.balanceOf(owner).call() == 1_000_000 * 10**6
        assert await chain.w3.eth.get_balance(owner) == 10 * 10**18
    finally:
        await chain.close()


def test_compiled_contracts_are_cached_on_disk_by_source_hash(tmp_path: Path) -> None:
    first = compile_all(tmp_path)
    cached = sorted(p.name.split("-")[0] for p in tmp_path.glob("*.json"))
    assert cached == sorted(CONTRACT_NAMES)
    again = compile_all(tmp_path)
    assert {n: c.bytecode for n, c in again.items()} == {n: c.bytecode for n, c in first.items()}


async def test_running_devchain_serves_the_fake_apis_over_the_in_process_chain(
    tmp_path: Path,
) -> None:
    async with running_devchain(
        rpc_url=None,
        address_book=tmp_path / "book.json",
        oneinch_api_key="paper-key",
        cache_dir=COMPILE_CACHE,
    ) as running:
        book = running.chain.book
        async with httpx.AsyncClient(base_url=running.apis.oneinch_base_url) as client:
            spender = await client.get(
                f"/swap/v6.0/{book.chain_id}/approve/spender",
                headers={"Authorization": "Bearer paper-key"},
            )
        assert spender.json() == {"address": book.router.lower()}
        assert running.apis.pendle_base_url.endswith("/core")


async def test_simulated_market_prices_reach_the_oracle_and_the_router(
    devchain: DevChain,
) -> None:
    market = MarketData(
        btc_price=Decimal("80000"),
        eth_price=Decimal("2500.5"),
        mvrv_z_score=None,
        funding_rate=None,
        fear_greed_index=None,
        market_phase=MarketPhase.ACCUMULATION,
        timestamp=datetime(2026, 11, 24, tzinfo=UTC),
        stablecoin_prices={"USDT": Decimal("0.998")},
    )
    await push_market_data(devchain.w3, devchain.book, market)
    assert await oracle_price(devchain.w3, devchain.book, "BTC") == Decimal("80000")
    assert await oracle_price(devchain.w3, devchain.book, "WETH") == Decimal("2500.5")
    assert await oracle_price(devchain.w3, devchain.book, "USDT") == Decimal("0.998")
    router = contract_at(devchain.w3, "SwapRouter", devchain.book.router)
    out = await router.functions.getAmountOut(
        devchain.book.token("WBTC"), devchain.book.token("USDC"), 10**6
    ).call()
    assert 799 * 10**6 < out < 800 * 10**6  # 0.01 BTC = $800 less 5 bp
