"""An expired or rejected decision's Safe proposal can never execute later: its nonce is cleared.

Owners' signatures over a proposal stay valid on chain until its Safe nonce is used. When a
decision with a proposal expires or is rejected, the service proposes a no-op Safe transaction
(to the Safe itself, value 0, no data) at that nonce (`decision.cancel_proposed`, audited with
the safeTxHash it cancels). The sweep after each cycle does the same for a decision that ran or
failed without its proposal's nonce being used (its execution refused at simulation, or the
plan run through the agent's scope), and for one whose cancellation could not be proposed at
once. The owners sign it through the decision's signatures route; each signature is audited
(`decision.cancel_signed`, the signer's address) before it counts, and at the threshold the
agent submits it (`decision.cancel_sending` first, then simulated, journaled and sent once;
`decision.proposal_cancelled` once mined). From then on the nonce is used and the old
proposal's signatures fail on chain (GS026). A cancellation whose nonce another Safe
transaction used first is dropped (`decision.cancel_dropped`): the old proposal can no longer
execute either way; so is the need for one when the nonce is found used before any was proposed.

Every step is audited on one subject, `owners`/`cancellations`, naming the decision in its
payload: one read gives every cancellation still waiting, however many decisions came since.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from application.errors import ApplicationError, NotFound
from application.owners import OwnerApproval, owner_approval, proposal_from, proposal_record
from application.ports.chain import SimulationFailed
from application.ports.clock import Clock
from application.ports.owners import OwnerProposals, ProposalUpkeep
from application.ports.persistence import UnitOfWork, UnitOfWorkFactory
from domain.decisions import Decision, DecisionStatus
from domain.errors import DomainError

log = logging.getLogger(__name__)

PROPOSED = "decision.cancel_proposed"
SIGNED = "decision.cancel_signed"
SENDING = "decision.cancel_sending"
CANCELLED = "decision.proposal_cancelled"
DROPPED = "decision.cancel_dropped"
SUBJECT_TYPE = "owners"
SUBJECT_ID = "cancellations"
_CLOSED = frozenset(
    {
        DecisionStatus.EXPIRED,
        DecisionStatus.REJECTED,
        DecisionStatus.EXECUTED,
        DecisionStatus.PARTIALLY_EXECUTED,
        DecisionStatus.FAILED,
    }
)
"""Decisions whose proposal must never execute: expired and rejected ones, and those that ran
or failed otherwise (a proposal the owners signed but whose execution was refused, or a plan
the leader's sweep ran through the agent's scope) while its nonce is still free."""
_RECENT = 20
"""How many of the newest decisions `sweep` looks at for a cancellation not yet proposed (it
runs after every cycle, and a cycle makes at most one decision)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerCancellation(OwnerApproval):
    """The no-op that clears a closed decision's proposal, and the owners' signatures so far."""

    cancels: str
    """The safeTxHash of the proposal whose nonce it uses."""


@dataclass(slots=True, kw_only=True)
class _Trail:
    settled: bool = False
    """A cancellation was proposed (open or not), or none was needed."""
    open: OwnerCancellation | None = None


async def _trails(uow: UnitOfWork) -> dict[str, _Trail]:
    """Each decision's cancellation as the audit trail tells it, by decision id."""
    trails: dict[str, _Trail] = {}
    for entry in await uow.audit.for_subject(SUBJECT_TYPE, SUBJECT_ID):
        payload = entry.payload
        decision_id = str(payload["decision_id"])
        trail = trails.setdefault(decision_id, _Trail())
        if entry.action == PROPOSED:
            trail.settled = True
            trail.open = OwnerCancellation(
                decision_id=decision_id,
                proposal=proposal_from(payload),
                signatures={},
                cancels=str(payload["cancels"]),
            )
        elif entry.action in (CANCELLED, DROPPED):
            trail.settled = True
            trail.open = None
        elif entry.action == SIGNED and trail.open is not None:
            trail.open.keep(payload)
    return trails


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOutcome:
    """What an owner's signature over a cancellation did."""

    decision_id: str
    signer: str
    signers: tuple[str, ...]
    threshold: int
    safe_tx_hash: str
    executed: bool
    """The threshold was met and the no-op was submitted (see `succeeded`)."""
    succeeded: bool | None = None
    error: str | None = None


