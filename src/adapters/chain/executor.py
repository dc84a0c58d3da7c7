"""The TransactionExecutor over web3.py's AsyncWeb3: simulate, sign, record, send, follow.

Every send runs the same path: resume a recorded step (never send it twice), simulate, fetch
EIP-1559 fees (refusing above the gas cap), pick the nonce from the chain and the journal,
sign, persist the attempt, broadcast, then wait for the receipt and confirmations, replacing a
transaction that is not mined in time with a higher fee that never exceeds the cap.

Bundles of dependent steps are simulated with `eth_simulateV1` where the node answers it,
else with `evm_snapshot`/`evm_revert` (dev chains), else step by step with `eth_call` right
before each send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from eth_abi.abi import decode as abi_decode
from eth_tester.exceptions import TransactionFailed
from eth_typing import HexStr
from eth_utils.exceptions import ValidationError as EvmValidationError
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import (
    BadResponseFormat,
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import RPCEndpoint

from application.ports.chain import (
    NATIVE_TOKEN,
    BalanceCheck,
    BroadcastAttempt,
    BundleSimulation,
    CheckOutcome,
    DroppedStep,
    FeeQuote,
    GasPriceAboveCap,
    InsufficientBalance,
    NonceAlreadyUsed,
    NonceConflict,
    PlanSimulation,
    RpcUnavailable,
    SendReceipt,
    Signer,
    SimulationFailed,
    SimulationMethod,
    SimulationResult,
    StepFate,
    StepJournal,
    StepResolution,
    StuckTransaction,
    TransactionRequest,
    TransactionReverted,
    UnresolvedStep,
    UnsignedTransaction,
)
from application.ports.faults import NO_FAULTS, FaultPoint, FaultPoints
from domain.planner import PlannerConfig
from domain.safety import SafetyLimits

logger = logging.getLogger(__name__)

T = TypeVar("T")
GWEI = 10**9
# The strategy's defaults (the service always passes its configured values): one home each.
DEFAULT_GAS_CAP_WEI = int(SafetyLimits().gas_price_cap_gwei * GWEI)
DEFAULT_MAX_GAS_SHARE = PlannerConfig().max_gas_share
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
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    TimeoutError,
    OSError,
    ProviderConnectionError,
    BadResponseFormat,
    TimeExhausted,
)

REFUSALS: tuple[type[BaseException], ...] = (
    SimulationFailed,
    GasPriceAboveCap,
    InsufficientBalance,
    RpcUnavailable,
    UnresolvedStep,
)
"""Errors that stop a step before it is signed: nothing is recorded and nothing is sent."""

ALREADY_USED = (
    "nonce too low",
    "already known",
    "already imported",
    "known transaction",
    "nonce has already been used",
)
"""How nodes (geth, reth, anvil, Nethermind, Erigon) say a broadcast's nonce or the very
transaction is already known: a signal to look at the chain, not a node failure."""

CANCEL_SUFFIX = ":cancel"
"""The journal records a step's cancellation (a same-nonce no-op) under `<step id>:cancel`."""

TRANSFER_GAS = 21_000


class SimulationMode(StrEnum):
    """How bundles are simulated: detected from the node, or forced."""

    AUTO = "auto"
    SIMULATE_V1 = "eth_simulateV1"
    SNAPSHOT = "evm_snapshot"
    CALL = "eth_call"


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


def _reason_from_exception(exc: BaseException) -> str:
    if isinstance(exc, ContractLogicError):
        data = exc.data if isinstance(exc.data, str) and exc.data.startswith("0x") else None
        if data and len(data) > 2:
            return decode_revert(data)
        message = str(exc.message or exc)
        return message.removeprefix("execution reverted: ").removeprefix("execution reverted")
    if isinstance(exc, TransactionFailed) and exc.args:
        first = exc.args[0]
        if isinstance(first, bytes):
            return decode_revert(first) if first else "reverted without a reason"
        text = str(first)
        return decode_revert(text) if text.startswith("0x") else text
    return str(exc) or type(exc).__name__


def _unaffordable(exc: EvmValidationError) -> tuple[int, int] | None:
    """(needed, available) wei when the in-process EVM refused a sender short of ETH, else None.

    eth-tester validates the sender even of a call (charging the block gas limit at the base
    fee); a JSON-RPC node does not, and the executor's own funds check covers it there.
    """
    text = str(exc)
    if match := re.search(r"afford txn gas (\d+) with account balance (\d+)", text):
        return int(match[1]), int(match[2])
    if match := re.search(r"has (\d+), needs (\d+)", text):
        return int(match[2]), int(match[1])
    return None


def _balance_call(check: BalanceCheck) -> dict[str, str]:
    holder = check.holder.lower().removeprefix("0x").rjust(64, "0")
    if check.token.lower() == NATIVE_TOKEN.lower():
        return {"to": BALANCE_READER, "data": "0x" + holder}
    return {"to": check.token, "data": "0x" + BALANCE_OF_SELECTOR + holder}


def _hex_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(str(value), 16)


