"""Many contract reads in one `eth_call` through Multicall3, or one call each where it is absent.

Multicall3 (github.com/mds1/multicall) sits at the same address on every EVM chain it is
deployed to. Its `aggregate3` runs a list of calls inside one `eth_call`, each allowed to fail
on its own, so a protocol whose contract reverts fails only its own reads, and every answer
comes from the same block. `BatchReader.read` takes the reads a decision needs and returns one
`Answer` per read, in order.

Whether the chain has Multicall3 is probed once (`eth_getCode` at its address). Where it has
none (a private chain, a dev node it was not put on), each read is a single `eth_call`, sent
concurrently, with the same answers and the same errors: a reverted read is a
`ProtocolUnavailable` in its `Answer`, a node failure raises `RpcUnavailable` for the batch.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import (
    function_signature_to_4byte_selector,
    get_abi_input_types,
    get_abi_output_types,
)
from web3 import AsyncWeb3

# web3 decodes an eth_call's answer with these two; a batched answer is decoded the same way.
from web3._utils.abi import map_abi_data
from web3._utils.normalizers import BASE_RETURN_NORMALIZERS
from web3.contract.async_contract import AsyncContractFunction
from web3.exceptions import BadFunctionCallOutput, Web3RPCError

from adapters.chain.rpc import TRANSPORT_ERRORS
from adapters.chain.tokens import contract, read
from application.ports.chain import ProtocolUnavailable, RpcUnavailable

logger = logging.getLogger(__name__)

MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"
"""Multicall3's address, the same on every chain it is deployed to."""

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string), Solidity's revert reason
AGGREGATE3_INPUT = "(address,bool,bytes)[]"  # Call3 {target, allowFailure, callData}
AGGREGATE3_OUTPUT = "(bool,bytes)[]"  # Result {success, returnData}
AGGREGATE3_SELECTOR = function_signature_to_4byte_selector(f"aggregate3({AGGREGATE3_INPUT})")


@dataclass(frozen=True, slots=True)
class ViewCall:
    """One contract read: a bound view function and who answers it (named in errors)."""

    source: str
    function: AsyncContractFunction


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to one `ViewCall`: its decoded value, or why the contract gave none."""

    value: Any = None
    error: ProtocolUnavailable | None = None

    def get(self) -> Any:
        """The value.

        Raises:
            ProtocolUnavailable: the call reverted or its answer could not be decoded.
        """
        if self.error is not None:
            raise self.error
        return self.value


def _no_answer(source: str, detail: str) -> Answer:
    return Answer(error=ProtocolUnavailable(source, detail, permanent=True))


def _revert_reason(data: bytes) -> str:
    if data[:4] == ERROR_SELECTOR:
        try:
            (reason,) = decode(["string"], data[4:])
            return f"contract call reverted: {reason}"
        except DecodingError:
            pass  # an undecodable reason: the plain message below says enough
    return "contract call reverted"


def calldata(fn: AsyncContractFunction) -> bytes:
    """A bound function's call data (selector and arguments), as web3 would encode it."""
    if fn.kwargs:
        return bytes.fromhex(fn._encode_transaction_data().removeprefix("0x"))
    types = get_abi_input_types(fn.abi)
    return bytes.fromhex(fn.selector.removeprefix("0x")) + encode(types, list(fn.args or ()))


def decode_answer(w3: AsyncWeb3[Any], call: ViewCall, data: bytes) -> Answer:
    """`data` returned by `call`'s function, decoded as web3 decodes an `eth_call`'s result
    (addresses checksummed, a single output unwrapped)."""
    fn = call.function
    types = get_abi_output_types(fn.abi)
    try:
        decoded = w3.codec.decode(types, data)
    except DecodingError:
        # Empty or short data: no contract at the address, or not the contract expected.
        return _no_answer(call.source, "no answer from the contract (is the address right?)")
    normalizers = itertools.chain(BASE_RETURN_NORMALIZERS, fn._return_data_normalizers or ())
    values = map_abi_data(normalizers, types, decoded)
    return Answer(value=values[0] if len(values) == 1 else values)