class CancelOwnerProposals:
    """Propose, show, sign and execute the no-op that clears a closed decision's proposal."""

    def __init__(
        self,
        *,
        clock: Clock,
        uow: UnitOfWorkFactory,
        owners: OwnerProposals,
        upkeep: ProposalUpkeep,
    ) -> None:
        self._clock = clock
        self._uow = uow
        self._owners = owners
        self._upkeep = upkeep

    async def clear(self, decision_id: str, actor: str) -> OwnerCancellation | None:
        """Propose the cancellation of an expired or rejected decision's proposal, audited.
        None when there is nothing to clear (no proposal; its nonce already used, audited as
        dropped) or the Safe could not be asked (logged; `sweep` tries again). Asked again,
        the open cancellation is returned."""
        async with self._uow() as uow:
            decision = await uow.decisions.get(decision_id)
            found = await owner_approval(uow, decision_id)
            trail = (await _trails(uow)).get(decision_id, _Trail())
        if decision.status not in _CLOSED or found is None or trail.settled:
            return trail.open
        try:
            used = await self._upkeep.standing(found.proposal)
            cancel = None if used else await self._upkeep.propose_cancel(found.proposal)
        except (ApplicationError, DomainError) as exc:
            log.warning(
                "the cancellation of a closed decision's proposal could not be proposed",
                extra={"decision_id": decision_id, "reason": str(exc)},
            )
            return None
        if cancel is None:
            dropped: dict[str, object] = {"cancels": found.proposal.safe_tx_hash, "reason": used}
            async with self._uow() as uow:
                await self._audit(uow, actor, DROPPED, decision_id, dropped)
                await uow.commit()
            return None
        record = {
            **proposal_record(cancel),
            "cancels": found.proposal.safe_tx_hash,
            "reason": f"the decision is {decision.status.value}",
        }
        async with self._uow() as uow:
            await self._audit(uow, actor, PROPOSED, decision_id, record)
            await uow.commit()
        return OwnerCancellation(
            decision_id=decision_id,
            proposal=cancel,
            signatures={},
            cancels=found.proposal.safe_tx_hash,
        )

    async def sweep(self, actor: str) -> list[str]:
        """Propose what `clear` could not (the Safe was unreachable) for the newest closed
        decisions, and drop open cancellations whose nonce another Safe transaction used;
        returns the decision ids whose cancellation was proposed now."""
        async with self._uow() as uow:
            trails = await _trails(uow)
            unsettled = [
                d.id
                for d in await uow.decisions.recent(_RECENT)
                if d.status in _CLOSED
                and d.id not in trails
                and await owner_approval(uow, d.id) is not None
            ]
        proposed: list[str] = []
        for decision_id in unsettled:
            if await self.clear(decision_id, actor) is not None:
                proposed.append(decision_id)
        for trail in trails.values():
            if trail.open is not None:
                await self._drop_if_used(trail.open, actor)
        return proposed

    async def _drop_if_used(self, cancel: OwnerCancellation, actor: str) -> None:
        try:
            used = await self._upkeep.standing(cancel.proposal)
        except ApplicationError as exc:
            log.warning("could not check a cancellation", extra={"reason": str(exc)})
            return
        if used is None:
            return
        async with self._uow() as uow:
            record = {"safe_tx_hash": cancel.proposal.safe_tx_hash, "reason": used}
            await self._audit(uow, actor, DROPPED, cancel.decision_id, record)
            await uow.commit()

    async def waiting(self) -> dict[str, Decision]:
        """The closed decisions whose cancellation waits for the owners, by id."""
        async with self._uow() as uow:
            return {
                decision_id: await uow.decisions.get(decision_id)
                for decision_id, trail in (await _trails(uow)).items()
                if trail.open is not None
            }

    async def of(self, decision_ids: Sequence[str]) -> dict[str, OwnerCancellation]:
        """Each decision's open cancellation (decisions without one are left out)."""
        async with self._uow() as uow:
            trails = await _trails(uow)
        return {
            i: trail.open
            for i in decision_ids
            if (trail := trails.get(i)) is not None and trail.open is not None
        }

    async def sign(self, decision_id: str, signature: bytes, *, submitted_by: str) -> CancelOutcome:
        """Check, audit (before it counts) and keep an owner's signature over the decision's
        cancellation; at the threshold, execute it once and audit it.

        Raises:
            NotFound: the decision has no cancellation waiting.
            SignatureRefused: the signature is not a current owner's over the cancellation.
        """
        async with self._uow() as uow:
            found = (await _trails(uow)).get(decision_id, _Trail()).open
            if found is None:
                raise NotFound("cancellation of decision", decision_id)
            signer = self._owners.signer_of(found.proposal, signature)
            if signer not in found.signatures:
                signed = "0x" + signature.hex()
                # Audited before it counts: the entry names the owner who signed.
                record = {
                    "signer": signer,
                    "safe_tx_hash": found.proposal.safe_tx_hash,
                    "nonce": found.proposal.nonce,
                    "signature": signed,
                }
                await self._audit(uow, submitted_by, SIGNED, decision_id, record)
                await uow.commit()
                found.signatures[signer] = signed
        outcome = CancelOutcome(
            decision_id=decision_id,
            signer=signer,
            signers=found.signers,
            threshold=found.proposal.threshold,
            safe_tx_hash=found.proposal.safe_tx_hash,
            executed=found.ready,
        )
        if not found.ready:
            return outcome
        return await self._execute(found, outcome, submitted_by)

    async def _execute(
        self, found: OwnerCancellation, outcome: CancelOutcome, actor: str
    ) -> CancelOutcome:
        """Audit, then submit the signed no-op; audit it once mined and successful."""
        record: dict[str, object] = {
            "safe_tx_hash": found.proposal.safe_tx_hash,
            "cancels": found.cancels,
            "nonce": found.proposal.nonce,
            "signers": list(found.signers),
        }
        async with self._uow() as uow:
            await self._audit(uow, actor, SENDING, found.decision_id, record)
            await uow.commit()
        signatures = {s: bytes.fromhex(sig[2:]) for s, sig in found.signatures.items()}
        try:
            receipt = await self._upkeep.cancel(found.proposal, signatures)
        except SimulationFailed as exc:
            log.warning("a cancellation failed its simulation", extra={"reason": str(exc)})
            return replace(outcome, succeeded=False, error=str(exc))
        if not receipt.success:
            return replace(
                outcome, succeeded=False, error=f"the cancellation {receipt.tx_hash} reverted"
            )
        record = {**record, "tx_hash": receipt.tx_hash, "block_number": receipt.block_number}
        async with self._uow() as uow:
            await self._audit(uow, actor, CANCELLED, found.decision_id, record)
            await uow.commit()
        return replace(outcome, succeeded=True)

    async def _audit(
        self,
        uow: UnitOfWork,
        actor: str,
        action: str,
        decision_id: str,
        payload: Mapping[str, object],
    ) -> None:
        """One step of the decision's cancellation, audited; the caller commits."""
        record = {"decision_id": decision_id, **payload}
        now = self._clock.now()
        await uow.audit.append(actor, action, SUBJECT_TYPE, SUBJECT_ID, record, at=now)
