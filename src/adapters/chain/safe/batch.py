"""A whole plan as one transaction: the agent executes a MultiSendCallOnly batch through the
Safe's Roles Modifier, all calls or none.

This sits beside the per-step executor (`adapters/chain/executor.py`), which it does not change.
The agent's key signs one `execTransactionWithRole(multiSendCallOnly, 0, multiSend(batch),
DELEGATECALL, role, shouldRevert=true)`: the Roles Modifier unwraps the batch and checks every
inner call against the role, the Safe delegate-calls MultiSendCallOnly, and any inner revert
reverts the whole transaction.

Before anything is signed the whole batch is simulated (`eth_call` from the agent, then a gas
estimate). The signed transaction is recorded in the step journal under the batch id before it is
broadcast, so after a crash the same signed transaction (same nonce) is broadcast again or found
mined: a batch executes at most once. `decode_multisend` reads the inner calls back out of a
journaled transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_abi.abi import decode
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_tester.exceptions import TransactionFailed
from hexbytes import HexBytes
from web3 import AsyncWeb3
from web3.exceptions import ContractCustomError, ContractLogicError, TransactionNotFound

from adapters.chain.safe.contracts import artifact
from adapters.chain.safe.roles import RolesDeployment, exec_with_role
from adapters.chain.safe.transactions import Operation
from application.ports.chain import (
    BatchSimulation,
    BroadcastAttempt,
    SendReceipt,
    Signer,
    SimulationFailed,
    StepJournal,
    TransactionRequest,
    UnsignedTransaction,
)
from application.ports.faults import NO_FAULTS, FaultPoint, FaultPoints

logger = logging.getLogger(__name__)

_REVERTS = (ContractCustomError, ContractLogicError, TransactionFailed, ValueError)


@dataclass(frozen=True, slots=True, kw_only=True)
class InnerCall:
    """One call inside a MultiSend batch."""

    operation: Operation
    to: str
    value: int
    data: bytes


def encode_multisend(requests: Sequence[TransactionRequest]) -> bytes:
    """The `transactions` bytes of `multiSend`: per call, operation (1 byte, CALL), to (20),
    value (32), data length (32), data.

    Raises:
        ValueError: no requests.
    """
    if not requests:
        raise ValueError("a batch needs at least one call")
    packed = b""
    for request in requests:
        data = bytes.fromhex(request.data.removeprefix("0x"))
        packed += (
            bytes([Operation.CALL])
            + bytes.fromhex(request.to.removeprefix("0x").lower())
            + request.value.to_bytes(32, "big")
            + len(data).to_bytes(32, "big")
            + data
        )
    return packed


def decode_multisend(transactions: bytes) -> list[InnerCall]:
    """The calls packed in `multiSend`'s `transactions` bytes.

    Raises:
        ValueError: the bytes are truncated.
    """
    calls: list[InnerCall] = []
    i = 0
    while i < len(transactions):
        if i + 85 > len(transactions):
            raise ValueError("truncated MultiSend entry")
        operation = Operation(transactions[i])
        to = "0x" + transactions[i + 1 : i + 21].hex()
        value = int.from_bytes(transactions[i + 21 : i + 53])
        length = int.from_bytes(transactions[i + 53 : i + 85])
        data = transactions[i + 85 : i + 85 + length]
        if len(data) != length:
            raise ValueError("truncated MultiSend data")
        calls.append(InnerCall(operation=operation, to=to, value=value, data=data))
        i += 85 + length
    return calls


def inner_calls_of(raw_transaction: str) -> list[InnerCall]:
    """The inner calls of a journaled batch transaction (its signed raw bytes).

    Raises:
        ValueError: the transaction is not an `execTransactionWithRole` of a MultiSend.
    """
    typed = TypedTransaction.from_bytes(HexBytes(raw_transaction))
    data = bytes(typed.as_dict()["data"])
    _to, _value, inner, _operation, _role, _revert = decode(
        ["address", "uint256", "bytes", "uint8", "bytes32", "bool"], data[4:]
    )
    (transactions,) = decode(["bytes"], inner[4:])
    return decode_multisend(transactions)


class RolesBatchSender:
    """Sends a plan's calls as one Safe transaction through the agent's Roles scope."""

    def __init__(
        self,
        w3: AsyncWeb3[Any],
        *,
        roles: RolesDeployment,
        multi_send_call_only: str,
        signer: Signer,
        journal: StepJournal,
        safe: str = "",
        gas_margin: float = 1.3,
        receipt_timeout_seconds: float = 120,
        faults: FaultPoints = NO_FAULTS,
    ) -> None:
        self._w3 = w3
        self._safe = safe
        self._faults = faults
        self._roles = roles
        self._multisend = w3.to_checksum_address(multi_send_call_only)
        self._signer = signer
        self._journal = journal
        self._gas_margin = gas_margin
        self._timeout = receipt_timeout_seconds
        self._simulated: tuple[bytes, tuple[str, str], BatchSimulation] | None = None

    @property
    def accounts(self) -> dict[str, str]:
        """The Safe the calls act for, the agent that signs, the Roles Modifier it calls."""
        return {"safe": self._safe, "agent": self._signer.address, "module": self._roles.roles}

    @property
    def _target(self) -> str:
        """The contract the agent's transaction calls (the Roles Modifier)."""
        return self._roles.roles

    def _call(self, requests: Sequence[TransactionRequest]) -> Any:
        multisend = self._w3.eth.contract(
            address=self._multisend, abi=artifact("MultiSendCallOnly").abi
        )
        data = multisend.encode_abi("multiSend", [encode_multisend(requests)])
        return exec_with_role(
            self._w3,
            self._roles,
            to=self._multisend,
            data=bytes.fromhex(data[2:]),
            operation=Operation.DELEGATE_CALL,
        )

    async def simulate(self, requests: Sequence[TransactionRequest]) -> BatchSimulation:
        """Simulate the whole batch from the agent's address; nothing is sent.

        A success is remembered with the block it ran on (the latest block's hash, the same
        before and after the simulation): `send` right after, with no block mined since, uses
        it instead of running the same batch on the same state again.
        """
        call = self._call(requests)
        sender = {"from": self._signer.address}
        before = await self._latest_hash()
        try:
            await call.call(sender)
            gas = await call.estimate_gas(sender)
        except _REVERTS as exc:
            return BatchSimulation(success=False, gas_estimate=0, revert_reason=str(exc))
        simulation = BatchSimulation(success=True, gas_estimate=int(gas))
        if await self._latest_hash() == before:
            self._simulated = (before, self._calldata(call), simulation)
        return simulation

    async def _simulated_now(self, requests: Sequence[TransactionRequest]) -> BatchSimulation:
        """The simulation of `requests` on the chain as it is now: the remembered one when it
        is of the same call on the same latest block (a block's hash commits to its state),
        else a new one."""
        remembered, self._simulated = self._simulated, None
        if remembered is not None:
            block, data, simulation = remembered
            if data == self._calldata(self._call(requests)) and await self._latest_hash() == block:
                return simulation
        return await self.simulate(requests)

    async def _latest_hash(self) -> bytes:
        block = await self._w3.eth.get_block("latest")
        return bytes(block["hash"])

    def _calldata(self, call: Any) -> tuple[str, str]:
        return (self._target, str(call._encode_transaction_data()))

    async def send(self, requests: Sequence[TransactionRequest], batch_id: str) -> SendReceipt:
        """Simulate, sign, journal, broadcast and wait for the batch; at most once per id.

        A batch with a recorded outcome returns it; one with a recorded attempt is found mined
        or broadcast again as the same signed transaction, never signed anew.

        Raises:
            SimulationFailed: the batch (any inner call, or the scope) failed; nothing was sent.
        """
        done = await self._journal.outcome(batch_id)
        if done is not None:
            return done
        attempts = await self._journal.attempts(batch_id)
        if attempts:
            return await self._finish(attempts[-1])
        simulation = await self._simulated_now(requests)
        if not simulation.success:
            raise SimulationFailed(simulation.revert_reason or "reverted", step=batch_id)
        # The gas is set here: without it web3 would estimate it once more.
        tx = await self._call(requests).build_transaction(
            {"from": self._signer.address, "gas": simulation.gas_estimate}
        )
        block = await self._w3.eth.get_block("latest")
        priority = 10**9
        max_fee = int(block.get("baseFeePerGas", 0)) * 2 + priority
        unsigned = UnsignedTransaction(
            chain_id=await self._w3.eth.chain_id,
            nonce=await self._w3.eth.get_transaction_count(
                self._w3.to_checksum_address(self._signer.address), "pending"
            ),
            to=self._target,
            data=str(tx["data"]),
            value=0,
            gas=int(simulation.gas_estimate * self._gas_margin),
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=priority,
        )
        signed = self._signer.sign(unsigned)
        attempt = BroadcastAttempt(
            step_id=batch_id,
            chain_id=unsigned.chain_id,
            sender=self._signer.address,
            nonce=unsigned.nonce,
            tx_hash=signed.tx_hash,
            raw_transaction="0x" + signed.raw.hex(),
            max_fee_per_gas=unsigned.max_fee_per_gas,
            max_priority_fee_per_gas=unsigned.max_priority_fee_per_gas,
            gas_limit=unsigned.gas,
            gas_estimated=simulation.gas_estimate,
            attempt=1,
            recorded_at=datetime.now(UTC),
        )
        await self._journal.record_attempt(attempt)
        logger.info(
            "safe batch signed",
            extra={"batch": batch_id, "tx_hash": signed.tx_hash, "calls": len(requests)},
        )
        self._faults.reach(FaultPoint.AFTER_SIGN)
        return await self._finish(attempt)

    async def _finish(self, attempt: BroadcastAttempt) -> SendReceipt:
        receipt = await self._mined(attempt.tx_hash)
        if receipt is None:
            try:
                await self._w3.eth.send_raw_transaction(
                    bytes.fromhex(attempt.raw_transaction.removeprefix("0x"))
                )
            except _REVERTS as exc:
                # In-process, a reverting transaction is refused at broadcast; over JSON-RPC
                # it is mined with status 0. Either way it is recorded as failed.
                logger.warning("safe batch refused", extra={"batch": attempt.step_id})
                outcome = SendReceipt(
                    tx_hash=attempt.tx_hash,
                    nonce=attempt.nonce,
                    success=False,
                    gas_estimated=attempt.gas_estimated,
                    gas_used=0,
                    effective_gas_price=0,
                    block_number=0,
                )
                await self._journal.record_outcome(attempt.step_id, outcome)
                logger.debug("refusal", extra={"reason": str(exc)})
                return outcome
            self._faults.reach(FaultPoint.AFTER_BROADCAST)
            receipt = await self._w3.eth.wait_for_transaction_receipt(
                HexBytes(attempt.tx_hash), timeout=self._timeout
            )
        outcome = SendReceipt(
            tx_hash=attempt.tx_hash,
            nonce=attempt.nonce,
            success=receipt["status"] == 1,
            gas_estimated=attempt.gas_estimated,
            gas_used=int(receipt["gasUsed"]),
            effective_gas_price=int(receipt.get("effectiveGasPrice", 0)),
            block_number=int(receipt["blockNumber"]),
        )
        await self._journal.record_outcome(attempt.step_id, outcome)
        return outcome

    async def _mined(self, tx_hash: str) -> Any:
        try:
            return await self._w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
