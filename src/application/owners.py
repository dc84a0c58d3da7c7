"""Owners sign the big moves (Safe custody): a pending decision's plan becomes a Safe proposal,
owners' signatures are checked, audited and kept, and the threshold executes the plan once.

The proposal and every signature live in the sealed audit trail of the decision
(`decision.proposed_to_owners`, `decision.owner_signed`): each is written, with the signer's
address, before it takes effect, and read back from there. Once enough owners have signed, the
decision is approved in the owners' names and executed by `ExecuteApprovedDecision` (the safety
policy re-checked) through a batch sender that submits exactly the signed Safe transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from application.approvals import ApprovedExecution
from application.cycle import CycleCommand, CycleResult
from application.errors import ApplicationError
from application.execution import ExecutionReport
from application.ports.chain import PlanBatchSender, TransactionRequest
from application.ports.clock import Clock
from application.ports.owners import (
    OwnerProposal,
    OwnerProposals,
    OwnersMustSign,
    ProposalUpkeep,
    SafeTransaction,
)
from application.ports.persistence import UnitOfWork, UnitOfWorkFactory
from application.read_model import DecisionCycle
from domain.decisions import Decision, DecisionStatus
from domain.errors import DecisionNotPending, DomainError
from domain.execution import ExecutedTransaction
from domain.plans import RebalancingPlan

log = logging.getLogger(__name__)

PROPOSED = "decision.proposed_to_owners"
SIGNED = "decision.owner_signed"


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnersSigning:
    """An owners' proposal and their signatures so far (signer -> 0x signature)."""

    proposal: OwnerProposal
    signatures: dict[str, str]

    @property
    def signers(self) -> tuple[str, ...]:
        """Who has signed, in the order they signed."""
        return tuple(self.signatures)

    @property
    def ready(self) -> bool:
        """Enough distinct owners have signed."""
        return len(self.signatures) >= self.proposal.threshold

    def keep(self, signed: Mapping[str, object]) -> None:
        """Keep a signature the audit trail recorded (signer, signature), if it is over this
        proposal's safeTxHash."""
        if signed.get("safe_tx_hash") == self.proposal.safe_tx_hash:
            self.signatures[str(signed["signer"])] = str(signed["signature"])


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerApproval(OwnersSigning):
    """A decision's proposal and the owners' signatures so far."""

    decision_id: str


def proposal_from(payload: Mapping[str, object]) -> OwnerProposal:
    """The owners' proposal an audit entry recorded (safe, safe_tx_hash, nonce, threshold,
    owners)."""
    owners = payload["owners"]
    tx = payload.get("transaction")
    return OwnerProposal(
        safe=str(payload["safe"]),
        safe_tx_hash=str(payload["safe_tx_hash"]),
        nonce=int(str(payload["nonce"])),
        threshold=int(str(payload["threshold"])),
        owners=tuple(str(o) for o in owners) if isinstance(owners, list) else (),
        transaction=SafeTransaction(
            to=str(tx["to"]),
            value=int(str(tx["value"])),
            data=str(tx["data"]),
            operation=int(str(tx["operation"])),
        )
        if isinstance(tx, dict)
        else None,
    )


def proposal_record(proposal: OwnerProposal) -> dict[str, object]:
    """What the audit trail keeps of an owners' proposal (read back by `proposal_from`): with
    the Safe transaction itself, so an owner can check it and propose it in the Safe app."""
    record: dict[str, object] = {
        "safe": proposal.safe,
        "safe_tx_hash": proposal.safe_tx_hash,
        "nonce": proposal.nonce,
        "threshold": proposal.threshold,
        "owners": list(proposal.owners),
    }
    tx = proposal.transaction
    if tx is not None:
        record["transaction"] = {
            "to": tx.to,
            "value": str(tx.value),
            "data": tx.data,
            "operation": tx.operation,
        }
    return record


async def owner_approval(uow: UnitOfWork, decision_id: str) -> OwnerApproval | None:
    """The decision's latest proposal and its signatures, read from the audit trail."""
    found: OwnerApproval | None = None
    for entry in await uow.audit.for_subject("decision", decision_id):
        payload = entry.payload
        if entry.action == PROPOSED:
            found = OwnerApproval(
                decision_id=decision_id, proposal=proposal_from(payload), signatures={}
            )
        elif entry.action == SIGNED and found is not None:
            found.keep(payload)
    return found


class PlanBuilder(Protocol):
    """Turns a plan into the on-chain calls that would carry it out, sending nothing."""

    async def build_plan(self, plan: RebalancingPlan) -> tuple[TransactionRequest, ...]:
        """Every move's requests in order.

        Raises:
            ApplicationError, DomainError: the plan cannot be built now.
        """
        ...