def balance_call(w3: AsyncWeb3[Any], token: str, owner: str, source: str = "") -> ViewCall:
    """An ERC-20 `balanceOf(owner)` read."""
    erc20 = contract(w3, "erc20", token)
    return ViewCall(source or f"ERC-20 {token}", erc20.functions.balanceOf(owner))


_READERS: weakref.WeakKeyDictionary[AsyncWeb3[Any], BatchReader] = weakref.WeakKeyDictionary()


def batch_reader(w3: AsyncWeb3[Any]) -> BatchReader:
    """The connection's batch reader (one per connection, so Multicall3 is probed once)."""
    found = _READERS.get(w3)
    if found is None:
        found = _READERS[w3] = BatchReader(w3)
    return found


class BatchReader:
    """Contract reads in one `eth_call` per batch through Multicall3 (see module doc)."""

    def __init__(self, w3: AsyncWeb3[Any], address: str = MULTICALL3_ADDRESS) -> None:
        self._w3 = w3
        self._address = w3.to_checksum_address(address)
        self._present: bool | None = None
        self._probe = asyncio.Lock()

    @property
    def address(self) -> str:
        """Where Multicall3 is looked for."""
        return str(self._address)

    async def present(self) -> bool:
        """Whether the chain has Multicall3 (probed once, on first use).

        Raises:
            RpcUnavailable: the node did not answer (the next read probes again).
        """
        async with self._probe:
            if self._present is None:
                try:
                    code = await self._w3.eth.get_code(self._address)
                except TRANSPORT_ERRORS as exc:
                    raise RpcUnavailable("multicall3", type(exc).__name__) from exc
                except Web3RPCError as exc:
                    raise RpcUnavailable("multicall3", str(exc.message or exc)) from exc
                self._present = len(code) > 0
                if not self._present:
                    logger.info(
                        "no Multicall3 on this chain; contract reads go one eth_call each",
                        extra={"address": self._address},
                    )
            return self._present

    async def read(self, calls: Sequence[ViewCall]) -> list[Answer]:
        """One answer per call, in order: one `eth_call` with Multicall3, one per call without
        (a lone read goes straight to its contract).

        Raises:
            RpcUnavailable: the node did not answer.
        """
        if not calls:
            return []
        if len(calls) == 1:
            return [await self._one(calls[0])]  # one read is one eth_call either way
        if await self.present():
            return await self._aggregate(calls)
        return await self._singly(calls)

    async def _aggregate(self, calls: Sequence[ViewCall]) -> list[Answer]:
        # Encoded with eth-abi directly: web3's contract-call machinery (argument normalizers,
        # transaction preparation) costs more CPU than the whole EVM run of a dozen reads.
        requests = [(c.function.address, True, calldata(c.function)) for c in calls]
        data = AGGREGATE3_SELECTOR + encode([AGGREGATE3_INPUT], [requests])
        source = f"multicall3 {self._address}"
        try:
            raw = await read(source, self._w3.eth.call({"to": self._address, "data": data}))
            (results,) = decode([AGGREGATE3_OUTPUT], bytes(raw))
        except (ProtocolUnavailable, DecodingError) as exc:
            # aggregate3 itself reverts only when it runs out of gas or is not Multicall3;
            # each read still has its own answer one call at a time.
            logger.warning(
                "multicall3 batch failed; reading one call at a time", extra={"reason": str(exc)}
            )
            return await self._singly(calls)
        answers = []
        for call, (success, data) in zip(calls, results, strict=True):
            if success:
                answers.append(decode_answer(self._w3, call, bytes(data)))
            else:
                answers.append(_no_answer(call.source, _revert_reason(bytes(data))))
        return answers

    async def _singly(self, calls: Sequence[ViewCall]) -> list[Answer]:
        return list(await asyncio.gather(*(self._one(c) for c in calls)))

    async def _one(self, call: ViewCall) -> Answer:
        try:
            return Answer(value=await read(call.source, call.function.call()))
        except ProtocolUnavailable as exc:
            return Answer(error=exc)
        except BadFunctionCallOutput:
            return _no_answer(call.source, "no answer from the contract (is the address right?)")
