"""What the Safe's owners sign: a big plan as one Safe transaction, the cancel of a proposal
that expired, and the emergency stop of the agent.

A `Proposal` is a Safe transaction at a fixed nonce: the plan's calls batched through
MultiSendCallOnly (DELEGATECALL). Owners sign its safeTxHash (EIP-712); each signature is checked
off-chain against the Safe's current owners before it is kept, and the proposal executes once the
threshold is met (simulated first). A proposal that expires is cancelled by a no-op Safe
transaction at the same nonce, so the signatures already given can never execute it.

The emergency stop is an owners' Safe transaction calling the Roles Modifier (which the Safe
owns) to take the agent's role away: from the next block the agent can execute nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from web3 import AsyncWeb3

from adapters.chain.safe.batch import encode_multisend
from adapters.chain.safe.contracts import artifact
from adapters.chain.safe.deploy import SafeDeploymentFailed, safe_contract
from adapters.chain.safe.roles import RolesDeployment, roles_contract
from adapters.chain.safe.transactions import (
    Operation,
    SafeTx,
    execute_with_signatures,
    next_safe_tx,
    safe_tx_hash,
    signer_of,
)
from application.ports.chain import TransactionRequest


class SignatureRefused(SafeDeploymentFailed):
    """A signature that does not come from one of the Safe's owners."""


@dataclass(slots=True, kw_only=True)
class Proposal:
    """A Safe transaction waiting for its owners' signatures."""

    safe: str
    chain_id: int
    tx: SafeTx
    owners: tuple[str, ...]
    threshold: int
    signatures: dict[str, bytes] = field(default_factory=dict)

    @property
    def safe_tx_hash(self) -> bytes:
        """The EIP-712 hash the owners sign."""
        return safe_tx_hash(self.chain_id, self.safe, self.tx)

    @property
    def ready(self) -> bool:
        """Enough distinct owners have signed."""
        return len(self.signatures) >= self.threshold

    def add_signature(self, signature: bytes) -> str:
        """Keep an owner's 65-byte signature over the safeTxHash; return the owner.

        Raises:
            SignatureRefused: not 65 bytes, or not made by one of the Safe's owners.
        """
        if len(signature) != 65:
            raise SignatureRefused("sign", "a signature is 65 bytes (r, s, v)")
        try:
            signer = signer_of(self.safe_tx_hash, signature)
        except ValueError as exc:
            raise SignatureRefused("sign", f"not a valid signature ({exc})") from None
        if signer not in self.owners:
            raise SignatureRefused("sign", f"{signer} is not an owner of the Safe {self.safe}")
        self.signatures[signer] = signature
        return signer


async def _proposal(w3: AsyncWeb3[Any], safe: str, tx: SafeTx) -> Proposal:
    contract = safe_contract(w3, safe)
    owners = tuple(str(o) for o in await contract.functions.getOwners().call())
    threshold = int(await contract.functions.getThreshold().call())
    return Proposal(
        safe=contract.address,
        chain_id=await w3.eth.chain_id,
        tx=tx,
        owners=owners,
        threshold=threshold,
    )


async def propose_plan(
    w3: AsyncWeb3[Any],
    safe: str,
    multi_send_call_only: str,
    requests: Sequence[TransactionRequest],
) -> Proposal:
    """A proposal to execute `requests` as one batch at the Safe's next nonce."""
    multisend = w3.eth.contract(
        address=w3.to_checksum_address(multi_send_call_only),
        abi=artifact("MultiSendCallOnly").abi,
    )
    data = multisend.encode_abi("multiSend", [encode_multisend(requests)])
    tx = await next_safe_tx(
        w3,
        safe,
        to=multisend.address,
        data=bytes.fromhex(data[2:]),
        operation=Operation.DELEGATE_CALL,
    )
    return await _proposal(w3, safe, tx)


async def propose_cancel(w3: AsyncWeb3[Any], proposal: Proposal) -> Proposal:
    """A no-op Safe transaction (to the Safe itself, no data) at `proposal`'s nonce."""
    tx = SafeTx(to=proposal.safe, nonce=proposal.tx.nonce)
    return await _proposal(w3, proposal.safe, tx)


async def propose_stop(
    w3: AsyncWeb3[Any], safe: str, roles: RolesDeployment, agent: str
) -> Proposal:
    """A proposal taking the agent's role away (the emergency stop in Safe mode)."""
    data = roles_contract(w3, roles.roles).encode_abi(
        "assignRoles", [w3.to_checksum_address(agent), [roles.role_key], [False]]
    )
    tx = await next_safe_tx(w3, safe, to=roles.roles, data=bytes.fromhex(data[2:]))
    return await _proposal(w3, safe, tx)


async def execute_proposal(w3: AsyncWeb3[Any], proposal: Proposal, *, sender: str) -> Any:
    """Execute a proposal whose threshold is met (simulated first); return the receipt.

    Raises:
        SafeDeploymentFailed: the threshold is not met, or simulation or execution failed.
    """
    if not proposal.ready:
        raise SafeDeploymentFailed(
            "execute proposal",
            f"{len(proposal.signatures)} of {proposal.threshold} owners have signed",
        )
    return await execute_with_signatures(
        w3, proposal.safe, proposal.tx, proposal.signatures, sender=sender, step="execute proposal"
    )
