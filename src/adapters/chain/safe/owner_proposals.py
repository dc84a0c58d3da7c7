"""The `OwnerProposals` port over the Safe (`owners.py`): a plan that needs approval becomes a
Safe transaction its owners sign, and the agent submits it once they have.

The signed transaction is sent like the agent's scoped batches (`RolesBatchSender`: simulated,
signed by the agent's key, journaled under the batch id before broadcast, at most once), but it
calls the Safe's `execTransaction` with the owners' signatures instead of the Roles Modifier.
Its simulation first checks that the plan's calls, as built now, still hash to the safeTxHash
the owners signed: if they changed, nothing is sent and the owners must sign a new proposal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from web3 import AsyncWeb3
from web3.exceptions import Web3Exception

from adapters.chain.safe.batch import RolesBatchSender, encode_multisend
from adapters.chain.safe.contracts import artifact
from adapters.chain.safe.deploy import SafeDeploymentFailed, safe_contract
from adapters.chain.safe.owners import Proposal, propose_cancel, propose_plan, propose_stop
from adapters.chain.safe.roles import roles_contract
from adapters.chain.safe.transactions import (
    Operation,
    SafeTx,
    pack_signatures,
    safe_tx_hash,
    signer_of,
    typed_data_json,
)
from application.ports.chain import (
    BatchSimulation,
    PlanBatchSender,
    RpcUnavailable,
    SendReceipt,
    StepKind,
    TransactionRequest,
)
from application.ports.owners import (
    OwnerProposal,
    ProposalChanged,
    SafeTransaction,
    SafeTransactionToSign,
    SignatureRefused,
)


class OwnerSignedBatchSender(RolesBatchSender):
    """Sends one owners' proposal: `execTransaction` on the Safe with their signatures."""

    def __init__(
        self,
        scope: RolesBatchSender,
        *,
        proposal: OwnerProposal,
        signatures: Mapping[str, bytes],
        chain_id: int,
    ) -> None:
        super().__init__(
            scope._w3,
            roles=scope._roles,
            multi_send_call_only=scope._multisend,
            signer=scope._signer,
            journal=scope._journal,
            safe=proposal.safe,
            gas_margin=scope._gas_margin,
            receipt_timeout_seconds=scope._timeout,
            faults=scope._faults,
        )
        self._proposal = proposal
        self._signatures = dict(signatures)
        self._chain_id = chain_id

    @property
    def accounts(self) -> dict[str, str]:
        """The Safe, the agent that submits, the owners who signed and what they signed."""
        return {
            "safe": self._safe,
            "agent": self._signer.address,
            "owners": ", ".join(self._signatures),
            "safe_tx_hash": self._proposal.safe_tx_hash,
        }

    @property
    def _target(self) -> str:
        return self._w3.to_checksum_address(self._safe)

    def _safe_tx(self, requests: Sequence[TransactionRequest]) -> SafeTx:
        multisend = self._w3.eth.contract(
            address=self._multisend, abi=artifact("MultiSendCallOnly").abi
        )
        data = multisend.encode_abi("multiSend", [encode_multisend(requests)])
        return SafeTx(
            to=self._multisend,
            data=bytes.fromhex(data[2:]),
            operation=Operation.DELEGATE_CALL,
            nonce=self._proposal.nonce,
        )

    def _changed(self, requests: Sequence[TransactionRequest]) -> str | None:
        now = "0x" + safe_tx_hash(self._chain_id, self._safe, self._safe_tx(requests)).hex()
        if now == self._proposal.safe_tx_hash:
            return None
        return (
            f"the plan's calls now hash to {now}, not to the signed safeTxHash "
            f"{self._proposal.safe_tx_hash}; the owners must sign a new proposal"
        )

    def _call(self, requests: Sequence[TransactionRequest]) -> Any:
        return safe_contract(self._w3, self._safe).functions.execTransaction(
            *self._safe_tx(requests).args(), pack_signatures(self._signatures)
        )

    async def simulate(self, requests: Sequence[TransactionRequest]) -> BatchSimulation:
        """Refuse calls that differ from what the owners signed; else simulate execTransaction
        from the agent's address."""
        changed = self._changed(requests)
        if changed is not None:
            return BatchSimulation(success=False, gas_estimate=0, revert_reason=changed)
        return await super().simulate(requests)


