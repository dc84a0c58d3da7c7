"""The emergency stop's second line under Safe custody: the owners revoke the agent's role.

The stop itself takes effect at once (the flag blocks every plan). Turning it on also prepares
the owners' Safe transaction that takes the agent's role away in the Roles Modifier; once enough
owners have signed it, the agent submits it and, from the next block, can execute nothing
through its scope, whatever the service does. The proposal, each owner's signature (audited,
with the signer's address, before it counts) and the execution live in the sealed audit trail
of the emergency stop flag, and are read back from there. Lifting the stop drops a revocation
nobody has executed yet.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from application.errors import ApplicationError, require_found
from application.owners import OwnersSigning, proposal_from, proposal_record
from application.ports.chain import SimulationFailed
from application.ports.clock import Clock
from application.ports.owners import (
    OwnerProposals,
    RoleRevocation,
    SafeTransactionToSign,
    SignatureRefused,
)
from application.ports.persistence import EMERGENCY_STOP, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

PROPOSED = "emergency_stop.revoke_proposed"
SIGNED = "emergency_stop.revoke_signed"
REVOKED = "emergency_stop.agent_revoked"
_ENDS = (REVOKED, "emergency_stop.off")
_PENDING = ("revocation of the agent's role", "pending")


class PendingRevocation(OwnersSigning):
    """The revocation waiting for the owners, and their signatures so far."""


async def pending_revocation(uow: UnitOfWork) -> PendingRevocation | None:
    """The latest revocation not yet executed nor dropped by lifting the stop, with its
    signatures, read from the flag's audit trail."""
    found: PendingRevocation | None = None
    for entry in await uow.audit.for_subject("flag", EMERGENCY_STOP):
        payload = entry.payload
        if entry.action == PROPOSED:
            found = PendingRevocation(proposal=proposal_from(payload), signatures={})
        elif entry.action in _ENDS:
            found = None
        elif entry.action == SIGNED and found is not None:
            found.keep(payload)
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class RevocationToSign:
    """The pending revocation and what the owners' wallets sign for it."""

    pending: PendingRevocation
    transaction: SafeTransactionToSign


@dataclass(frozen=True, slots=True, kw_only=True)
class RevocationOutcome:
    """What an owner's signature over the revocation did."""

    signer: str
    signers: tuple[str, ...]
    threshold: int
    safe_tx_hash: str
    executed: bool
    """The threshold was met and the revocation succeeded on chain (else see `error`)."""
    tx_hash: str | None = None
    error: str | None = None


def _signer(
    owners: OwnerProposals, found: PendingRevocation, signature: bytes, signer: str | None
) -> str:
    """The owner who made `signature` over the revocation; when the approver named `signer`,
    a signature that is not that owner's is refused saying what to sign.

    Raises:
        SignatureRefused: not a current owner's signature, or not `signer`'s.
    """
    hint = (
        f"sign the EIP-712 typed data of safeTxHash {found.proposal.safe_tx_hash} "
        f"(GET /emergency-stop/revocation) with {signer}'s key"
    )
    try:
        recovered = owners.signer_of(found.proposal, signature)
    except SignatureRefused as exc:
        if signer is None:
            raise
        raise SignatureRefused(f"{exc}; {hint}") from None
    if signer is not None and recovered.lower() != signer.lower():
        raise SignatureRefused(f"the signature recovers to {recovered}, not to {signer}: {hint}")
    return recovered


