"""Connecting to a dev chain: an in-process EVM (eth-tester + py-evm) or a JSON-RPC node.

`open_devchain` is what paper mode calls: with no RPC URL it starts an in-process EVM and
deploys there (nothing listens on any port); with one, it deploys to that node on first use
and reuses the address book afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_tester import EthereumTester, PyEVMBackend
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.providers.eth_tester import AsyncEthereumTesterProvider

from adapters.chain.devchain import gas
from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.deploy import (
    DEFAULT_FUNDING,
    DevChainConfig,
    deploy_devchain,
    ensure_devchain,
    is_deployed,
)
from adapters.chain.devchain.fake_apis import FakeApiServer, LiveBook, serve_fake_apis
from adapters.chain.devchain.multicall3 import genesis_state_entry


@dataclass(frozen=True, slots=True)
class OpenDevChain:
    """A connected, deployed dev chain."""

    w3: AsyncWeb3[Any]
    book: AddressBook
    in_process: bool
    tester: EthereumTester | None = None
    rpc_url: str | None = None

    def another_connection(self) -> AsyncWeb3[Any]:
        """A second connection to the same chain (close it with `close_connection`)."""
        if self.tester is not None:
            return in_process_web3(self.tester)
        if self.rpc_url is None:
            raise ValueError("the dev chain has neither an in-process EVM nor an RPC URL")
        return rpc_web3(self.rpc_url)

    @staticmethod
    async def close_connection(w3: AsyncWeb3[Any]) -> None:
        """Close a connection to a node (nothing to close in-process)."""
        if not isinstance(w3.provider, AsyncEthereumTesterProvider):
            await w3.provider.disconnect()

    async def close(self) -> None:
        """Close the node connection (nothing to close in-process)."""
        await self.close_connection(self.w3)


def new_tester(*, multicall3: bool = True) -> EthereumTester:
    """A fresh in-process EVM (eth-tester with py-evm): ten funded unlocked accounts and, unless
    told otherwise, Multicall3 at its canonical address (in the genesis state).

    It gets random genesis extra data, so its genesis block hash (the journal's name for a
    chain instance) differs from every earlier in-process chain, even one started in the same
    second with the same chain id.
    """
    params = PyEVMBackend.generate_genesis_params(overrides={"extra_data": os.urandom(32)})
    accounts = PyEVMBackend.generate_genesis_state()
    state = dict(accounts)
    if multicall3:
        address, account = genesis_state_entry()
        state[address] = account
    backend = PyEVMBackend(genesis_parameters=params, genesis_state=state)
    # eth-tester derives one unlocked key per genesis account; Multicall3's is not one.
    backend.account_keys = backend.account_keys[: len(accounts)]
    gas.install(backend.chain)
    return EthereumTester(backend)


def in_process_web3(tester: EthereumTester | None = None) -> AsyncWeb3[Any]:
    """An AsyncWeb3 over an in-process EVM: `tester`, or a fresh one (`new_tester`)."""
    if tester is None:
        tester = new_tester()
    provider = AsyncEthereumTesterProvider()
    provider.ethereum_tester = tester
    return AsyncWeb3(provider)


def rpc_web3(rpc_url: str, timeout_seconds: float = 30) -> AsyncWeb3[Any]:
    """An AsyncWeb3 over a JSON-RPC node."""
    return AsyncWeb3(AsyncHTTPProvider(rpc_url, request_kwargs={"timeout": timeout_seconds}))


async def holds_deployment(rpc_url: str, address_book: Path) -> bool:
    """Whether the node at `rpc_url` still holds the deployment in `address_book` (the chain
    outlived the service), rather than being a new chain that must be deployed again.

    Raises:
        DevChainUnreachable: the node did not answer.
        AddressBookUnreadable: the file exists but is not an address book.
    """
    if not await asyncio.to_thread(address_book.is_file):
        return False
    book = await asyncio.to_thread(AddressBook.load, address_book)
    w3 = rpc_web3(rpc_url)
    try:
        return await is_deployed(w3, book)
    finally:
        await w3.provider.disconnect()


async def open_devchain(
    *,
    rpc_url: str | None,
    address_book: Path,
    fund: Sequence[str] = (),
    funding: Mapping[str, Decimal] = DEFAULT_FUNDING,
    config: DevChainConfig | None = None,
    cache_dir: Path | None = None,
    deployer_key: str | None = None,
) -> OpenDevChain:
    """Connect to the dev chain paper mode uses, deploying and funding it if needed.

    Without `rpc_url` the chain is in-process and fresh each time (the address book is still
    written, for inspection). With `rpc_url`, an existing deployment is reused; `deployer_key`
    signs locally for a node without unlocked accounts.

    Raises:
        DevChainUnreachable: the node did not answer.
        DevChainDeploymentFailed: deploying or funding failed.
    """
    if rpc_url is None:
        tester = new_tester()
        w3 = in_process_web3(tester)
        book = await deploy_devchain(
            w3, config=config, fund=fund, funding=funding, cache_dir=cache_dir
        )
        book.save(address_book)
        return OpenDevChain(w3=w3, book=book, in_process=True, tester=tester)
    w3 = rpc_web3(rpc_url)
    try:
        book = await ensure_devchain(
            w3,
            address_book,
            fund=fund,
            funding=funding,
            config=config,
            cache_dir=cache_dir,
            deployer_key=deployer_key,
        )
    except BaseException:
        await w3.provider.disconnect()
        raise
    return OpenDevChain(w3=w3, book=book, in_process=False, rpc_url=rpc_url)


@dataclass(frozen=True, slots=True)
class RunningDevChain:
    """A deployed dev chain together with its fake 1inch and Pendle APIs."""

    chain: OpenDevChain
    apis: FakeApiServer
    book: LiveBook
    """The address book as it grows (Pendle markets deployed later); the fake APIs serve it."""


@contextlib.asynccontextmanager
async def running_devchain(
    *,
    rpc_url: str | None,
    address_book: Path,
    oneinch_api_key: str,
    fund: Sequence[str] = (),
    funding: Mapping[str, Decimal] = DEFAULT_FUNDING,
    config: DevChainConfig | None = None,
    cache_dir: Path | None = None,
    api_port: int = 0,
    deployer_key: str | None = None,
) -> AsyncIterator[RunningDevChain]:
    """Open the dev chain (see `open_devchain`) and serve the fake APIs on 127.0.0.1 for as
    long as the block runs; paper mode holds this in its lifespan.

    Raises:
        DevChainUnreachable: the node did not answer.
        DevChainDeploymentFailed: deploying or funding failed.
    """
    chain = await open_devchain(
        rpc_url=rpc_url,
        address_book=address_book,
        fund=fund,
        funding=funding,
        config=config,
        cache_dir=cache_dir,
        deployer_key=deployer_key,
    )
    live = LiveBook(chain.book)
    # The fake APIs stand in for outside services: they read the chain over a connection of
    # their own, so the treasury's connection carries (and counts) only the treasury's requests.
    api_w3 = chain.another_connection()
    try:
        async with serve_fake_apis(
            api_w3, live, oneinch_api_key=oneinch_api_key, port=api_port
        ) as apis:
            yield RunningDevChain(chain=chain, apis=apis, book=live)
    finally:
        try:
            await chain.close_connection(api_w3)
        finally:
            await chain.close()