class ProposeToOwners:
    """Give every pending decision with a plan its Safe proposal, and a new one when the old
    can no longer execute as signed (with `upkeep`): the Safe's nonce moved past it, or the
    plan's calls changed. The new proposal (new safeTxHash, at the Safe's next nonce) is
    audited naming the one it replaces and why; signatures over the old one do not carry
    over."""

    def __init__(
        self,
        *,
        clock: Clock,
        uow: UnitOfWorkFactory,
        builder: PlanBuilder,
        owners: OwnerProposals,
        upkeep: ProposalUpkeep | None = None,
    ) -> None:
        self._clock = clock
        self._uow = uow
        self._builder = builder
        self._owners = owners
        self._upkeep = upkeep

    async def execute(self) -> list[str]:
        """Propose what is pending; returns the decision ids proposed (or proposed anew) now.
        A plan that cannot be built as one batch is left as it is, with the reason logged."""
        async with self._uow() as uow:
            waiting: list[tuple[Decision, RebalancingPlan, OwnerApproval | None]] = []
            for decision in await uow.decisions.list_by_status(DecisionStatus.PENDING):
                if decision.plan_id is None:
                    continue
                found = await owner_approval(uow, decision.id)
                if found is None or self._upkeep is not None:
                    plan = await uow.plans.get(decision.plan_id)
                    waiting.append((decision, plan, found))
        return [d.id for d, plan, found in waiting if await self._propose(d, plan, found)]

    async def _propose(
        self, decision: Decision, plan: RebalancingPlan, found: OwnerApproval | None
    ) -> bool:
        """Propose the plan unless `found` (its proposal) still stands; audited."""
        why: str | None = None
        try:
            requests = await self._builder.build_plan(plan)
            if found is not None and self._upkeep is not None:
                why = await self._upkeep.standing(found.proposal, requests)
                if why is None:
                    return False
            proposal = await self._owners.propose(requests)
        except (ApplicationError, DomainError) as exc:
            log.warning(
                "no owners' proposal for a pending decision",
                extra={"decision_id": decision.id, "reason": str(exc)},
            )
            return False
        record: dict[str, object] = {
            "plan_id": plan.plan_id,
            **proposal_record(proposal),
            "calls": [{"to": r.to, "what": r.description} for r in requests],
        }
        if found is not None:
            record |= {"replaces": found.proposal.safe_tx_hash, "reason": why}
        async with self._uow() as uow:
            await uow.audit.append(
                "engine", PROPOSED, "decision", decision.id, record, at=self._clock.now()
            )
            await uow.commit()
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureOutcome:
    """What an owner's signature did."""

    decision_id: str
    signer: str
    signers: tuple[str, ...]
    threshold: int
    safe_tx_hash: str
    report: ExecutionReport | None = None


class SignaturePublisher(Protocol):
    """Passes an owner's signature received here on to where other owners sign (a Safe
    Transaction Service)."""

    async def publish(self, approval: OwnerApproval, signer: str, signature: bytes) -> None:
        """Publish the proposal with this owner's signature; failures are the publisher's to
        log (never raised)."""
        ...


