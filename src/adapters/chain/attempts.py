"""A step's signed attempts: signed, recorded before broadcast, broadcast, found mined.

Every transaction the treasury signs goes through `sign_transaction`, the one place that
builds an EIP-1559 transaction for the signer. `AttemptLog` journals each attempt before it is
broadcast (after a crash its nonce and hash are known), hands the recorded bytes to the node,
and records the outcome of whichever attempt of a step is mined.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eth_typing import HexStr
from web3 import AsyncWeb3
from web3.exceptions import Web3RPCError

from adapters.chain.fees import GWEI
from adapters.chain.rpc import TRANSPORT_ERRORS, NodeClient
from application.ports.chain import (
    BroadcastAttempt,
    FeeQuote,
    NonceAlreadyUsed,
    RpcUnavailable,
    SendReceipt,
    SignedTransaction,
    Signer,
    StepJournal,
    TransactionRequest,
    TransactionReverted,
    UnsignedTransaction,
)

logger = logging.getLogger(__name__)

Mined = tuple[BroadcastAttempt, dict[str, Any]]
"""An attempt found mined, with its receipt."""

ALREADY_USED = (
    "nonce too low",
    "already known",
    "already imported",
    "known transaction",
    "nonce has already been used",
)
"""How nodes (geth, reth, anvil, Nethermind, Erigon) say a broadcast's nonce or the very
transaction is already known: a signal to look at the chain, not a node failure."""


def sign_transaction(
    signer: Signer,
    *,
    chain_id: int,
    nonce: int,
    to: str,
    data: str,
    value: int,
    gas: int,
    fees: FeeQuote,
) -> SignedTransaction:
    """Sign an EIP-1559 transaction to `to` (checksummed here) priced at `fees`."""
    return signer.sign(
        UnsignedTransaction(
            chain_id=chain_id,
            nonce=nonce,
            to=AsyncWeb3.to_checksum_address(to),
            data=data,
            value=value,
            gas=gas,
            max_fee_per_gas=fees.max_fee,
            max_priority_fee_per_gas=fees.max_priority_fee,
        )
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptTerms:
    """What one attempt of a step is signed with; `number` counts the step's attempts from 0."""

    nonce: int
    gas_limit: int
    gas_estimated: int
    fees: FeeQuote
    number: int = 0

    @classmethod
    def replacing(cls, current: BroadcastAttempt, fees: FeeQuote) -> AttemptTerms:
        """The next attempt after `current`: same nonce and gas, new fees."""
        return cls(
            nonce=current.nonce,
            gas_limit=current.gas_limit,
            gas_estimated=current.gas_estimated,
            fees=fees,
            number=current.attempt + 1,
        )


class AttemptLog:
    """Signs, journals and broadcasts the attempts of one signer's steps on one chain."""

    def __init__(
        self,
        node: NodeClient,
        signer: Signer,
        journal: StepJournal,
        *,
        chain_id: int,
        now: Callable[[], datetime],
    ) -> None:
        self._node = node
        self._signer = signer
        self._journal = journal
        self._chain_id = chain_id
        self._now = now

    async def sign_and_record(
        self, step_id: str, to: str, data: str, value: int, terms: AttemptTerms
    ) -> BroadcastAttempt:
        """Sign an attempt of a step on `terms` and persist it (not yet broadcast)."""
        signed = sign_transaction(
            self._signer,
            chain_id=self._chain_id,
            nonce=terms.nonce,
            to=to,
            data=data,
            value=value,
            gas=terms.gas_limit,
            fees=terms.fees,
        )
        attempt = BroadcastAttempt(
            step_id=step_id,
            chain_id=self._chain_id,
            sender=self._signer.address,
            nonce=terms.nonce,
            tx_hash=signed.tx_hash,
            raw_transaction="0x" + signed.raw.hex(),
            max_fee_per_gas=terms.fees.max_fee,
            max_priority_fee_per_gas=terms.fees.max_priority_fee,
            gas_limit=terms.gas_limit,
            gas_estimated=terms.gas_estimated,
            attempt=terms.number,
            recorded_at=self._now(),
        )
        # Persisted before broadcast: after a crash the hash and nonce are known.
        await self._journal.record_attempt(attempt)
        return attempt

    async def sign_step(
        self, step_id: str, request: TransactionRequest, terms: AttemptTerms
    ) -> BroadcastAttempt:
        """Sign an attempt of a step's request and persist it (not yet broadcast)."""
        attempt = await self.sign_and_record(
            step_id, request.to, request.data, request.value, terms
        )
        logger.info(
            "transaction signed and recorded",
            extra={
                "step_id": step_id,
                "nonce": terms.nonce,
                "tx_hash": attempt.tx_hash,
                "attempt": terms.number,
                "max_fee_gwei": terms.fees.max_fee / GWEI,
                "gas_estimated": terms.gas_estimated,
            },
        )
        return attempt

    async def broadcast(self, attempt: BroadcastAttempt) -> None:
        """Hand the recorded bytes to the node.

        Raises:
            NonceAlreadyUsed: the node knows the nonce or the transaction already.
            RpcUnavailable: the node did not answer or refused for another reason.
        """
        endpoint = self._node.endpoint
        try:
            await self._node.w3.eth.send_raw_transaction(HexStr(attempt.raw_transaction))
        except TRANSPORT_ERRORS as exc:
            raise RpcUnavailable(endpoint, f"eth_sendRawTransaction: {type(exc).__name__}") from exc
        except Web3RPCError as exc:
            message = str(exc.message or exc)
            if any(signal in message.lower() for signal in ALREADY_USED):
                logger.info(
                    "the node already has this nonce; reconciling with the chain",
                    extra={"step_id": attempt.step_id, "nonce": attempt.nonce, "node": message},
                )
                raise NonceAlreadyUsed(endpoint, message) from exc
            raise RpcUnavailable(endpoint, f"eth_sendRawTransaction: {message}") from exc
        logger.info(
            "transaction broadcast", extra={"step_id": attempt.step_id, "tx_hash": attempt.tx_hash}
        )

    async def next_nonce(self) -> int:
        """The nonce for a new step: max(the node's pending nonce, the highest recorded + 1),
        so a signed attempt's nonce is never reused."""
        pending = await self._node.transaction_count(self._signer.address, "pending")
        recorded = await self._journal.highest_nonce(self._chain_id, self._signer.address)
        return max(pending, recorded + 1 if recorded is not None else 0)

    async def mined_nonce(self) -> int:
        """The signer's count of mined transactions: every lower nonce is used for good."""
        return await self._node.transaction_count(self._signer.address, "latest")

    async def find_mined(self, attempts: Sequence[BroadcastAttempt]) -> Mined | None:
        """The mined attempt (latest first) and its receipt, or None."""
        for attempt in reversed(attempts):
            receipt = await self._node.receipt(attempt.tx_hash)
            if receipt is not None and receipt.get("blockNumber") is not None:
                return attempt, receipt
        return None

    async def finish(
        self, step_id: str, attempts: Sequence[BroadcastAttempt], found: Mined
    ) -> SendReceipt:
        """Record the mined attempt as the step's outcome; a revert is raised.

        Raises:
            TransactionReverted: the mined transaction reverted.
        """
        result = await self.record(step_id, attempts, found)
        if not result.success:
            raise TransactionReverted(step_id, result.tx_hash, result)
        return result

    async def record(
        self, step_id: str, attempts: Sequence[BroadcastAttempt], found: Mined
    ) -> SendReceipt:
        """Record a mined attempt's receipt as the step's outcome (reverted or not)."""
        mined, receipt = found
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