class RevocationSender(OwnerSignedBatchSender):
    """Sends the owners' revocation of the agent's role: `execTransaction` on the Safe calling
    the Roles Modifier directly (one CALL, as `propose_stop` built it), not through MultiSend."""

    def _safe_tx(self, requests: Sequence[TransactionRequest]) -> SafeTx:
        [call] = requests
        return SafeTx(
            to=self._w3.to_checksum_address(call.to),
            data=bytes.fromhex(call.data[2:]),
            nonce=self._proposal.nonce,
        )


def _owner_proposal(proposal: Proposal) -> OwnerProposal:
    return OwnerProposal(
        safe=proposal.safe,
        safe_tx_hash="0x" + proposal.safe_tx_hash.hex(),
        nonce=proposal.tx.nonce,
        threshold=proposal.threshold,
        owners=proposal.owners,
        transaction=SafeTransaction(
            to=proposal.tx.to,
            value=proposal.tx.value,
            data="0x" + proposal.tx.data.hex(),
            operation=int(proposal.tx.operation),
        ),
    )


class SafeOwnerProposals:
    """Proposals on one Safe, checked against its owners, executed by the agent (sent the way
    `scope`, the agent's scoped batch sender, sends)."""

    def __init__(
        self, w3: AsyncWeb3[Any], *, chain_id: int, safe: str, scope: RolesBatchSender
    ) -> None:
        self._w3 = w3
        self._chain_id = chain_id
        self._safe = safe
        self._scope = scope
        self._multisend = scope._multisend

    async def propose(self, requests: tuple[TransactionRequest, ...]) -> OwnerProposal:
        """The plan's calls as one Safe transaction at the Safe's next nonce."""
        try:
            proposal = await propose_plan(self._w3, self._safe, self._multisend, requests)
        except (Web3Exception, SafeDeploymentFailed, OSError) as exc:
            raise RpcUnavailable("the Safe", f"could not make a proposal: {exc}") from exc
        return _owner_proposal(proposal)

    async def propose_revocation(self) -> OwnerProposal:
        """The Safe transaction taking the agent's role away, at the Safe's next nonce."""
        try:
            proposal = await propose_stop(
                self._w3, self._safe, self._scope._roles, self._scope._signer.address
            )
        except (Web3Exception, SafeDeploymentFailed, OSError) as exc:
            raise RpcUnavailable("the Safe", f"could not propose the revocation: {exc}") from exc
        return _owner_proposal(proposal)

    def _revocation_call(self) -> TransactionRequest:
        """The Safe's call taking the agent's role away, as `propose_stop` builds it."""
        roles = self._scope._roles
        data = roles_contract(self._w3, roles.roles).encode_abi(
            "assignRoles",
            [self._w3.to_checksum_address(self._scope._signer.address), [roles.role_key], [False]],
        )
        return TransactionRequest(
            chain_id=self._chain_id,
            to=roles.roles,
            data=data,
            kind=StepKind.TRANSFER,
            description="take the agent's role away (emergency stop)",
        )

    def revocation_to_sign(self, proposal: OwnerProposal) -> SafeTransactionToSign:
        """The revocation as the owners' wallets sign it; refused when it no longer hashes to
        the proposal's safeTxHash."""
        call = self._revocation_call()
        tx = SafeTx(
            to=self._w3.to_checksum_address(call.to),
            data=bytes.fromhex(call.data[2:]),
            nonce=proposal.nonce,
        )
        now = "0x" + safe_tx_hash(self._chain_id, proposal.safe, tx).hex()
        if now != proposal.safe_tx_hash:
            raise ProposalChanged(
                f"the revocation now hashes to {now}, not to {proposal.safe_tx_hash}; "
                "lift the emergency stop and press it again to prepare a new one"
            )
        agent = self._w3.to_checksum_address(self._scope._signer.address)
        return SafeTransactionToSign(
            to=tx.to,
            data=call.data,
            operation=int(tx.operation),
            summary=(
                f"The Safe {proposal.safe} calls assignRoles({agent}, "
                f"[0x{self._scope._roles.role_key.hex()}], [false]) on its Roles Modifier {tx.to}: "
                "the agent loses its role and can execute nothing through its scope."
            ),
            typed_data=typed_data_json(self._chain_id, proposal.safe, tx),
        )

    async def revoke(self, proposal: OwnerProposal, signatures: Mapping[str, bytes]) -> SendReceipt:
        """Execute the signed revocation once (journaled under its safeTxHash); its simulation
        fails if the call no longer hashes to what the owners signed."""
        sender = RevocationSender(
            self._scope, proposal=proposal, signatures=signatures, chain_id=self._chain_id
        )
        return await sender.send(
            (self._revocation_call(),), "revoke-agent-" + proposal.safe_tx_hash
        )

    async def _nonce(self) -> int:
        try:
            return int(await safe_contract(self._w3, self._safe).functions.nonce().call())
        except (Web3Exception, OSError) as exc:
            raise RpcUnavailable("the Safe", f"could not read its nonce: {exc}") from exc

    async def standing(
        self, proposal: OwnerProposal, requests: tuple[TransactionRequest, ...] | None = None
    ) -> str | None:
        """Why the proposal can no longer execute as signed (its nonce used, or `requests` no
        longer hash to its safeTxHash); None while it stands."""
        nonce = await self._nonce()
        if nonce > proposal.nonce:
            return f"the Safe's nonce is {nonce}: nonce {proposal.nonce} has been used"
        if requests is None:
            return None
        sender = OwnerSignedBatchSender(
            self._scope, proposal=proposal, signatures={}, chain_id=self._chain_id
        )
        return sender._changed(requests)

    async def propose_cancel(self, proposal: OwnerProposal) -> OwnerProposal:
        """The no-op Safe transaction (to the Safe, value 0, no data) at `proposal`'s nonce."""
        at = Proposal(
            safe=self._w3.to_checksum_address(proposal.safe),
            chain_id=self._chain_id,
            tx=SafeTx(to=self._w3.to_checksum_address(proposal.safe), nonce=proposal.nonce),
            owners=proposal.owners,
            threshold=proposal.threshold,
        )
        try:
            cancel = await propose_cancel(self._w3, at)
        except (Web3Exception, SafeDeploymentFailed, OSError) as exc:
            raise RpcUnavailable("the Safe", f"could not propose the cancellation: {exc}") from exc
        return _owner_proposal(cancel)

    async def cancel(
        self, cancellation: OwnerProposal, signatures: Mapping[str, bytes]
    ) -> SendReceipt:
        """Execute the signed no-op once (journaled under its safeTxHash); its simulation fails
        if it no longer hashes to what the owners signed or the nonce is used."""
        call = TransactionRequest(
            chain_id=self._chain_id,
            to=cancellation.safe,
            data="0x",
            kind=StepKind.TRANSFER,
            description=f"no-op at Safe nonce {cancellation.nonce} (clears a proposal)",
        )
        # A single CALL like the revocation: to the Safe itself with no data.
        sender = RevocationSender(
            self._scope, proposal=cancellation, signatures=signatures, chain_id=self._chain_id
        )
        return await sender.send((call,), "cancel-" + cancellation.safe_tx_hash)

    def signer_of(self, proposal: OwnerProposal, signature: bytes) -> str:
        """The owner who made `signature` over the proposal's safeTxHash."""
        if len(signature) != 65:
            raise SignatureRefused(f"a signature is 65 bytes (r, s, v), not {len(signature)}")
        try:
            signer = signer_of(bytes.fromhex(proposal.safe_tx_hash[2:]), signature)
        except ValueError as exc:
            raise SignatureRefused(f"not a valid signature ({exc})") from None
        if signer not in proposal.owners:
            raise SignatureRefused(f"{signer} is not an owner of the Safe {proposal.safe}")
        return signer

    def sender(self, proposal: OwnerProposal, signatures: Mapping[str, bytes]) -> PlanBatchSender:
        """The sender of exactly this proposal with the owners' signatures."""
        return OwnerSignedBatchSender(
            self._scope, proposal=proposal, signatures=signatures, chain_id=self._chain_id
        )
