"""The Safe's owners: a plan that needs approval becomes a proposal they sign.

Under Safe custody a plan above the approval threshold is not sent by the agent through its
scope: it becomes one Safe transaction (the plan's calls batched) at a fixed Safe nonce, its
owners sign the safeTxHash, and once the threshold is met the agent submits `execTransaction`
with their signatures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from application.errors import PermanentError, TransientError
from application.ports.chain import PlanBatchSender, SendReceipt, TransactionRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class SafeTransaction:
    """The Safe transaction behind a proposal (no refunds, no gas price: whoever submits pays),
    what a Safe Transaction Service needs to show and check it."""

    to: str
    value: int
    data: str
    """0x-prefixed hex."""
    operation: int
    """0 CALL, 1 DELEGATECALL."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerProposal:
    """A plan as a Safe transaction waiting for its owners: what they sign and how many."""

    safe: str
    safe_tx_hash: str
    """The EIP-712 hash the owners sign, 0x-prefixed hex."""
    nonce: int
    threshold: int
    owners: tuple[str, ...]
    transaction: SafeTransaction | None = None
    """The transaction hashed into `safe_tx_hash` (None in proposals recorded before it was
    kept)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SafeTransactionToSign:
    """What an owner's wallet signs for a proposal: the call, in words, and the EIP-712 typed
    data (JSON-ready, `eth_signTypedData_v4` / `cast wallet sign --data`) whose hash is the
    safeTxHash."""

    to: str
    data: str
    """The call's data, 0x-prefixed hex."""
    operation: int
    """0: CALL, 1: DELEGATECALL."""
    summary: str
    typed_data: Mapping[str, object]


class SignatureRefused(PermanentError):
    """A signature that is malformed or not made by a current owner over the proposal."""


class ProposalChanged(PermanentError):
    """The Safe transaction built now no longer hashes to the proposal's safeTxHash."""


class OwnerProposals(Protocol):
    """Makes proposals from a plan's calls, checks owners' signatures, executes proposals."""

    async def propose(self, requests: tuple[TransactionRequest, ...]) -> OwnerProposal:
        """The plan's calls as one Safe transaction at the Safe's next nonce.

        Raises:
            RpcUnavailable: the node did not answer.
        """
        ...

    def signer_of(self, proposal: OwnerProposal, signature: bytes) -> str:
        """The current owner who made `signature` over the proposal's safeTxHash.

        Raises:
            SignatureRefused: not 65 bytes, not a valid signature, or not an owner's.
        """
        ...

    def sender(self, proposal: OwnerProposal, signatures: Mapping[str, bytes]) -> PlanBatchSender:
        """A batch sender that executes exactly this proposal with the owners' signatures
        (its simulation fails if the plan's calls no longer hash to the signed safeTxHash)."""
        ...


class RoleRevocation(Protocol):
    """The emergency stop's second line under Safe custody: the owners' Safe transaction that
    takes the agent's role away in the Roles Modifier, and its execution once they signed."""

    async def propose_revocation(self) -> OwnerProposal:
        """The revocation of the agent's role as a Safe transaction at the Safe's next nonce.

        Raises:
            RpcUnavailable: the node did not answer.
        """
        ...

    def revocation_to_sign(self, proposal: OwnerProposal) -> SafeTransactionToSign:
        """The revocation `proposal` as the owners' wallets sign it.

        Raises:
            ProposalChanged: the revocation built now does not hash to the proposal's
                safeTxHash (the agent or its role changed).
        """
        ...

    async def revoke(self, proposal: OwnerProposal, signatures: Mapping[str, bytes]) -> SendReceipt:
        """Execute exactly this revocation with the owners' signatures, at most once (the
        agent submits it; asked again, the recorded outcome is returned).

        Raises:
            SimulationFailed: it would revert (signatures short, nonce used); nothing was sent.
            RpcUnavailable: the node did not answer.
        """
        ...


class ProposalUpkeep(Protocol):
    """Keeps proposals honest once they are made: tells when one can no longer execute as
    signed, and clears the nonce of one that must never execute (expired or rejected) with a
    no-op Safe transaction the owners sign."""

    async def standing(
        self, proposal: OwnerProposal, requests: tuple[TransactionRequest, ...] | None = None
    ) -> str | None:
        """Why the proposal can no longer execute as signed: the Safe's nonce moved past its
        nonce, or `requests` (the plan's calls built now, when given) no longer hash to its
        safeTxHash. None while it stands.

        Raises:
            RpcUnavailable: the node did not answer.
        """
        ...

    async def propose_cancel(self, proposal: OwnerProposal) -> OwnerProposal:
        """A no-op Safe transaction (to the Safe itself, value 0, empty data) at `proposal`'s
        nonce: once executed, that nonce is used and the proposal can never execute.

        Raises:
            RpcUnavailable: the node did not answer.
        """
        ...

    async def cancel(
        self, cancellation: OwnerProposal, signatures: Mapping[str, bytes]
    ) -> SendReceipt:
        """Execute exactly this no-op with the owners' signatures, at most once (simulated
        first; asked again, the recorded outcome is returned).

        Raises:
            SimulationFailed: it would revert (signatures short, nonce used); nothing was sent.
            RpcUnavailable: the node did not answer.
        """
        ...


class SafeOwners(OwnerProposals, RoleRevocation, ProposalUpkeep, Protocol):
    """The Safe's owners under Safe custody: plan proposals, their upkeep (re-proposal and
    cancellation) and the revocation of the agent."""


class OwnersMustSign(PermanentError):
    """Under Safe custody a plan that needs approval runs only on its owners' signatures."""

    def __init__(self, decision_id: str, reason: str) -> None:
        self.decision_id = decision_id
        super().__init__(f"decision {decision_id}: {reason}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfirmation:
    """A confirmation a Safe Transaction Service lists for a safeTxHash. Nothing in it is
    trusted: `owner` is what the service claims; the signature is checked before it counts."""

    owner: str
    signature: bytes
    signature_type: str


class TransactionServiceUnavailable(TransientError):
    """The Safe Transaction Service could not be read or written, or answered something that
    cannot be right (malformed, oversized, about another transaction)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        self.reason = reason
        self.permanent = permanent
        super().__init__(f"Safe Transaction Service: {reason}")


class TransactionService(Protocol):
    """A Safe Transaction Service (safe-global/safe-transaction-service): where owners who use
    the Safe app propose and confirm transactions."""

    async def confirmations(self, proposal: OwnerProposal) -> tuple[ServiceConfirmation, ...]:
        """The confirmations the service holds for the proposal's safeTxHash (none when the
        service does not know the transaction).

        Raises:
            TransactionServiceUnavailable: unreachable, an error status, or an answer that is
                malformed, too large, or about another transaction or Safe.
        """
        ...

    async def propose(self, proposal: OwnerProposal, *, sender: str, signature: bytes) -> None:
        """Publish the proposal in an owner's name with that owner's own signature (the
        service accepts proposals only from owners or delegates).

        Raises:
            TransactionServiceUnavailable: unreachable, or the service refused it.
        """
        ...
