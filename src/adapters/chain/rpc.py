"""The JSON-RPC node as the executor sees it: one connection, node errors translated once.

`connect` builds an `AsyncWeb3` with a request timeout and no hidden retries; `NodeClient`
wraps it so that a transport failure or a node error becomes `RpcUnavailable` naming only the
node's scheme, host and port (URL paths and userinfo often hold API keys).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import aiohttp
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import (
    BadResponseFormat,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import RPCEndpoint

from adapters.chain import fees
from application.ports.chain import FeeQuote, RpcUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    TimeoutError,
    OSError,
    ProviderConnectionError,
    BadResponseFormat,
    TimeExhausted,
)


def endpoint_label(url: str) -> str:
    """A node URL reduced to scheme, host and port: paths and userinfo often hold API keys."""
    parts = urlsplit(url)
    host = parts.hostname or "node"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or 'http'}://{host}{port}"


def connect(url: str, timeout_seconds: float = 10.0) -> AsyncWeb3[Any]:
    """An AsyncWeb3 over HTTP JSON-RPC with a request timeout and no hidden retries.

    Retries are the engine's job (on `RpcUnavailable`), so a dead node is reported at once.
    """
    provider = AsyncHTTPProvider(
        url,
        request_kwargs={"timeout": aiohttp.ClientTimeout(total=timeout_seconds)},
        exception_retry_configuration=None,
    )
    return AsyncWeb3(provider)


class NodeClient:
    """One node's JSON-RPC calls, each failing as `RpcUnavailable` when the node does."""

    def __init__(self, w3: AsyncWeb3[Any], endpoint: str = "node") -> None:
        self.w3 = w3
        self.endpoint = endpoint_label(endpoint)

    async def call(self, what: str, call: Awaitable[T]) -> T:
        """Await a web3 call, translating transport and node errors.

        Raises:
            RpcUnavailable: the node did not answer, or answered with an error.
        """
        try:
            return await call
        except TRANSPORT_ERRORS as exc:
            raise RpcUnavailable(self.endpoint, f"{what}: {type(exc).__name__}") from exc
        except Web3RPCError as exc:
            raise RpcUnavailable(self.endpoint, f"{what}: {exc.message or exc}") from exc

    async def raw(self, method: str, params: Sequence[Any]) -> dict[str, Any]:
        """The whole JSON-RPC answer (result or error) to a method web3 has no wrapper for."""
        response = await self.call(
            method, self.w3.provider.make_request(RPCEndpoint(method), list(params))
        )
        return dict(response)

    async def probe(self, method: str, params: Sequence[Any]) -> dict[str, Any]:
        """Ask for an optional method; an empty answer when the node does not serve it.

        Hosted nodes refuse an unknown method with a JSON-RPC error ("method not found"), or
        with an HTTP 4xx (400, 403, 405...) in JSON or plain text: all mean "unsupported".
        A 408, 429 or 5xx, a timeout or a refused connection is the node being unavailable
        (`RpcUnavailable`): the probe runs again on the next call.
        """
        try:
            return await self.raw(method, params)
        except RpcUnavailable as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, aiohttp.ClientResponseError)
                and 400 <= cause.status < 500
                and cause.status not in (408, 429)  # a timeout or rate limit: retry later
            ):
                logger.info(
                    "node does not serve an optional method",
                    extra={"endpoint": self.endpoint, "method": method, "status": cause.status},
                )
                return {}
            raise

    async def fee_quote(self, history_blocks: int, percentile: float) -> FeeQuote:
        """Uncapped EIP-1559 fees for the next block, the tip from a fee-history percentile."""
        history = await self.call(
            "eth_feeHistory", self.w3.eth.fee_history(history_blocks, "latest", [percentile])
        )
        base_fees = [int(b) for b in history.get("baseFeePerGas", [])]
        if base_fees:
            base_fee = base_fees[-1]  # the last entry is the next block's base fee
        else:
            block = await self.call("eth_getBlockByNumber", self.w3.eth.get_block("latest"))
            base_fee = int(block.get("baseFeePerGas", 0))
        tip = fees.tip_from_rewards([int(r[0]) for r in history.get("reward", []) if r])
        if tip is None:
            tip = int(await self.call("eth_maxPriorityFeePerGas", self.w3.eth.max_priority_fee))
        return fees.next_block_fees(base_fee, tip)

    async def balance(self, address: str) -> int:
        """The ETH balance of `address`, in wei."""
        holder = self.w3.to_checksum_address(address)
        return int(await self.call("eth_getBalance", self.w3.eth.get_balance(holder)))

    async def transaction_count(self, address: str, block: Literal["latest", "pending"]) -> int:
        """The nonce count of `address` at `block` ("latest" mined, or "pending")."""
        holder = self.w3.to_checksum_address(address)
        return int(
            await self.call(
                "eth_getTransactionCount",
                self.w3.eth.get_transaction_count(holder, block),
            )
        )

    async def block_number(self) -> int:
        """The latest block's number."""
        return int(await self.call("eth_blockNumber", self.w3.eth.block_number))

    async def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        """A transaction's receipt, or None while the node has none."""
        try:
            receipt = await self.call(
                "eth_getTransactionReceipt",
                self.w3.eth.get_transaction_receipt(tx_hash),  # type: ignore[arg-type]
            )
        except TransactionNotFound:
            return None
        except RpcUnavailable as exc:
            if isinstance(exc.__cause__, TransactionNotFound):
                return None
            raise
        return dict(receipt) if receipt else None

    async def knows(self, tx_hash: str) -> bool:
        """Whether the node has the transaction (pooled or mined)."""
        try:
            await self.call("eth_getTransactionByHash", self.w3.eth.get_transaction(tx_hash))  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        except RpcUnavailable as exc:
            if isinstance(exc.__cause__, TransactionNotFound):
                return False
            raise
        return True
