"""Reusable pytest fixtures for the dev chain (import them into a conftest.py).

- `devchain_deployment` (session): an in-process EVM with everything deployed and the test
  treasury account funded; deployed once per session.
- `devchain` (function): an AsyncWeb3 on that EVM, reverted to a snapshot after each test.
- `anvil_deployment` / `anvil_devchain`: the same on an anvil node on a free loopback port.
- `fake_apis` (function): the fake 1inch and Pendle HTTP APIs served on 127.0.0.1 for `devchain`.

The treasury account's key is a fixed, public test key: it is never a real secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from eth_account import Account
from eth_tester import EthereumTester
from web3 import AsyncHTTPProvider, AsyncWeb3

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.deploy import deploy_devchain
from adapters.chain.devchain.fake_apis import FakeApiServer, serve_fake_apis
from adapters.chain.devchain.node import in_process_web3, new_tester
from adapters.chain.safe.roles import ROLES_CODE_SIZE_LIMIT
from tests.servers import port_open, require_server

# A well-known throwaway key (keccak of a public phrase); only ever used on dev chains.
TREASURY_TEST_KEY = "0x" + "5f" * 8 + "a1" * 8 + "3c" * 8 + "77" * 8
TREASURY_FUNDING: dict[str, Decimal] = {
    "ETH": Decimal("100"),
    "USDC": Decimal("1000000"),
    "USDT": Decimal("250000"),
    "DAI": Decimal("250000"),
    "WETH": Decimal("50"),
    "WBTC": Decimal("2"),
}
# Compiled contracts are cached by vyper version and source hash, so sharing one temp dir is safe.
COMPILE_CACHE = Path(tempfile.gettempdir()) / "treasury-devchain-compiled"
ANVIL_BINARY = Path(__file__).resolve().parents[3] / "node_modules" / ".bin" / "anvil"


@dataclass(frozen=True, slots=True)
class Deployment:
    """A deployed dev chain that outlives single tests."""

    book: AddressBook
    treasury_address: str
    treasury_key: str
    tester: EthereumTester | None = None
    rpc_url: str | None = None


@dataclass(frozen=True, slots=True)
class DevChain:
    """What a test gets: a connected AsyncWeb3, the address book and the funded account."""

    w3: AsyncWeb3[Any]
    book: AddressBook
    treasury_address: str
    treasury_key: str


def _treasury() -> tuple[str, str]:
    account = Account.from_key(TREASURY_TEST_KEY)
    return str(account.address), TREASURY_TEST_KEY


@pytest.fixture(scope="session")
def devchain_deployment() -> Deployment:
    """Deploy the dev chain once per session to an in-process EVM (Multicall3 included, as in
    paper mode)."""
    tester = new_tester()
    address, key = _treasury()

    async def deploy() -> AddressBook:
        return await deploy_devchain(
            in_process_web3(tester),
            fund=[address],
            funding=TREASURY_FUNDING,
            cache_dir=COMPILE_CACHE,
        )

    book = asyncio.run(deploy())
    return Deployment(book=book, treasury_address=address, treasury_key=key, tester=tester)


@pytest_asyncio.fixture
async def devchain(devchain_deployment: Deployment) -> AsyncIterator[DevChain]:
    """The in-process dev chain, reverted to its deployed state after the test."""
    assert devchain_deployment.tester is not None
    tester = devchain_deployment.tester
    snapshot = tester.take_snapshot()
    try:
        yield DevChain(
            w3=in_process_web3(tester),
            book=devchain_deployment.book,
            treasury_address=devchain_deployment.treasury_address,
            treasury_key=devchain_deployment.treasury_key,
        )
    finally:
        tester.revert_to_snapshot(snapshot)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_anvil(chain_id: int | None = None) -> Iterator[str]:
    """An anvil node on a free loopback port, stopped on exit (skips or, in CI, fails when the
    binary is missing); `chain_id` makes it answer another chain id than anvil's 31337."""
    require_server(
        "anvil",
        ANVIL_BINARY.is_file() or shutil.which("anvil") is not None,
        "run `npm install` at the repo root (package.json declares @foundry-rs/anvil)",
    )
    binary = str(ANVIL_BINARY) if ANVIL_BINARY.is_file() else str(shutil.which("anvil"))
    port = _free_port()
    process = subprocess.Popen(
        [
            binary,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--silent",
            # The Roles Modifier v2 bytecode npm ships is 25,286 bytes, over EIP-170's 24,576;
            # the Roles repository's own tests lift the limit the same way (docs/custody.md).
            "--code-size-limit",
            str(ROLES_CODE_SIZE_LIMIT),
            *(["--chain-id", str(chain_id)] if chain_id is not None else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"anvil did not start on port {port}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()


@pytest.fixture(scope="session")
def anvil_rpc_url() -> Iterator[str]:
    """An anvil node on a free loopback port for the session (skips when anvil is missing)."""
    with running_anvil() as url:
        yield url


@pytest.fixture(scope="session")
def anvil_deployment(anvil_rpc_url: str) -> Deployment:
    """The dev chain deployed once per session to the anvil node."""
    address, key = _treasury()

    async def deploy() -> AddressBook:
        w3 = AsyncWeb3(AsyncHTTPProvider(anvil_rpc_url))
        try:
            return await deploy_devchain(
                w3, fund=[address], funding=TREASURY_FUNDING, cache_dir=COMPILE_CACHE
            )
        finally:
            await w3.provider.disconnect()

    book = asyncio.run(deploy())
    return Deployment(book=book, treasury_address=address, treasury_key=key, rpc_url=anvil_rpc_url)


@pytest_asyncio.fixture
async def anvil_devchain(anvil_deployment: Deployment) -> AsyncIterator[DevChain]:
    """The anvil dev chain, reverted (evm_snapshot/evm_revert) after the test.

    anvil's evm_revert restores state and blocks but neither the next block's base fee nor the
    mining mode, so both are put back too: a test that raises the base fee or stops automining
    does not leak into the next one.
    """
    assert anvil_deployment.rpc_url is not None
    w3 = AsyncWeb3(AsyncHTTPProvider(anvil_deployment.rpc_url))
    try:
        snapshot = (await w3.provider.make_request("evm_snapshot", []))["result"]
        next_base_fee = int((await w3.eth.fee_history(1, "latest", []))["baseFeePerGas"][-1])
        try:
            yield DevChain(
                w3=w3,
                book=anvil_deployment.book,
                treasury_address=anvil_deployment.treasury_address,
                treasury_key=anvil_deployment.treasury_key,
            )
        finally:
            await w3.provider.make_request("evm_setAutomine", [True])
            await w3.provider.make_request("evm_revert", [snapshot])
            await w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(next_base_fee)])
    finally:
        await w3.provider.disconnect()


# The fake 1inch API's key: a test value, never a real key.
FAKE_ONEINCH_API_KEY = "devchain-test-1inch-key"


@pytest_asyncio.fixture
async def fake_apis(
    devchain: DevChain, devchain_deployment: Deployment
) -> AsyncIterator[FakeApiServer]:
    """The fake 1inch and Pendle APIs on 127.0.0.1 over the in-process dev chain, reading it
    over a connection of their own (as outside services would: the test's connection carries
    only the test's requests)."""
    async with serve_fake_apis(
        in_process_web3(devchain_deployment.tester),
        devchain.book,
        oneinch_api_key=FAKE_ONEINCH_API_KEY,
    ) as server:
        yield server


@pytest_asyncio.fixture
async def anvil_fake_apis(
    anvil_devchain: DevChain, anvil_deployment: Deployment
) -> AsyncIterator[FakeApiServer]:
    """The fake 1inch and Pendle APIs on 127.0.0.1 over the anvil dev chain, on a connection
    of their own."""
    assert anvil_deployment.rpc_url is not None
    w3 = AsyncWeb3(AsyncHTTPProvider(anvil_deployment.rpc_url))
    try:
        async with serve_fake_apis(
            w3, anvil_devchain.book, oneinch_api_key=FAKE_ONEINCH_API_KEY
        ) as server:
            yield server
    finally:
        await w3.provider.disconnect()
