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

from application.errors import PermanentError
from application.ports.chain import PlanBatchSender, SendReceipt, TransactionRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerProposal:
    """A plan as a Safe transaction waiting for its owners: what they sign and how many."""

    safe: str
    safe_tx_hash: str
    """The EIP-712 hash the owners sign, 0x-prefixed hex."""
    nonce: int
    threshold: int
    owners: tuple[str, ...]


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


class SafeOwners(OwnerProposals, RoleRevocation, Protocol):
    """The Safe's owners under Safe custody: plan proposals and the revocation of the agent."""


class OwnersMustSign(PermanentError):
    """Under Safe custody a plan that needs approval runs only on its owners' signatures."""

    def __init__(self, decision_id: str, reason: str) -> None:
        self.decision_id = decision_id
        super().__init__(f"decision {decision_id}: {reason}")