class Web3Executor:
    """Simulates and sends transactions for one signer on one chain."""

    def __init__(
        self,
        w3: AsyncWeb3[Any],
        signer: Signer,
        journal: StepJournal,
        *,
        chain_id: int,
        endpoint: str = "node",
        gas_cap_wei: int = DEFAULT_GAS_CAP_WEI,
        priority_fee_percentile: float = 50.0,
        fee_history_blocks: int = 10,
        confirmations: int = 1,
        receipt_timeout_seconds: float = 180.0,
        poll_interval_seconds: float = 1.0,
        replace_after_blocks: int = 3,
        fee_bump: Decimal = Decimal("0.125"),
        gas_limit_margin: Decimal = Decimal("0.25"),
        max_gas_share: Decimal = DEFAULT_MAX_GAS_SHARE,
        simulation: SimulationMode = SimulationMode.AUTO,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        faults: FaultPoints = NO_FAULTS,
        write_lock: asyncio.Lock | None = None,
    ) -> None:
        if confirmations < 1:
            raise ValueError("confirmations must be >= 1")
        if fee_bump < Decimal("0.1"):
            raise ValueError("nodes refuse replacements bumped by less than 10 %")
        self._w3 = w3
        # Held from evm_snapshot to evm_revert: anything another writer mines in between would
        # be undone by the revert (the paper world shares this lock; see devchain/world.py).
        self._write_lock = write_lock if write_lock is not None else asyncio.Lock()
        self._signer = signer
        self._sender = AsyncWeb3.to_checksum_address(signer.address)
        self._journal = journal
        self._chain_id = chain_id
        self._endpoint = endpoint_label(endpoint)
        self._cap = gas_cap_wei
        self._percentile = priority_fee_percentile
        self._history_blocks = fee_history_blocks
        self._confirmations = confirmations
        self._timeout = receipt_timeout_seconds
        self._poll = poll_interval_seconds
        self._replace_after = replace_after_blocks
        self._bump = fee_bump
        self._margin = gas_limit_margin
        self._max_gas_share = max_gas_share
        self._mode = simulation
        self._now = now
        self._faults = faults
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return (
            f"Web3Executor(chain_id={self._chain_id}, endpoint={self._endpoint}, "
            f"sender={self._signer.address})"
        )

    @property
    def chain_id(self) -> int:
        """The chain this executor sends to."""
        return self._chain_id

    @property
    def sender(self) -> str:
        """The signing account."""
        return self._signer.address

    # --- RPC plumbing -------------------------------------------------------------------

    async def _rpc(self, what: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except TRANSPORT_ERRORS as exc:
            raise RpcUnavailable(self._endpoint, f"{what}: {type(exc).__name__}") from exc
        except Web3RPCError as exc:
            raise RpcUnavailable(self._endpoint, f"{what}: {exc.message or exc}") from exc

    async def _raw(self, method: str, params: Sequence[Any]) -> dict[str, Any]:
        response = await self._rpc(
            method, self._w3.provider.make_request(RPCEndpoint(method), list(params))
        )
        return dict(response)

    # --- fees ---------------------------------------------------------------------------

    async def _quote_fees(self) -> FeeQuote:
        history = await self._rpc(
            "eth_feeHistory",
            self._w3.eth.fee_history(self._history_blocks, "latest", [self._percentile]),
        )
        base_fees = [int(b) for b in history.get("baseFeePerGas", [])]
        if base_fees:
            base_fee = base_fees[-1]  # the last entry is the next block's base fee
        else:
            block = await self._rpc("eth_getBlockByNumber", self._w3.eth.get_block("latest"))
            base_fee = int(block.get("baseFeePerGas", 0))
        rewards = [int(r[0]) for r in history.get("reward", []) if r]
        if rewards:
            priority = int(statistics.median(rewards))
        else:
            priority = int(
                await self._rpc("eth_maxPriorityFeePerGas", self._w3.eth.max_priority_fee)
            )
        return FeeQuote(
            base_fee=base_fee, max_priority_fee=priority, max_fee=2 * base_fee + priority
        )

    async def fees(self) -> FeeQuote:
        """EIP-1559 fees for the next block, the tip from a fee-history percentile, capped.

        Raises:
            GasPriceAboveCap: the next base fee is above the cap.
            RpcUnavailable: the node did not answer.
        """
        quote = await self._quote_fees()
        if quote.base_fee > self._cap:
            logger.warning(
                "base fee above the gas cap; refusing to send",
                extra={"base_fee_wei": quote.base_fee, "cap_wei": self._cap},
            )
            raise GasPriceAboveCap(quote.base_fee, self._cap)
        priority = min(quote.max_priority_fee, self._cap - quote.base_fee)
        max_fee = min(self._cap, 2 * quote.base_fee + priority)
        return FeeQuote(base_fee=quote.base_fee, max_priority_fee=priority, max_fee=max_fee)

    # --- simulation ---------------------------------------------------------------------

    async def simulation_method(self) -> SimulationMethod:
        """The bundle simulation this node supports (detected once, then remembered)."""
        if self._mode is SimulationMode.AUTO:
            self._mode = await self._detect_mode()
            logger.info(
                "bundle simulation method",
                extra={"endpoint": self._endpoint, "method": str(self._mode)},
            )
        return SimulationMethod(self._mode.value)

    async def _detect_mode(self) -> SimulationMode:
        probe = {"blockStateCalls": [{"calls": []}], "validation": False}
        answer = await self._probe("eth_simulateV1", [probe, "latest"])
        if "result" in answer:
            return SimulationMode.SIMULATE_V1
        answer = await self._probe("evm_snapshot", [])
        if "result" in answer:
            await self._raw("evm_revert", [answer["result"]])
            return SimulationMode.SNAPSHOT
        return SimulationMode.CALL

    async def _probe(self, method: str, params: Sequence[Any]) -> dict[str, Any]:
        """Ask for an optional method; an empty answer when the node does not serve it.

        Hosted nodes refuse an unknown method with a JSON-RPC error ("method not found"), or
        with an HTTP 4xx (400, 403, 405...) in JSON or plain text: all mean "unsupported".
        A 408, 429 or 5xx, a timeout or a refused connection is the node being unavailable
        (`RpcUnavailable`): the probe runs again on the next call.
        """
        try:
            return await self._raw(method, params)
        except RpcUnavailable as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, aiohttp.ClientResponseError)
                and 400 <= cause.status < 500
                and cause.status not in (408, 429)  # a timeout or rate limit: retry later
            ):
                logger.info(
                    "node does not serve an optional method",
                    extra={"endpoint": self._endpoint, "method": method, "status": cause.status},
                )
                return {}
            raise

    async def simulate_bundle(self, requests: tuple[TransactionRequest, ...]) -> BundleSimulation:
        """Simulate steps in order with state carried between them, checking balances.

        Raises:
            RpcUnavailable: the node did not answer.
            InsufficientBalance: (in-process EVM only) the sender cannot pay for the call.
        """
        method = await self.simulation_method()
        if not requests:
            return BundleSimulation(steps=(), method=method)
        if method is SimulationMethod.SIMULATE_V1:
            steps = await self._simulate_v1(requests)
        elif method is SimulationMethod.SNAPSHOT:
            async with self._write_lock:
                steps = await self._simulate_snapshot(requests)
        else:
            steps = await self._simulate_calls(requests)
        result = BundleSimulation(steps=tuple(steps), method=method)
        failure = result.first_failure
        logger.info(
            "bundle simulated",
            extra={
                "method": str(method),
                "steps": len(requests),
                "passed": result.passed,
                "failure": failure[1] if failure else None,
                "gas": [s.gas_estimate for s in result.steps],
            },
        )
        return result

    def _tx_call(self, request: TransactionRequest) -> dict[str, str]:
        return {
            "from": self._signer.address,
            "to": request.to,
            "data": request.data,
            "value": hex(request.value),
        }

    async def _simulate_v1(self, requests: Sequence[TransactionRequest]) -> list[SimulationResult]:
        calls: list[dict[str, str]] = []
        layout: list[tuple[int, int, int]] = []  # (first before-read, tx index, n checks)
        for request in requests:
            first = len(calls)
            calls.extend(_balance_call(c) for c in request.checks)
            calls.append(self._tx_call(request))
            calls.extend(_balance_call(c) for c in request.checks)
            layout.append((first, first + len(request.checks), len(request.checks)))
        payload = {
            "blockStateCalls": [
                {
                    "stateOverrides": {BALANCE_READER: {"code": BALANCE_READER_CODE}},
                    "calls": calls,
                }
            ],
            "validation": False,
        }
        answer = await self._raw("eth_simulateV1", [payload, "latest"])
        self._faults.reach(FaultPoint.MID_SIMULATION)
        if "error" in answer:
            message = str(answer["error"].get("message", answer["error"]))
            return [
                SimulationResult(
                    request=r,
                    success=False,
                    gas_estimate=0,
                    revert_reason=f"eth_simulateV1 refused the bundle: {message}",
                    method=SimulationMethod.SIMULATE_V1,
                )
                for r in requests
            ]
        try:
            results = answer["result"][0]["calls"]
        except (KeyError, IndexError, TypeError) as exc:
            raise RpcUnavailable(self._endpoint, "eth_simulateV1: unexpected answer") from exc
        steps = []
        for request, (first, tx_index, _n) in zip(requests, layout, strict=True):
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
            steps.append(
                SimulationResult(
                    request=request,
                    success=success,
                    gas_estimate=_hex_int(tx.get("gasUsed", "0x0")),
                    revert_reason=None if success else decode_revert(tx.get("returnData")),
                    checks=tuple(outcomes) if success else (),
                    method=SimulationMethod.SIMULATE_V1,
                )
            )
        return steps

    @staticmethod
    def _read_uint(call: dict[str, Any]) -> int | None:
        data = str(call.get("returnData", "0x"))
        if _hex_int(call.get("status", "0x0")) != 1 or len(data) < 66:
            return None
        return int(data[2:66], 16)

    async def _balance(self, check: BalanceCheck) -> int | None:
        if check.token.lower() == NATIVE_TOKEN.lower():
            holder = self._w3.to_checksum_address(check.holder)
            return int(await self._rpc("eth_getBalance", self._w3.eth.get_balance(holder)))
        call = _balance_call(check)
        try:
            data = await self._rpc(
                "eth_call",
                self._w3.eth.call(
                    {"to": self._w3.to_checksum_address(call["to"]), "data": HexStr(call["data"])}
                ),
            )
        except (ContractLogicError, TransactionFailed):
            return None
        return int.from_bytes(bytes(data)[:32], "big") if len(data) >= 32 else None

    async def _call_and_estimate(self, request: TransactionRequest) -> tuple[int, str | None]:
        tx: Any = {
            "from": self._signer.address,
            "to": self._w3.to_checksum_address(request.to),
            "data": request.data,
            "value": request.value,
        }
        try:
            await self._rpc("eth_call", self._w3.eth.call(tx, "latest"))
            gas = await self._rpc("eth_estimateGas", self._w3.eth.estimate_gas(tx))
        except (ContractLogicError, TransactionFailed) as exc:
            return 0, _reason_from_exception(exc)
        except EvmValidationError as exc:
            shortfall = _unaffordable(exc)
            if shortfall is None:
                return 0, f"the in-process EVM refused the transaction: {exc}"
            raise InsufficientBalance("ETH", *shortfall) from None
        return int(gas), None

    async def _simulate_calls(
        self, requests: Sequence[TransactionRequest]
    ) -> list[SimulationResult]:
        steps = []
        for index, request in enumerate(requests):
            gas, reason = await self._call_and_estimate(request)
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
                    method=SimulationMethod.CALL,
                )
            )
        return steps

    async def _simulate_snapshot(
        self, requests: Sequence[TransactionRequest]
    ) -> list[SimulationResult]:
        snapshot = await self._raw("evm_snapshot", [])
        if "result" not in snapshot:
            raise RpcUnavailable(self._endpoint, "evm_snapshot refused")
        steps: list[SimulationResult] = []
        try:
            quote = await self._quote_fees()
            nonce = int(
                await self._rpc(
                    "eth_getTransactionCount",
                    self._w3.eth.get_transaction_count(self._sender, "pending"),
                )
            )
            for request in requests:
                before = [await self._balance(c) for c in request.checks]
                gas, reason = await self._call_and_estimate(request)
                gas_cost = 0
                if reason is None:
                    signed = self._signer.sign(
                        UnsignedTransaction(
                            chain_id=self._chain_id,
                            nonce=nonce,
                            to=self._w3.to_checksum_address(request.to),
                            data=request.data,
                            value=request.value,
                            gas=self._gas_limit(gas),
                            max_fee_per_gas=quote.max_fee,
                            max_priority_fee_per_gas=quote.max_priority_fee,
                        )
                    )
                    nonce += 1
                    try:
                        tx_hash = await self._rpc(
                            "eth_sendRawTransaction", self._w3.eth.send_raw_transaction(signed.raw)
                        )
                        receipt = await self._rpc(
                            "eth_getTransactionReceipt",
                            self._w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30),
                        )
                    except (ContractLogicError, TransactionFailed) as exc:
                        reason = _reason_from_exception(exc)
                    except EvmValidationError as exc:
                        shortfall = _unaffordable(exc)
                        if shortfall is not None:
                            raise InsufficientBalance("ETH", *shortfall) from None
                        reason = f"the in-process EVM refused the transaction: {exc}"
                    else:
                        gas = int(receipt["gasUsed"])
                        gas_cost = gas * int(receipt["effectiveGasPrice"])
                        if int(receipt["status"]) != 1:
                            reason = "reverted when executed on the snapshot"
                    # Before the revert: the snapshot's transactions are still on the node.
                    self._faults.reach(FaultPoint.MID_SIMULATION)
                outcomes = []
                if reason is None:
                    for check, was in zip(request.checks, before, strict=True):
                        now = await self._balance(check)
                        delta = now - was if now is not None and was is not None else None
                        if delta is not None and self._pays_gas(check):
                            delta += gas_cost  # the real send pays gas too; judge the step alone
                        outcomes.append(
                            CheckOutcome(
                                check=check,
                                delta=delta,
                                passed=delta is not None and check.holds(delta),
                            )
                        )
                steps.append(
                    SimulationResult(
                        request=request,
                        success=reason is None,
                        gas_estimate=gas,
                        revert_reason=reason,
                        checks=tuple(outcomes),
                        method=SimulationMethod.SNAPSHOT,
                    )
                )
        finally:
            await self._raw("evm_revert", [snapshot["result"]])
        return steps

    def _pays_gas(self, check: BalanceCheck) -> bool:
        return (
            check.token.lower() == NATIVE_TOKEN.lower()
            and check.holder.lower() == self._signer.address.lower()
        )

    def _gas_limit(self, estimate: int) -> int:
        return math.ceil(Decimal(estimate) * (1 + self._margin))

    async def simulate_plan(
        self, requests: tuple[TransactionRequest, ...], eth_usd: Decimal
    ) -> PlanSimulation:
        """Simulate a plan, drop groups whose gas exceeds the allowed share of their value.

        Raises:
            SimulationFailed: a step of the (remaining) plan fails; nothing is sent.
            GasPriceAboveCap: the base fee is above the cap.
            RpcUnavailable: the node did not answer.
        """
        simulation = await self.simulate_bundle(requests)
        failure = simulation.first_failure
        if failure is not None:
            index, reason = failure
            raise SimulationFailed(reason, requests[index].description)
        fees = await self.fees()
        price = fees.base_fee + fees.max_priority_fee
        groups: dict[str, list[SimulationResult]] = {}
        for position, step in enumerate(simulation.steps):
            groups.setdefault(step.request.group or f"#{position}", []).append(step)
        dropped: list[DroppedStep] = []
        for steps in groups.values():
            values = [s.request.value_usd for s in steps if s.request.value_usd is not None]
            if not values:
                continue
            value_usd = max(values)
            gas = sum(s.gas_estimate for s in steps)
            cost_usd = Decimal(gas * price) / Decimal(10**18) * eth_usd
            if cost_usd > value_usd * self._max_gas_share:
                reason = (
                    f"gas ${cost_usd:.2f} ({gas} gas at {price / GWEI:.2f} gwei) exceeds "
                    f"{self._max_gas_share:%} of the step's ${value_usd:.2f}"
                )
                dropped.extend(DroppedStep(request=s.request, reason=reason) for s in steps)
                logger.info(
                    "step dropped: gas too large a share of its value",
                    extra={"step": steps[-1].request.description, "reason": reason},
                )
        dropped_ids = {id(d.request) for d in dropped}
        kept = tuple(r for r in requests if id(r) not in dropped_ids)
        if dropped and kept:
            simulation = await self.simulate_bundle(kept)
            failure = simulation.first_failure
            if failure is not None:
                raise SimulationFailed(failure[1], kept[failure[0]].description)
        return PlanSimulation(simulation=simulation, kept=kept, dropped=tuple(dropped), fees=fees)

    # --- sending ------------------------------------------------------------------------

    async def send(self, request: TransactionRequest, step_id: str) -> SendReceipt:
        """Simulate, sign, record, broadcast and follow one step; a recorded step is resumed.

        Raises:
            SimulationFailed: the simulation failed; nothing was sent.
            GasPriceAboveCap: the base fee is above the cap; nothing was sent.
            InsufficientBalance: the account cannot pay value and gas; nothing was sent.
            TransactionReverted: mined but reverted.
            StuckTransaction: not mined in time and not replaceable under the cap.
            NonceConflict: the step's nonce was used by another transaction.
            RpcUnavailable: the node did not answer.
        """
        if request.chain_id != self._chain_id:
            raise ValueError(f"request for chain {request.chain_id} sent to chain {self._chain_id}")
        async with self._lock:
            attempts = await self._journal.attempts(step_id)
            if attempts:
                logger.info(
                    "step already recorded; reconciling instead of sending",
                    extra={"step_id": step_id, "nonce": attempts[-1].nonce},
                )
                return await self._resume(step_id, request, attempts)
            try:
                await self._require_no_unsettled_step(step_id)
                attempt = await self._prepare(step_id, request)
            except REFUSALS as exc:
                # Nothing was signed or broadcast for this step: say why, once, here.
                logger.warning(
                    "step refused; nothing sent",
                    extra={
                        "step_id": step_id,
                        "step": request.description,
                        "error": type(exc).__name__,
                        "reason": str(exc),
                    },
                )
                raise
            self._faults.reach(FaultPoint.AFTER_SIGN)
            settled = await self._broadcast_or_reconcile(step_id, request, [attempt])
            if settled is not None:
                return settled
            self._faults.reach(FaultPoint.AFTER_BROADCAST)
            return await self._follow(step_id, request, [attempt])

    async def _prepare(self, step_id: str, request: TransactionRequest) -> BroadcastAttempt:
        """Simulate, price, fund-check, pick the nonce, sign and record (not yet broadcast)."""
        simulation = (await self.simulate_bundle((request,))).steps[0]
        if not simulation.passed:
            raise SimulationFailed(simulation.failure or "simulation failed", request.description)
        fees = await self.fees()
        gas_limit = self._gas_limit(simulation.gas_estimate)
        await self._require_funds(request, gas_limit, fees)
        nonce = await self._next_nonce()
        return await self._sign_and_record(
            step_id, request, nonce, gas_limit, simulation.gas_estimate, fees, 0
        )

    async def _require_funds(
        self, request: TransactionRequest, gas_limit: int, fees: FeeQuote
    ) -> None:
        balance = int(await self._rpc("eth_getBalance", self._w3.eth.get_balance(self._sender)))
        needed = request.value + gas_limit * fees.max_fee
        if balance < needed:
            raise InsufficientBalance("ETH", needed, balance)

    async def _next_nonce(self) -> int:
        pending = int(
            await self._rpc(
                "eth_getTransactionCount",
                self._w3.eth.get_transaction_count(self._sender, "pending"),
            )
        )
        recorded = await self._journal.highest_nonce(self._chain_id, self._signer.address)
        return max(pending, recorded + 1 if recorded is not None else 0)

    async def _sign_and_record(
        self,
        step_id: str,
        request: TransactionRequest,
        nonce: int,
        gas_limit: int,
        gas_estimated: int,
        fees: FeeQuote,
        number: int,
    ) -> BroadcastAttempt:
        signed = self._signer.sign(
            UnsignedTransaction(
                chain_id=self._chain_id,
                nonce=nonce,
                to=self._w3.to_checksum_address(request.to),
                data=request.data,
                value=request.value,
                gas=gas_limit,
                max_fee_per_gas=fees.max_fee,
                max_priority_fee_per_gas=fees.max_priority_fee,
            )
        )
        attempt = BroadcastAttempt(
            step_id=step_id,
            chain_id=self._chain_id,
            sender=self._signer.address,
            nonce=nonce,
            tx_hash=signed.tx_hash,
            raw_transaction="0x" + signed.raw.hex(),
            max_fee_per_gas=fees.max_fee,
            max_priority_fee_per_gas=fees.max_priority_fee,
            gas_limit=gas_limit,
            gas_estimated=gas_estimated,
            attempt=number,
            recorded_at=self._now(),
        )
        # Persisted before broadcast: after a crash the hash and nonce are known.
        await self._journal.record_attempt(attempt)
        logger.info(
            "transaction signed and recorded",
            extra={
                "step_id": step_id,
                "nonce": nonce,
                "tx_hash": signed.tx_hash,
                "attempt": number,
                "max_fee_gwei": fees.max_fee / GWEI,
                "gas_estimated": gas_estimated,
            },
        )
        return attempt

    async def _broadcast(self, attempt: BroadcastAttempt) -> None:
        """Hand the recorded bytes to the node.

        Raises:
            NonceAlreadyUsed: the node knows the nonce or the transaction already.
            RpcUnavailable: the node did not answer or refused for another reason.
        """
        try:
            await self._w3.eth.send_raw_transaction(HexStr(attempt.raw_transaction))
        except TRANSPORT_ERRORS as exc:
            raise RpcUnavailable(
                self._endpoint, f"eth_sendRawTransaction: {type(exc).__name__}"
            ) from exc
        except Web3RPCError as exc:
            message = str(exc.message or exc)
            if any(signal in message.lower() for signal in ALREADY_USED):
                logger.info(
                    "the node already has this nonce; reconciling with the chain",
                    extra={"step_id": attempt.step_id, "nonce": attempt.nonce, "node": message},
                )
                raise NonceAlreadyUsed(self._endpoint, message) from exc
            raise RpcUnavailable(self._endpoint, f"eth_sendRawTransaction: {message}") from exc
        logger.info(
            "transaction broadcast", extra={"step_id": attempt.step_id, "tx_hash": attempt.tx_hash}
        )

    async def _broadcast_or_reconcile(
        self, step_id: str, request: TransactionRequest, attempts: list[BroadcastAttempt]
    ) -> SendReceipt | None:
        """Broadcast the latest attempt; when the node already has its nonce, settle the step
        from the chain at once (its receipt, or NonceConflict) instead of retrying.

        Returns:
            None when the broadcast went through (follow it), else the step's receipt.
        """
        try:
            await self._broadcast(attempts[-1])
        except NonceAlreadyUsed:
            found = await self._find_mined(attempts)
            if found is None and await self._mined_nonce() > attempts[-1].nonce:
                found = await self._find_mined(attempts)
                if found is None:
                    raise NonceConflict(step_id, attempts[-1].nonce) from None
            if found is not None:
                return await self._finish(step_id, attempts, *found)
            # "already known": the node holds this very transaction; follow it.
            return await self._follow(step_id, request, attempts)
        return None

    async def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        try:
            receipt = await self._rpc(
                "eth_getTransactionReceipt",
                self._w3.eth.get_transaction_receipt(tx_hash),  # type: ignore[arg-type]
            )
        except TransactionNotFound:
            return None
        except RpcUnavailable as exc:
            if isinstance(exc.__cause__, TransactionNotFound):
                return None
            raise
        return dict(receipt) if receipt else None

    async def _known_to_node(self, tx_hash: str) -> bool:
        try:
            await self._rpc("eth_getTransactionByHash", self._w3.eth.get_transaction(tx_hash))  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        except RpcUnavailable as exc:
            if isinstance(exc.__cause__, TransactionNotFound):
                return False
            raise
        return True

    async def _mined_nonce(self) -> int:
        return int(
            await self._rpc(
                "eth_getTransactionCount",
                self._w3.eth.get_transaction_count(self._sender, "latest"),
            )
        )

    async def _block_number(self) -> int:
        return int(await self._rpc("eth_blockNumber", self._w3.eth.block_number))

    async def _find_mined(
        self, attempts: Sequence[BroadcastAttempt]
    ) -> tuple[BroadcastAttempt, dict[str, Any]] | None:
        for attempt in reversed(attempts):
            receipt = await self._receipt(attempt.tx_hash)
            if receipt is not None and receipt.get("blockNumber") is not None:
                return attempt, receipt
        return None

    async def _finish(
        self,
        step_id: str,
        attempts: Sequence[BroadcastAttempt],
        mined: BroadcastAttempt,
        receipt: dict[str, Any],
    ) -> SendReceipt:
        result = await self._record(step_id, attempts, mined, receipt)
        if not result.success:
            raise TransactionReverted(step_id, result.tx_hash, result)
        return result

    async def _record(
        self,
        step_id: str,
        attempts: Sequence[BroadcastAttempt],
        mined: BroadcastAttempt,
        receipt: dict[str, Any],
    ) -> SendReceipt:
        """Record a mined attempt's receipt as the step's outcome (reverted or not)."""
        result = SendReceipt(
            tx_hash=mined.tx_hash,
            nonce=mined.nonce,
            success=int(receipt["status"]) == 1,
            gas_estimated=mined.gas_estimated,
            gas_used=int(receipt["gasUsed"]),
            effective_gas_price=int(receipt.get("effectiveGasPrice", 0)),
            block_number=int(receipt["blockNumber"]),
            replaced_hashes=tuple(a.tx_hash for a in attempts if a.tx_hash != mined.tx_hash),
        )
        await self._journal.record_outcome(step_id, result)
        logger.info(
            "transaction mined",
            extra={
                "step_id": step_id,
                "tx_hash": result.tx_hash,
                "success": result.success,
                "gas_estimated": result.gas_estimated,
                "gas_used": result.gas_used,
                "block": result.block_number,
            },
        )
        return result

    async def _follow(
        self, step_id: str, request: TransactionRequest, attempts: list[BroadcastAttempt]
    ) -> SendReceipt:
        deadline = time.monotonic() + self._timeout
        last_broadcast_block = await self._block_number()
        while True:
            found = await self._find_mined(attempts)
            if found is not None:
                mined, receipt = found
                if (
                    await self._block_number()
                    >= int(receipt["blockNumber"]) + self._confirmations - 1
                ):
                    return await self._finish(step_id, attempts, mined, receipt)
            else:
                current = attempts[-1]
                if await self._mined_nonce() > current.nonce:
                    # Mined between our two reads, or another transaction took the nonce.
                    found = await self._find_mined(attempts)
                    if found is None:
                        raise NonceConflict(step_id, current.nonce)
                    continue
                block = await self._block_number()
                if block - last_broadcast_block >= self._replace_after:
                    attempts.append(await self._replace(step_id, request, current))
                    last_broadcast_block = block
            if time.monotonic() > deadline:
                raise StuckTransaction(
                    step_id,
                    attempts[-1].nonce,
                    attempts[-1].tx_hash,
                    f"no receipt with {self._confirmations} confirmation(s) "
                    f"within {self._timeout:.0f} s",
                )
            await asyncio.sleep(self._poll)

    async def _replace(
        self, step_id: str, request: TransactionRequest, current: BroadcastAttempt
    ) -> BroadcastAttempt:
        quote = await self._quote_fees()
        min_priority = math.ceil(Decimal(current.max_priority_fee_per_gas) * (1 + self._bump))
        min_fee = math.ceil(Decimal(current.max_fee_per_gas) * (1 + self._bump))
        priority = max(min_priority, quote.max_priority_fee, 1)
        max_fee = min(max(min_fee, 2 * quote.base_fee + priority), self._cap)
        priority = min(priority, max_fee)
        problem = None
        if max_fee < min_fee or priority < min_priority:
            problem = (
                f"a replacement {self._bump:.1%} dearer would exceed the gas cap of "
                f"{self._cap / GWEI:.2f} gwei"
            )
        elif max_fee <= quote.base_fee:
            problem = (
                f"the next base fee of {quote.base_fee / GWEI:.2f} gwei is above the gas cap "
                f"of {self._cap / GWEI:.2f} gwei, so no replacement could be mined"
            )
        if problem is not None:
            logger.warning(
                "transaction stuck and the gas cap forbids a higher fee",
                extra={
                    "step_id": step_id,
                    "nonce": current.nonce,
                    "tx_hash": current.tx_hash,
                    "reason": problem,
                },
            )
            raise StuckTransaction(
                step_id,
                current.nonce,
                current.tx_hash,
                f"not mined after {self._replace_after} blocks and {problem}",
            )
        simulation = (await self.simulate_bundle((request,))).steps[0]
        if not simulation.passed:
            raise SimulationFailed(simulation.failure or "simulation failed", request.description)
        fees = FeeQuote(base_fee=quote.base_fee, max_priority_fee=priority, max_fee=max_fee)
        attempt = await self._sign_and_record(
            step_id,
            request,
            current.nonce,
            current.gas_limit,
            current.gas_estimated,
            fees,
            current.attempt + 1,
        )
        logger.info(
            "replacing a stuck transaction",
            extra={"step_id": step_id, "replaces": current.tx_hash, "tx_hash": attempt.tx_hash},
        )
        # The node may answer that an earlier attempt was just mined (or the nonce taken):
        # `_follow` finds out which.
        with contextlib.suppress(NonceAlreadyUsed):
            await self._broadcast(attempt)
        return attempt

    async def _resume(
        self, step_id: str, request: TransactionRequest, attempts: Sequence[BroadcastAttempt]
    ) -> SendReceipt:
        outcome = await self._journal.outcome(step_id)
        if outcome is not None:
            if not outcome.success:
                raise TransactionReverted(step_id, outcome.tx_hash, outcome)
            return outcome
        found = await self._find_mined(attempts)
        if found is None:
            latest = attempts[-1]
            if await self._mined_nonce() > latest.nonce:
                found = await self._find_mined(attempts)
                if found is None:
                    raise NonceConflict(step_id, latest.nonce)
            elif not await self._known_to_node(latest.tx_hash):
                # Signed and recorded, but the broadcast never happened (or the node forgot it):
                # send the very same bytes, so the hash and nonce stay the ones recorded.
                settled = await self._broadcast_or_reconcile(step_id, request, list(attempts))
                if settled is not None:
                    return settled
        return await self._follow(step_id, request, list(attempts))

    async def reconcile(self, step_id: str) -> SendReceipt | None:
        """After a restart: the step's outcome if one of its attempts was mined, else None.

        Sends nothing.

        Raises:
            TransactionReverted: the mined transaction reverted.
            RpcUnavailable: the node did not answer.
        """
        outcome = await self._journal.outcome(step_id)
        if outcome is not None:
            return outcome
        attempts = await self._journal.attempts(step_id)
        if not attempts:
            return None
        found = await self._find_mined(attempts)
        if found is None:
            return None
        mined, receipt = found
        return await self._finish(step_id, attempts, mined, receipt)

    # --- settling what a crash left -----------------------------------------------------

    async def _require_no_unsettled_step(self, step_id: str) -> None:
        """Refuse to sign while another step's transaction could still be mined.

        Raises:
            UnresolvedStep: a recorded attempt of another step has no outcome and its nonce is
                not used yet: it would run outside its plan, or this step would wait behind it.
        """
        unfinished = [
            a
            for a in await self._journal.unfinished(self._chain_id, self._signer.address)
            if a.step_id != step_id
        ]
        if not unfinished:
            return
        mined_nonce = await self._mined_nonce()
        for attempt in sorted(unfinished, key=lambda a: a.nonce):
            if attempt.nonce >= mined_nonce:
                raise UnresolvedStep(attempt.step_id.removesuffix(CANCEL_SUFFIX), attempt.nonce)

    async def unresolved_steps(self) -> tuple[str, ...]:
        """Ids of steps with a signed attempt and neither an outcome nor a mined cancellation."""
        ids: list[str] = []
        for attempt in await self._journal.unfinished(self._chain_id, self._signer.address):
            step_id = attempt.step_id.removesuffix(CANCEL_SUFFIX)
            if step_id in ids:
                continue
            if attempt.step_id != step_id:
                if await self._journal.outcome(step_id) is not None:
                    continue  # its own transaction was mined; the cancellation never will be
            elif await self._journal.outcome(step_id + CANCEL_SUFFIX) is not None:
                continue  # cancelled
            ids.append(step_id)
        return tuple(ids)

    async def resolve(self, step_id: str) -> StepResolution:
        """Settle a step for good (see `StepFate`): its receipt when one of its attempts is
        mined; else, while its nonce is free, a same-nonce no-op (0 ETH to itself) takes the
        nonce so that the step can never run outside its plan. Never sends the step itself.

        Raises:
            RpcUnavailable: the node did not answer.
        """
        async with self._lock:
            return await self._resolve(step_id)

    async def _resolve(self, step_id: str) -> StepResolution:
        outcome = await self._journal.outcome(step_id)
        if outcome is not None:
            return StepResolution(
                step_id=step_id, fate=StepFate.MINED, receipt=outcome, nonce=outcome.nonce
            )
        attempts = await self._journal.attempts(step_id)
        if not attempts:
            return StepResolution(step_id=step_id, fate=StepFate.NEVER_SIGNED)
        nonce = attempts[-1].nonce
        cancel_id = step_id + CANCEL_SUFFIX
        cancels = list(await self._journal.attempts(cancel_id))
        deadline = time.monotonic() + self._timeout
        problem = ""
        while True:
            settled = await self._settled(step_id, attempts, cancel_id, cancels)
            if settled is None and await self._mined_nonce() > nonce:
                # Mined between our reads, or another transaction took the nonce.
                settled = await self._settled(step_id, attempts, cancel_id, cancels)
                if settled is None:
                    return StepResolution(
                        step_id=step_id,
                        fate=StepFate.NONCE_TAKEN,
                        nonce=nonce,
                        detail=f"nonce {nonce} was used by a transaction this step never sent",
                    )
            if settled is not None:
                return settled
            if not cancels:
                # Priced again each round: a fee spike that forbids it now may pass.
                cancel, problem = await self._cancel(cancel_id, attempts[-1])
                if cancel is not None:
                    cancels.append(cancel)
            if time.monotonic() > deadline:
                return StepResolution(
                    step_id=step_id,
                    fate=StepFate.PENDING,
                    nonce=nonce,
                    cancel_hash=cancels[-1].tx_hash if cancels else None,
                    detail=problem
                    or f"the cancellation was not mined within {self._timeout:.0f} s",
                )
            await asyncio.sleep(self._poll)

    async def _settled(
        self,
        step_id: str,
        attempts: Sequence[BroadcastAttempt],
        cancel_id: str,
        cancels: Sequence[BroadcastAttempt],
    ) -> StepResolution | None:
        found = await self._find_mined(attempts)
        if found is not None:
            receipt = await self._record(step_id, attempts, *found)
            return StepResolution(
                step_id=step_id, fate=StepFate.MINED, receipt=receipt, nonce=receipt.nonce
            )
        found = await self._find_mined(cancels) if cancels else None
        if found is not None:
            receipt = await self._record(cancel_id, cancels, *found)
            return StepResolution(
                step_id=step_id,
                fate=StepFate.CANCELLED,
                nonce=receipt.nonce,
                cancel_hash=receipt.tx_hash,
                detail=f"cancelled: nonce {receipt.nonce} taken by no-op {receipt.tx_hash}",
            )
        return None

    async def _cancel(
        self, cancel_id: str, latest: BroadcastAttempt
    ) -> tuple[BroadcastAttempt | None, str]:
        """Sign, record, then broadcast a no-op with the step's nonce, priced to replace it.

        Returns the recorded cancellation, or None and why it could not be priced under the cap.
        """
        quote = await self._quote_fees()
        least_fee = least_priority = 1
        if await self._known_to_node(latest.tx_hash):
            # The node replaces a pooled transaction only with one dearer by the bump.
            least_fee = math.ceil(Decimal(latest.max_fee_per_gas) * (1 + self._bump))
            least_priority = math.ceil(Decimal(latest.max_priority_fee_per_gas) * (1 + self._bump))
        priority = max(quote.max_priority_fee, least_priority)
        max_fee = max(min(2 * quote.base_fee + priority, self._cap), least_fee)
        priority = min(priority, max_fee)
        if max_fee > self._cap or max_fee <= quote.base_fee:
            return None, (
                f"a cancellation of nonce {latest.nonce} would need more than the gas cap of "
                f"{self._cap / GWEI:.2f} gwei (next base fee {quote.base_fee / GWEI:.2f} gwei)"
            )
        signed = self._signer.sign(
            UnsignedTransaction(
                chain_id=self._chain_id,
                nonce=latest.nonce,
                to=self._sender,
                data="0x",
                value=0,
                gas=TRANSFER_GAS,
                max_fee_per_gas=max_fee,
                max_priority_fee_per_gas=priority,
            )
        )
        attempt = BroadcastAttempt(
            step_id=cancel_id,
            chain_id=self._chain_id,
            sender=self._signer.address,
            nonce=latest.nonce,
            tx_hash=signed.tx_hash,
            raw_transaction="0x" + signed.raw.hex(),
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=priority,
            gas_limit=TRANSFER_GAS,
            gas_estimated=TRANSFER_GAS,
            attempt=0,
            recorded_at=self._now(),
        )
        await self._journal.record_attempt(attempt)  # before broadcast, like every send
        logger.warning(
            "cancelling a signed step with a same-nonce no-op",
            extra={"step_id": cancel_id, "nonce": latest.nonce, "tx_hash": signed.tx_hash},
        )
        # The step's own transaction (or another) may have taken the nonce: `_settled` tells.
        with contextlib.suppress(NonceAlreadyUsed):
            await self._broadcast(attempt)
        return attempt, ""
