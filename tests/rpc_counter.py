"""Count the JSON-RPC requests one web3 connection sends, by method, next to its provider.

Used by the tests and the bench (`eth_call`s per decision cycle): a counting middleware in the
connection's middleware onion sees every request on its way to the provider, once, whichever
code sent it (a request the connection's other middleware makes itself, such as eth-tester's
`eth_accounts` to fill in a sender, is counted too).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from web3 import AsyncWeb3
from web3.middleware import Web3Middleware
from web3.types import RPCEndpoint, RPCResponse

NAME = "rpc_counter"


class RpcCounter:
    """Requests per method sent through one connection since `attach` (or `reset`)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    @classmethod
    def attach(cls, w3: AsyncWeb3[Any]) -> RpcCounter:
        """Start counting what `w3` sends to its provider."""
        counter = cls()
        counts = counter.counts

        class _Counting(Web3Middleware):
            async def async_wrap_make_request(self, make_request: Any) -> Any:
                async def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
                    counts[str(method)] += 1
                    return await make_request(method, params)

                return middleware

        if NAME in w3.middleware_onion:
            w3.middleware_onion.remove(NAME)
        w3.middleware_onion.add(_Counting, name=NAME)
        return counter

    def reset(self) -> None:
        """Start again from zero."""
        self.counts.clear()

    @property
    def eth_calls(self) -> int:
        """`eth_call` requests counted."""
        return self.counts["eth_call"]
