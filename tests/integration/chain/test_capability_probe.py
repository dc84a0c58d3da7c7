"""The simulation capability probe against nodes that refuse unknown methods in their own ways.

Hosted providers answer a method they do not serve either with HTTP 200 and a JSON-RPC error
(-32601 "method not found"), or with an HTTP 4xx (400, 403, 405) carrying such an error or
plain text. Each means "unsupported": the probe falls back; it never reports the node down.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import pytest_asyncio
from eth_account import Account

from adapters.chain.executor import Web3Executor
from adapters.chain.journal import InMemoryStepJournal
from adapters.chain.keystore import KeystoreSigner
from adapters.chain.rpc import connect
from application.ports.chain import RpcUnavailable, SimulationMethod

# What each kind of node answers for a method it does not serve: (HTTP status, body).
METHOD_NOT_FOUND = {"code": -32601, "message": "the method eth_simulateV1 does not exist"}
Refusal = tuple[int, str]
JSON_200: Refusal = (200, "json-error")
HTTP_400_JSON: Refusal = (400, "json-error")
HTTP_405_TEXT: Refusal = (405, "Method Not Allowed")
HTTP_403_TEXT: Refusal = (403, "Unsupported method: evm_snapshot")
HTTP_503_TEXT: Refusal = (503, "Service Unavailable")
HTTP_429_TEXT: Refusal = (429, "Too Many Requests")


class RefusingNode(ThreadingHTTPServer):
    """A loopback JSON-RPC node that answers `refusals[method]` and a plain result otherwise."""

    def __init__(self, refusals: dict[str, Refusal]) -> None:
        self.refusals = refusals
        self.methods: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: RefusingNode

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        method = str(request["method"])
        self.server.methods.append(method)
        status, body = self.server.refusals.get(method, (200, "ok"))
        if body == "json-error":
            payload = {"jsonrpc": "2.0", "id": request["id"], "error": METHOD_NOT_FOUND}
            text = json.dumps(payload)
        elif body == "ok":
            text = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "0x1"})
        else:
            text = body
        raw = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if text.startswith("{") else "text")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        del args  # quiet


@pytest.fixture
def node(request: pytest.FixtureRequest) -> Iterator[RefusingNode]:
    server = RefusingNode(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest_asyncio.fixture
async def executor(node: RefusingNode) -> AsyncIterator[Web3Executor]:
    url = f"http://127.0.0.1:{node.server_address[1]}"
    w3 = connect(url, timeout_seconds=2)
    try:
        yield Web3Executor(
            w3, KeystoreSigner(Account.create()), InMemoryStepJournal(), chain_id=1, endpoint=url
        )
    finally:
        await w3.provider.disconnect()


@pytest.mark.parametrize(
    "node",
    [
        pytest.param(
            {"eth_simulateV1": JSON_200, "evm_snapshot": JSON_200}, id="json-rpc method not found"
        ),
        pytest.param(
            {"eth_simulateV1": HTTP_400_JSON, "evm_snapshot": HTTP_400_JSON},
            id="http 400 with a json-rpc error",
        ),
        pytest.param(
            {"eth_simulateV1": HTTP_405_TEXT, "evm_snapshot": HTTP_403_TEXT},
            id="http 405 and 403 in plain text",
        ),
    ],
    indirect=True,
)
async def test_a_node_refusing_unknown_methods_with_a_4xx_falls_back_to_eth_call(
    node: RefusingNode, executor: Web3Executor
) -> None:
    assert await executor.simulation_method() == SimulationMethod("eth_call")
    assert node.methods == ["eth_simulateV1", "evm_snapshot"]


@pytest.mark.parametrize(
    "node",
    [pytest.param({"eth_simulateV1": HTTP_405_TEXT}, id="no simulateV1, snapshots served")],
    indirect=True,
)
async def test_a_4xx_for_simulate_v1_still_finds_snapshots(
    node: RefusingNode, executor: Web3Executor
) -> None:
    assert await executor.simulation_method() == SimulationMethod("evm_snapshot")


@pytest.mark.parametrize(
    "node",
    [
        pytest.param({"eth_simulateV1": HTTP_503_TEXT}, id="5xx"),
        pytest.param({"eth_simulateV1": HTTP_429_TEXT}, id="rate limited"),
    ],
    indirect=True,
)
async def test_a_5xx_or_429_during_the_probe_is_the_node_unavailable_not_a_missing_method(
    node: RefusingNode, executor: Web3Executor
) -> None:
    with pytest.raises(RpcUnavailable):
        await executor.simulation_method()