class SubmitOwnerSignature:
    """Keep an owner's signature over a pending decision's proposal; at the threshold, approve
    the decision in the owners' names and execute the signed Safe transaction once."""

    def __init__(
        self,
        *,
        clock: Clock,
        uow: UnitOfWorkFactory,
        owners: OwnerProposals,
        execute_with: Callable[[PlanBatchSender], ApprovedExecution],
        publisher: SignaturePublisher | None = None,
    ) -> None:
        self._clock = clock
        self._uow = uow
        self._owners = owners
        self._execute_with = execute_with
        self._publisher = publisher

    async def execute(
        self, decision_id: str, signature: bytes, *, submitted_by: str, publish: bool = True
    ) -> SignatureOutcome:
        """Check, audit and keep the signature; execute at the threshold. A new signature
        below the threshold is published (when a publisher is given and `publish`).

        Raises:
            NotFound: no such decision.
            DecisionNotPending: it is no longer pending (an expired one is expired first).
            OwnersMustSign: the decision has no owners' proposal.
            SignatureRefused: the signature is not a current owner's over the proposal.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            decision = await uow.decisions.get(decision_id)
            if decision.status is not DecisionStatus.PENDING:
                raise DecisionNotPending(decision_id, decision.status.value, "signed")
            if decision.is_expired(now):
                raise DecisionNotPending(decision_id, "past its approval window", "signed")
            found = await owner_approval(uow, decision_id)
            if found is None:
                raise OwnersMustSign(decision_id, "it has no owners' proposal to sign yet")
            signer = self._owners.signer_of(found.proposal, signature)
            new = signer not in found.signatures
            if new:
                await self._count(uow, decision, found, signer, signature, submitted_by, now)
                await uow.commit()
        if new and publish and not found.ready and self._publisher is not None:
            await self._publisher.publish(found, signer, signature)
        report = None
        if found.ready:
            signatures = {s: bytes.fromhex(sig[2:]) for s, sig in found.signatures.items()}
            execution = self._execute_with(self._owners.sender(found.proposal, signatures))
            report = await execution.execute(decision_id)
        return SignatureOutcome(
            decision_id=decision_id,
            signer=signer,
            signers=found.signers,
            threshold=found.proposal.threshold,
            safe_tx_hash=found.proposal.safe_tx_hash,
            report=report,
        )

    async def _count(
        self,
        uow: UnitOfWork,
        decision: Decision,
        found: OwnerApproval,
        signer: str,
        signature: bytes,
        submitted_by: str,
        now: datetime,
    ) -> None:
        """Audit a new owner's signature (before it counts), keep it, and approve the decision
        in the owners' names once the threshold is met. The caller commits."""
        decision_id = decision.id
        # Audited before it counts: the entry names the owner who signed.
        await uow.audit.append(
            submitted_by,
            SIGNED,
            "decision",
            decision_id,
            {
                "signer": signer,
                "safe_tx_hash": found.proposal.safe_tx_hash,
                "nonce": found.proposal.nonce,
                "signature": "0x" + signature.hex(),
            },
            at=now,
        )
        found.signatures[signer] = "0x" + signature.hex()
        if found.ready:
            approved = decision.approve(
                "owners " + ", ".join(found.signers),
                f"signed by {len(found.signers)} of the Safe's owners",
                now,
            )
            await uow.decisions.update(approved)
            await uow.audit.append(
                submitted_by,
                "decision.approved",
                "decision",
                decision_id,
                {
                    "plan_id": decision.plan_id,
                    "signers": list(found.signers),
                    "safe_tx_hash": found.proposal.safe_tx_hash,
                },
                at=now,
            )


class BatchRunner(Protocol):
    """A plan runner that can send one plan through a given batch sender (the engine)."""

    async def execute(
        self, plan: RebalancingPlan, decision_id: str, *, batch: PlanBatchSender | None = None
    ) -> ExecutionReport:
        """Run the plan, through `batch` when given."""
        ...

    async def reconcile(self) -> list[ExecutedTransaction]:
        """Settle signed-but-unconfirmed steps."""
        ...


class ThroughBatch:
    """A PlanRunner that runs every plan through one batch sender (the owners' proposal)."""

    def __init__(self, runner: BatchRunner, batch: PlanBatchSender) -> None:
        self._runner = runner
        self._batch = batch

    async def execute(self, plan: RebalancingPlan, decision_id: str) -> ExecutionReport:
        """Run the plan as the one signed batch."""
        return await self._runner.execute(plan, decision_id, batch=self._batch)

    async def reconcile(self) -> list[ExecutedTransaction]:
        """Settle signed-but-unconfirmed steps (the runner's own)."""
        return await self._runner.reconcile()


class ProposingCycle:
    """The decision cycle, then a Safe proposal for any decision it left pending."""

    def __init__(
        self,
        *,
        cycle: DecisionCycle,
        propose: ProposeToOwners,
        sweep: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._cycle = cycle
        self._propose = propose
        self._sweep = sweep

    async def execute(self, command: CycleCommand) -> CycleResult:
        """Run the cycle, then `sweep` (the cancellations of closed decisions' proposals), then
        propose what waits for the owners (see `ProposeToOwners`)."""
        result = await self._cycle.execute(command)
        if self._sweep is not None:
            await self._sweep()
        proposed = await self._propose.execute()
        if proposed:
            log.info("proposed to the Safe's owners", extra={"decisions": proposed})
        return result


class ReadOwnerApprovals:
    """The proposals and signatures of decisions, for the API and the dashboard."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def of(self, decision_ids: list[str]) -> dict[str, OwnerApproval]:
        """Each decision's proposal and signatures so far (decisions without one are left
        out)."""
        found: dict[str, OwnerApproval] = {}
        async with self._uow() as uow:
            for decision_id in decision_ids:
                approval = await owner_approval(uow, decision_id)
                if approval is not None:
                    found[decision_id] = approval
        return found
