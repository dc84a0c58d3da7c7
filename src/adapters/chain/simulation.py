"""Bundle simulation: a plan's steps run in order, state carried between them, before any send.

One `BundleSimulator` per node, chosen once by the executor from what the node serves
(`detect_method`) or from the configured mode:

* `SimulateV1Simulator`: one `eth_simulateV1` request (anvil, geth, reth), balance checks read
  inside the same simulated block by a reader contract injected with a state override;
* `SnapshotSimulator`: `evm_snapshot`, then each step signed, sent and mined for real, then
  `evm_revert` (dev chains, the in-process EVM above all);
* `CallSimulator`: `eth_call` + `eth_estimateGas` step by step, for a node with neither; a
  later step that fails only because an earlier one is not mined yet is marked `deferred:`
  and simulated again right before its own send.

The in-process EVM's (eth-tester's) own ways of failing are read at the bottom of this module
and nowhere else: a revert arrives as `TransactionFailed`, and a sender short of ETH (it checks
even a call) as a validation error whose text alone holds the amounts. The snapshot simulator
meets them on the dev chain; `call_and_estimate`, which it shares with the eth_call simulator,
reads them too, since the eth_call mode can be forced on the in-process EVM.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from eth_abi.abi import decode as abi_decode
from eth_tester.exceptions import TransactionFailed
from eth_typing import HexStr
from eth_utils.exceptions import ValidationError as EvmValidationError
from web3.exceptions import ContractLogicError

from adapters.chain import fees
from adapters.chain.attempts import sign_transaction
from adapters.chain.rpc import NodeClient
from application.ports.chain import (
    NATIVE_TOKEN,
    BalanceCheck,
    CheckOutcome,
    FeeQuote,
    InsufficientBalance,
    RpcUnavailable,
    Signer,
    SimulationMethod,
    SimulationResult,
    TransactionRequest,
)
from application.ports.faults import FaultPoint, FaultPoints

ERROR_SELECTOR = "08c379a0"  # Error(string)
PANIC_SELECTOR = "4e487b71"  # Panic(uint256)
BALANCE_OF_SELECTOR = "70a08231"
# A tiny contract injected by state override in eth_simulateV1: returns BALANCE(calldata[0:32]).
# PUSH1 0 CALLDATALOAD BALANCE PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
BALANCE_READER_CODE = "0x60003531600052602060" + "00f3"
BALANCE_READER = "0x00000000000000000000000000000000ba1a0ce5"
PANIC_CODES = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}


class SimulationMode(StrEnum):
    """How bundles are simulated: detected from the node, or forced."""

    AUTO = "auto"
    SIMULATE_V1 = "eth_simulateV1"
    SNAPSHOT = "evm_snapshot"
    CALL = "eth_call"


class BundleSimulator(Protocol):
    """Simulates steps in order with state carried between them, checking balances."""

    @property
    def method(self) -> SimulationMethod:
        """How this simulator simulates."""
        ...

    async def simulate(
        self, requests: Sequence[TransactionRequest]
    ) -> tuple[SimulationResult, ...]:
        """One result per request, in order.

        Raises:
            RpcUnavailable: the node did not answer.
            InsufficientBalance: (in-process EVM only) the sender cannot pay for the call.
        """
        ...


async def detect_method(node: NodeClient) -> SimulationMethod:
    """The best bundle simulation the node serves: eth_simulateV1, evm_snapshot, else eth_call.

    Raises:
        RpcUnavailable: the node did not answer (as opposed to refusing a method).
    """
    probe = {"blockStateCalls": [{"calls": []}], "validation": False}
    answer = await node.probe("eth_simulateV1", [probe, "latest"])
    if "result" in answer:
        return SimulationMethod.SIMULATE_V1
    answer = await node.probe("evm_snapshot", [])
    if "result" in answer:
        await node.raw("evm_revert", [answer["result"]])
        return SimulationMethod.SNAPSHOT
    return SimulationMethod.CALL


def decode_revert(data: bytes | str | None) -> str:
    """A readable revert reason from revert data: Error(string), Panic(uint256) or custom."""
    if data is None:
        return "reverted without a reason"
    raw = data.hex() if isinstance(data, bytes) else data.removeprefix("0x")
    if not raw:
        return "reverted without a reason"
    selector, body = raw[:8], bytes.fromhex(raw[8:]) if len(raw) % 2 == 0 else b""
    try:
        if selector == ERROR_SELECTOR:
            (message,) = abi_decode(["string"], body)
            return str(message)
        if selector == PANIC_SELECTOR:
            (code,) = abi_decode(["uint256"], body)
            return f"panic 0x{code:02x}: {PANIC_CODES.get(code, 'unknown panic')}"
    except (ValueError, TypeError, OverflowError):
        return f"reverted with undecodable data 0x{raw[:64]}"
    return f"reverted with custom error 0x{selector}"


def _balance_call(check: BalanceCheck) -> dict[str, str]:
    holder = check.holder.lower().removeprefix("0x").rjust(64, "0")
    if check.token.lower() == NATIVE_TOKEN.lower():
        return {"to": BALANCE_READER, "data": "0x" + holder}
    return {"to": check.token, "data": "0x" + BALANCE_OF_SELECTOR + holder}


def _hex_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(str(value), 16)


class _Simulator:
    """What every simulator works with: the node, the signer it simulates as, the fault hook."""

    def __init__(self, node: NodeClient, signer: Signer, faults: FaultPoints) -> None:
        self._node = node
        self._signer = signer
        self._faults = faults


class SimulateV1Simulator(_Simulator):
    """The whole bundle in one `eth_simulateV1` block, balances read before and after each step."""

    method = SimulationMethod.SIMULATE_V1

    async def simulate(
        self, requests: Sequence[TransactionRequest]
    ) -> tuple[SimulationResult, ...]:
        """One `eth_simulateV1` request for the bundle (see `BundleSimulator`)."""
        calls: list[dict[str, str]] = []
        layout: list[tuple[int, int]] = []  # (first before-read, tx index)
        for request in requests:
            first = len(calls)
            calls.extend(_balance_call(c) for c in request.checks)
            calls.append(self._tx_call(request))
            calls.extend(_balance_call(c) for c in request.checks)
            layout.append((first, first + len(request.checks)))
        payload = {
            "blockStateCalls": [
                {
                    "stateOverrides": {BALANCE_READER: {"code": BALANCE_READER_CODE}},
                    "calls": calls,
                }
            ],
            "validation": False,
        }
        answer = await self._node.raw("eth_simulateV1", [payload, "latest"])
        self._faults.reach(FaultPoint.MID_SIMULATION)
        if "error" in answer:
            message = str(answer["error"].get("message", answer["error"]))
            return tuple(
                SimulationResult(
                    request=r,
                    success=False,
                    gas_estimate=0,
                    revert_reason=f"eth_simulateV1 refused the bundle: {message}",
                    method=self.method,
                )
                for r in requests
            )
        try:
            results = answer["result"][0]["calls"]
        except (KeyError, IndexError, TypeError) as exc:
            raise RpcUnavailable(self._node.endpoint, "eth_simulateV1: unexpected answer") from exc
        return tuple(
            self._step(request, results, first, tx_index)
            for request, (first, tx_index) in zip(requests, layout, strict=True)
        )

    def _tx_call(self, request: TransactionRequest) -> dict[str, str]:
        return {
            "from": self._signer.address,
            "to": request.to,
            "data": request.data,
            "value": hex(request.value),
        }

    def _step(
        self, request: TransactionRequest, results: list[Any], first: int, tx_index: int
    ) -> SimulationResult:
        tx = results[tx_index]
        success = _hex_int(tx.get("status", "0x0")) == 1
        outcomes = []
        for k, check in enumerate(request.checks):
            before = self._read_uint(results[first + k])
            after = self._read_uint(results[tx_index + 1 + k])
            delta = after - before if before is not None and after is not None else None
            outcomes.append(
                CheckOutcome(
                    check=check, delta=delta, passed=delta is not None and check.holds(delta)
                )
            )
        return SimulationResult(
            request=request,
            success=success,
            gas_estimate=_hex_int(tx.get("gasUsed", "0x0")),
            revert_reason=None if success else decode_revert(tx.get("returnData")),
            checks=tuple(outcomes) if success else (),
            method=self.method,
        )

    @staticmethod
    def _read_uint(call: dict[str, Any]) -> int | None:
        data = str(call.get("returnData", "0x"))
        if _hex_int(call.get("status", "0x0")) != 1 or len(data) < 66:
            return None
        return int(data[2:66], 16)


async def call_and_estimate(
    node: NodeClient, sender: str, request: TransactionRequest
) -> tuple[int, str | None]:
    """Gas for the step alone on the latest state, or 0 and why it fails.

    Raises:
        InsufficientBalance: (in-process EVM only) the sender cannot pay for the call.
        RpcUnavailable: the node did not answer.
    """
    tx: Any = {
        "from": sender,
        "to": node.w3.to_checksum_address(request.to),
        "data": request.data,
        "value": request.value,
    }
    try:
        await node.call("eth_call", node.w3.eth.call(tx, "latest"))
        gas = await node.call("eth_estimateGas", node.w3.eth.estimate_gas(tx))
    except REVERTED as exc:
        return 0, revert_reason(exc)
    except EvmValidationError as exc:
        return 0, refused_by_evm(exc)
    return int(gas), None


class CallSimulator(_Simulator):
    """`eth_call` + `eth_estimateGas` step by step: no state carried, balances not checked."""

    method = SimulationMethod.CALL

    async def simulate(
        self, requests: Sequence[TransactionRequest]
    ) -> tuple[SimulationResult, ...]:
        """Each step alone on the latest state (see `BundleSimulator`)."""
        steps = []
        for index, request in enumerate(requests):
            gas, reason = await call_and_estimate(self._node, self._signer.address, request)
            if index == 0:
                self._faults.reach(FaultPoint.MID_SIMULATION)
            # Without a bundle, a later step may fail only because an earlier one is not mined
            # yet; such a step is marked deferred and simulated again right before it is sent.
            deferred = reason is not None and index > 0
            steps.append(
                SimulationResult(
                    request=request,
                    success=reason is None or deferred,
                    gas_estimate=gas,
                    revert_reason=(f"deferred: {reason}" if deferred else reason),
                    checks=tuple(
                        CheckOutcome(check=c, delta=None, passed=True) for c in request.checks
                    ),
                    method=self.method,
                )
            )
        return tuple(steps)


class SnapshotSimulator(_Simulator):
    """Each step signed, sent and mined on an `evm_snapshot`, then everything reverted.

    Holds the chain's write lock from snapshot to revert: anything another writer mined in
    between would be undone by the revert (the paper world shares this lock).
    """

    method = SimulationMethod.SNAPSHOT

    def __init__(
        self,
        node: NodeClient,
        signer: Signer,
        *,
        chain_id: int,
        quote_fees: Callable[[], Awaitable[FeeQuote]],
        gas_limit_margin: Decimal,
        faults: FaultPoints,
        write_lock: asyncio.Lock,
    ) -> None:
        super().__init__(node, signer, faults)
        self._chain_id = chain_id
        self._quote_fees = quote_fees
        self._margin = gas_limit_margin
        self._write_lock = write_lock

    async def simulate(
        self, requests: Sequence[TransactionRequest]
    ) -> tuple[SimulationResult, ...]:
        """The bundle run for real on a snapshot, then reverted (see `BundleSimulator`)."""
        async with self._write_lock:
            snapshot = await self._node.raw("evm_snapshot", [])
            if "result" not in snapshot:
                raise RpcUnavailable(self._node.endpoint, "evm_snapshot refused")
            try:
                return await self._run(requests)
            finally:
                await self._node.raw("evm_revert", [snapshot["result"]])

    async def _run(self, requests: Sequence[TransactionRequest]) -> tuple[SimulationResult, ...]:
        quote = await self._quote_fees()
        nonce = await self._node.transaction_count(self._signer.address, "pending")
        steps: list[SimulationResult] = []
        for request in requests:
            before = [await self._balance(c) for c in request.checks]
            gas, reason = await call_and_estimate(self._node, self._signer.address, request)
            gas_cost = 0
            if reason is None:
                gas, gas_cost, reason = await self._execute(request, nonce, gas, quote)
                nonce += 1
                # Before the revert: the snapshot's transactions are still on the node.
                self._faults.reach(FaultPoint.MID_SIMULATION)
            outcomes = () if reason is not None else await self._checks(request, before, gas_cost)
            steps.append(
                SimulationResult(
                    request=request,
                    success=reason is None,
                    gas_estimate=gas,
                    revert_reason=reason,
                    checks=outcomes,
                    method=self.method,
                )
            )
        return tuple(steps)

    async def _execute(
        self, request: TransactionRequest, nonce: int, estimate: int, quote: FeeQuote
    ) -> tuple[int, int, str | None]:
        """Sign, send and mine the step: (gas used, gas cost in wei, failure or None)."""
        signed = sign_transaction(
            self._signer,
            chain_id=self._chain_id,
            nonce=nonce,
            to=request.to,
            data=request.data,
            value=request.value,
            gas=fees.gas_limit(estimate, self._margin),
            fees=quote,
        )
        eth = self._node.w3.eth
        try:
            tx_hash = await self._node.call(
                "eth_sendRawTransaction", eth.send_raw_transaction(signed.raw)
            )
            receipt = await self._node.call(
                "eth_getTransactionReceipt", eth.wait_for_transaction_receipt(tx_hash, timeout=30)
            )
        except REVERTED as exc:
            return estimate, 0, revert_reason(exc)
        except EvmValidationError as exc:
            return estimate, 0, refused_by_evm(exc)
        gas = int(receipt["gasUsed"])
        if int(receipt["status"]) != 1:
            return gas, 0, "reverted when executed on the snapshot"
        return gas, gas * int(receipt["effectiveGasPrice"]), None

    async def _checks(
        self, request: TransactionRequest, before: list[int | None], gas_cost: int
    ) -> tuple[CheckOutcome, ...]:
        outcomes = []
        for check, was in zip(request.checks, before, strict=True):
            now = await self._balance(check)
            delta = now - was if now is not None and was is not None else None
            if delta is not None and self._pays_gas(check):
                delta += gas_cost  # the real send pays gas too; judge the step alone
            outcomes.append(
                CheckOutcome(
                    check=check, delta=delta, passed=delta is not None and check.holds(delta)
                )
            )
        return tuple(outcomes)

    async def _balance(self, check: BalanceCheck) -> int | None:
        if check.token.lower() == NATIVE_TOKEN.lower():
            return await self._node.balance(check.holder)
        call = _balance_call(check)
        w3 = self._node.w3
        try:
            data = await self._node.call(
                "eth_call",
                w3.eth.call(
                    {"to": w3.to_checksum_address(call["to"]), "data": HexStr(call["data"])}
                ),
            )
        except REVERTED:
            return None
        return int.from_bytes(bytes(data)[:32], "big") if len(data) >= 32 else None

    def _pays_gas(self, check: BalanceCheck) -> bool:
        return (
            check.token.lower() == NATIVE_TOKEN.lower()
            and check.holder.lower() == self._signer.address.lower()
        )


# --- the in-process EVM (eth-tester) ----------------------------------------------------

REVERTED: tuple[type[BaseException], ...] = (ContractLogicError, TransactionFailed)
"""A revert: ContractLogicError over JSON-RPC, TransactionFailed from the in-process EVM."""


def revert_reason(exc: BaseException) -> str:
    """The readable reason of a reverted call or transaction."""
    if isinstance(exc, ContractLogicError):
        data = exc.data if isinstance(exc.data, str) and exc.data.startswith("0x") else None
        if data and len(data) > 2:
            return decode_revert(data)
        message = str(exc.message or exc)
        return message.removeprefix("execution reverted: ").removeprefix("execution reverted")
    if isinstance(exc, TransactionFailed) and exc.args:
        return _in_process_reason(exc.args[0])
    return str(exc) or type(exc).__name__


def _in_process_reason(first: object) -> str:
    """eth-tester's revert: raw revert data (bytes or 0x text) or an already readable reason."""
    if isinstance(first, bytes):
        return decode_revert(first) if first else "reverted without a reason"
    text = str(first)
    return decode_revert(text) if text.startswith("0x") else text


def refused_by_evm(exc: EvmValidationError) -> str:
    """Why the in-process EVM refused a transaction, when it is not the sender's ETH.

    Raises:
        InsufficientBalance: the sender is short of ETH for the gas (eth-tester validates the
            sender even of a call, charging the block gas limit at the base fee; a JSON-RPC
            node does not, and the executor's own funds check covers it there).
    """
    text = str(exc)
    if match := re.search(r"afford txn gas (\d+) with account balance (\d+)", text):
        raise InsufficientBalance("ETH", int(match[1]), int(match[2])) from None
    if match := re.search(r"has (\d+), needs (\d+)", text):
        raise InsufficientBalance("ETH", int(match[2]), int(match[1])) from None
    return f"the in-process EVM refused the transaction: {exc}"
