"""Owners' signatures from a Safe Transaction Service (`TREASURY_SAFE_TX_SERVICE_URL`).

Owners who use the Safe app confirm a proposal on the Safe Transaction Service rather than
through this service's API. The leader polls the service for the confirmations of every
pending proposal and hands each new one to `SubmitOwnerSignature`, the use case behind
`POST /decisions/{id}/signatures`: the same check against the Safe's owners, the same audit
entry (naming the owner who signed) before it counts, and the same execution, once, at the
threshold. Nothing the service says is trusted: a confirmation whose signature does not
recover to a current owner over the proposal's safeTxHash is refused and audited
(`decision.service_signature_refused`, once per signature), never counted.

When the service cannot be read, one warning is logged (not one per sweep) and every proposal
stays pending as it was; the next sweep tries again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from application.errors import ApplicationError
from application.owners import OwnerApproval, SubmitOwnerSignature, owner_approval
from application.ports.clock import Clock
from application.ports.owners import (
    OwnersMustSign,
    ServiceConfirmation,
    SignatureRefused,
    TransactionService,
    TransactionServiceUnavailable,
)
from application.ports.persistence import UnitOfWorkFactory
from domain.decisions import DecisionStatus
from domain.errors import DecisionNotPending, DomainError

log = logging.getLogger(__name__)

REFUSED = "decision.service_signature_refused"
SERVICE_ACTOR = "safe-transaction-service"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Waiting:
    """A pending decision's proposal, its signers so far and the signatures already refused."""

    approval: OwnerApproval
    refused: frozenset[str]


class CollectServiceConfirmations:
    """Count the owners' confirmations a Safe Transaction Service holds for pending proposals."""

    def __init__(
        self,
        *,
        clock: Clock,
        uow: UnitOfWorkFactory,
        service: TransactionService,
        signatures: SubmitOwnerSignature,
    ) -> None:
        self._clock = clock
        self._uow = uow
        self._service = service
        self._signatures = signatures
        self._down: bool | None = None
        """None while the service answers; else whether the failure warned about was
        permanent (a malformed answer) or not (unreachable, 5xx)."""

    async def execute(self) -> list[str]:
        """One sweep; returns the ids of the decisions that got a new owner's signature."""
        signed: list[str] = []
        for waiting in await self._waiting():
            try:
                confirmations = await self._service.confirmations(waiting.approval.proposal)
            except TransactionServiceUnavailable as exc:
                self._went_down(exc)
                if exc.permanent:
                    continue  # an answer about this proposal was wrong; read the others
                return signed  # unreachable: the others would fail the same way
            self._came_back()
            if await self._count(waiting, confirmations):
                signed.append(waiting.approval.decision_id)
        return signed

    async def _waiting(self) -> list[_Waiting]:
        waiting: list[_Waiting] = []
        async with self._uow() as uow:
            for decision in await uow.decisions.list_by_status(DecisionStatus.PENDING):
                approval = await owner_approval(uow, decision.id)
                if approval is None:
                    continue
                refused = frozenset(
                    str(entry.payload.get("signature"))
                    for entry in await uow.audit.for_subject("decision", decision.id)
                    if entry.action == REFUSED
                )
                waiting.append(_Waiting(approval=approval, refused=refused))
        return waiting

    async def _count(
        self, waiting: _Waiting, confirmations: tuple[ServiceConfirmation, ...]
    ) -> bool:
        """Submit each confirmation not yet counted nor refused; True if one was counted."""
        approval, counted = waiting.approval, False
        known = {owner.lower() for owner in approval.signatures}
        for confirmation in confirmations:
            text = "0x" + confirmation.signature.hex()
            if confirmation.owner.lower() in known or text in waiting.refused:
                continue
            try:
                outcome = await self._signatures.execute(
                    approval.decision_id,
                    confirmation.signature,
                    submitted_by=SERVICE_ACTOR,
                    publish=False,  # it came from the service
                )
            except SignatureRefused as exc:
                await self._refused(approval, confirmation, str(exc))
                continue
            except (DecisionNotPending, OwnersMustSign):
                return counted  # settled meanwhile (threshold met, expired, rejected)
            known.add(outcome.signer.lower())
            counted = True
            if outcome.report is not None:
                return counted
        return counted

    async def _refused(
        self, approval: OwnerApproval, confirmation: ServiceConfirmation, reason: str
    ) -> None:
        """Audit a confirmation that is not a current owner's signature over the proposal."""
        log.warning(
            "a confirmation from the Safe Transaction Service was refused",
            extra={
                "decision_id": approval.decision_id,
                "claimed_owner": confirmation.owner,
                "reason": reason,
            },
        )
        async with self._uow() as uow:
            await uow.audit.append(
                SERVICE_ACTOR,
                REFUSED,
                "decision",
                approval.decision_id,
                {
                    "safe_tx_hash": approval.proposal.safe_tx_hash,
                    "claimed_owner": confirmation.owner,
                    "signature_type": confirmation.signature_type,
                    "signature": "0x" + confirmation.signature.hex(),
                    "reason": reason,
                },
                at=self._clock.now(),
            )
            await uow.commit()

    def _went_down(self, exc: TransactionServiceUnavailable) -> None:
        if self._down is exc.permanent:
            log.debug("the Safe Transaction Service is still down", extra={"error": str(exc)})
            return
        self._down = exc.permanent
        log.warning(
            "the Safe Transaction Service cannot be read (%s); owners' confirmations there "
            "wait and pending proposals stay as they are: check the service and "
            "TREASURY_SAFE_TX_SERVICE_URL",
            exc.reason,
            extra={"error": str(exc)},
        )

    def _came_back(self) -> None:
        if self._down is not None:
            self._down = None
            log.info("the Safe Transaction Service answers again")


class PublishWithOwnerSignature:
    """Publish a proposal on the Safe Transaction Service when an owner's signature arrives
    through the API: in that owner's name, with that signature (the service takes proposals
    only from owners or delegates, and the agent is neither). Failing to publish is logged;
    the signature already counts here."""

    def __init__(self, *, service: TransactionService) -> None:
        self._service = service

    async def publish(self, approval: OwnerApproval, signer: str, signature: bytes) -> None:
        """Publish `approval`'s proposal with `signer`'s `signature` (never raises)."""
        try:
            await self._service.propose(approval.proposal, sender=signer, signature=signature)
        except (TransactionServiceUnavailable, ApplicationError, DomainError) as exc:
            log.warning(
                "the proposal could not be published on the Safe Transaction Service; the "
                "owner's signature still counts here",
                extra={"decision_id": approval.decision_id, "error": str(exc)},
            )
            return
        log.info(
            "proposal published on the Safe Transaction Service",
            extra={"decision_id": approval.decision_id, "sender": signer},
        )
