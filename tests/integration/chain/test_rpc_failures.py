"""A JSON-RPC node that is down or never answers: a typed RpcUnavailable, in time, nothing sent."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from eth_account import Account
from web3 import AsyncWeb3

from adapters.chain.executor import Web3Executor
from adapters.chain.journal import InMemoryStepJournal
from adapters.chain.keystore import KeystoreSigner
from adapters.chain.rpc import connect
from application.ports.chain import RpcUnavailable, StepKind, TransactionRequest

TIMEOUT = 0.5
# approve(0x11…11, 1): any well-formed call; the node never gets to run it.
APPROVE = TransactionRequest(
    chain_id=1,
    to="0x" + "22" * 20,
    data="0x095ea7b3" + "11" * 32 + (1).to_bytes(32, "big").hex(),
    kind=StepKind.APPROVE,
    description="approve 0.000001 USDC",
)


class SilentNode:
    """A loopback TCP server that accepts connections, reads requests and never answers."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self.received = bytearray()
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(0.1)
            self._open.append(connection)
            while not self._stop.is_set():
                try:
                    chunk = connection.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                self.received.extend(chunk)

    def __enter__(self) -> SilentNode:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self._open:
            connection.close()
        self._listener.close()


@pytest.fixture
def silent_node() -> Iterator[SilentNode]:
    """A node that accepts and never answers."""
    with SilentNode() as node:
        yield node


MakeExecutor = Callable[[str, InMemoryStepJournal], Web3Executor]


@pytest_asyncio.fixture
async def make_executor() -> AsyncIterator[MakeExecutor]:
    """Executors over `connect(url, timeout_seconds=TIMEOUT)`; their HTTP sessions are closed."""
    opened: list[AsyncWeb3[Any]] = []

    def make(url: str, journal: InMemoryStepJournal) -> Web3Executor:
        w3 = connect(url, timeout_seconds=TIMEOUT)
        opened.append(w3)
        return Web3Executor(w3, KeystoreSigner(Account.create()), journal, chain_id=1, endpoint=url)

    yield make
    for w3 in opened:
        await w3.provider.disconnect()


def _refusals(caplog: pytest.LogCaptureFixture, step_id: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.getMessage() == "step refused; nothing sent" and getattr(r, "step_id", None) == step_id
    ]


async def test_a_node_that_is_down_is_a_typed_error_and_nothing_is_sent(
    make_executor: MakeExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    url = "http://127.0.0.1:9/secret-key-path"  # port 9 (discard) has no listener here
    journal = InMemoryStepJournal()
    executor = make_executor(url, journal)
    caplog.set_level(logging.INFO, logger="adapters.chain.executor")
    started = time.monotonic()
    with pytest.raises(RpcUnavailable) as failure:
        await executor.send(APPROVE, "down")
    assert time.monotonic() - started < TIMEOUT + 1
    assert "127.0.0.1:9" in str(failure.value)
    assert "secret-key-path" not in str(failure.value)  # URL paths often hold API keys
    assert await journal.attempts("down") == ()
    (refusal,) = _refusals(caplog, "down")
    assert getattr(refusal, "error", None) == "RpcUnavailable"
    assert "secret-key-path" not in caplog.text


async def test_a_node_that_never_answers_times_out_within_the_configured_timeout(
    silent_node: SilentNode, make_executor: MakeExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{silent_node.port}"
    journal = InMemoryStepJournal()
    executor = make_executor(url, journal)
    caplog.set_level(logging.INFO, logger="adapters.chain.executor")
    started = time.monotonic()
    with pytest.raises(RpcUnavailable) as failure:
        await executor.send(APPROVE, "silent")
    elapsed = time.monotonic() - started
    assert TIMEOUT <= elapsed < TIMEOUT + 1, elapsed  # it waited, then gave up in time
    assert "TimeoutError" in failure.value.reason
    assert b"eth_simulateV1" in silent_node.received  # it tried to simulate first …
    assert b"eth_sendRawTransaction" not in silent_node.received  # … and never sent
    assert await journal.attempts("silent") == ()
    (refusal,) = _refusals(caplog, "silent")
    assert "TimeoutError" in getattr(refusal, "reason", "")


async def test_fees_and_simulations_against_a_silent_node_are_typed_errors_in_time(
    silent_node: SilentNode, make_executor: MakeExecutor
) -> None:
    journal = InMemoryStepJournal()
    executor = make_executor(f"http://127.0.0.1:{silent_node.port}", journal)
    calls: tuple[Callable[[], Awaitable[object]], ...] = (
        executor.fees,
        lambda: executor.simulate_bundle((APPROVE,)),
        lambda: executor.simulate_plan((APPROVE,), eth_usd=Decimal(3500)),
    )
    for call in calls:
        started = time.monotonic()
        with pytest.raises(RpcUnavailable):
            await call()
        assert time.monotonic() - started < TIMEOUT + 1
    assert b"eth_sendRawTransaction" not in silent_node.received
