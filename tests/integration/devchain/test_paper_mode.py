"""Paper mode's dev chain: in-process with no server, compiled once and cached on disk."""

from __future__ import annotations

import time
from pathlib import Path

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.compile import CONTRACT_NAMES, compile_all
from adapters.chain.devchain.node import open_devchain
from tests.integration.devchain.fixtures import COMPILE_CACHE

TREASURY = "0x" + "77" * 20


async def test_in_process_dev_chain_deploys_funds_and_writes_the_address_book(
    tmp_path: Path,
) -> None:
    path = tmp_path / "devchain" / "address_book.json"
    started = time.monotonic()
    chain = await open_devchain(
        rpc_url=None, address_book=path, fund=[TREASURY], cache_dir=COMPILE_CACHE
    )
    elapsed = time.monotonic() - started
    try:
        assert elapsed < 10  # a few seconds with compiled contracts cached
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