class RevokeAgentRole:
    """Prepare, show and sign the owners' revocation of the agent's role."""

    def __init__(
        self,
        *,
        clock: Clock,
        uow: UnitOfWorkFactory,
        owners: OwnerProposals,
        revocation: RoleRevocation,
    ) -> None:
        self._clock = clock
        self._uow = uow
        self._owners = owners
        self._revocation = revocation

    async def pending(self) -> PendingRevocation:
        """The revocation waiting for the owners.

        Raises:
            NotFound: none is waiting.
        """
        async with self._uow() as uow:
            return require_found(await pending_revocation(uow), *_PENDING)

    async def to_sign(self) -> RevocationToSign:
        """The revocation waiting for the owners, with the call and the EIP-712 typed data
        their wallets sign.

        Raises:
            NotFound: none is waiting.
            ProposalChanged: the revocation built now no longer hashes to the safeTxHash.
        """
        pending = await self.pending()
        return RevocationToSign(
            pending=pending, transaction=self._revocation.revocation_to_sign(pending.proposal)
        )

    async def propose(self, actor: str) -> PendingRevocation | None:
        """Prepare the revocation (unless one is already pending), audited; None when the
        Safe could not be asked (logged: the stop holds without it)."""
        async with self._uow() as uow:
            found = await pending_revocation(uow)
        if found is not None:
            return found
        try:
            proposal = await self._revocation.propose_revocation()
        except ApplicationError as exc:
            log.warning("the agent's revocation could not be proposed", extra={"reason": str(exc)})
            return None
        async with self._uow() as uow:
            await self._record(uow, actor, PROPOSED, proposal_record(proposal))
            await uow.commit()
        return PendingRevocation(proposal=proposal, signatures={})

    async def sign(
        self, signature: bytes, *, submitted_by: str, signer: str | None = None
    ) -> RevocationOutcome:
        """Check, audit (before it counts) and keep an owner's signature; at the threshold,
        execute the revocation once and audit it. `signer`, when given, is the owner the
        signature must come from.

        Raises:
            NotFound: no revocation is pending.
            SignatureRefused: the signature is not a current owner's over the revocation, or
                not `signer`'s.
        """
        async with self._uow() as uow:
            found = require_found(await pending_revocation(uow), *_PENDING)
            signer = _signer(self._owners, found, signature, signer)
            if signer not in found.signatures:
                signed = "0x" + signature.hex()
                # Audited before it counts: the entry names the owner who signed.
                record = {
                    "signer": signer,
                    "safe_tx_hash": found.proposal.safe_tx_hash,
                    "nonce": found.proposal.nonce,
                    "signature": signed,
                }
                await self._record(uow, submitted_by, SIGNED, record)
                await uow.commit()
                found.signatures[signer] = signed
        outcome = RevocationOutcome(
            signer=signer,
            signers=found.signers,
            threshold=found.proposal.threshold,
            safe_tx_hash=found.proposal.safe_tx_hash,
            executed=False,
        )
        if not found.ready:
            return outcome
        return await self._execute(found, outcome, submitted_by)

    async def _execute(
        self, found: PendingRevocation, outcome: RevocationOutcome, actor: str
    ) -> RevocationOutcome:
        """Submit the signed revocation; audit it once it is mined and succeeded."""
        signatures = {s: bytes.fromhex(sig[2:]) for s, sig in found.signatures.items()}
        try:
            receipt = await self._revocation.revoke(found.proposal, signatures)
        except SimulationFailed as exc:
            log.warning("the agent's revocation failed its simulation", extra={"reason": str(exc)})
            return replace(outcome, error=str(exc))
        if not receipt.success:
            return replace(outcome, tx_hash=receipt.tx_hash, error="the revocation reverted")
        record = {
            "safe_tx_hash": found.proposal.safe_tx_hash,
            "signers": list(found.signers),
            "tx_hash": receipt.tx_hash,
            "block_number": receipt.block_number,
        }
        async with self._uow() as uow:
            await self._record(uow, actor, REVOKED, record)
            await uow.commit()
        return replace(outcome, executed=True, tx_hash=receipt.tx_hash)

    async def _record(
        self, uow: UnitOfWork, actor: str, action: str, payload: Mapping[str, object]
    ) -> None:
        """Audit a step of the revocation on the emergency stop flag; the caller commits."""
        await uow.audit.append(actor, action, "flag", EMERGENCY_STOP, payload, at=self._clock.now())
