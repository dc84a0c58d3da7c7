"""Owners sign the big moves, on fakes: the proposal after the cycle, a stranger refused with
nothing written, each owner's signature audited once and before it counts, the plan run once
at the threshold, the plain approval refused under Safe custody."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from application.approvals import ApprovalCommand, ApprovedExecution, DecideOnApproval
from application.cycle import CycleCommand, CycleOutcome
from application.execution import ExecutionReport
from application.owners import (
    SIGNED,
    ProposeToOwners,
    ProposingCycle,
    ReadOwnerApprovals,
    SubmitOwnerSignature,
)
from application.ports.chain import (
    BatchSimulation,
    PlanBatchSender,
    SendReceipt,
    StepKind,
    TransactionRequest,
)
from application.ports.owners import OwnerProposal, OwnersMustSign, SignatureRefused
from domain.decisions import DecisionStatus
from domain.errors import DecisionNotPending
from domain.plans import RebalancingPlan
from tests.unit.application.conftest import Treasury

OWNERS = ("0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20)


def signature_of(index: int) -> bytes:
    return bytes([index + 1]) * 65


class FakeOwnerProposals:
    """Owner i signs with 65 bytes of i + 1; anything else is a stranger's."""

    def __init__(self) -> None:
        self.proposed: list[tuple[TransactionRequest, ...]] = []

    async def propose(self, requests: tuple[TransactionRequest, ...]) -> OwnerProposal:
        self.proposed.append(requests)
        return OwnerProposal(
            safe="0x" + "5a" * 20,
            safe_tx_hash="0x" + "ab" * 32,
            nonce=7,
            threshold=2,
            owners=OWNERS,
        )

    def signer_of(self, proposal: OwnerProposal, signature: bytes) -> str:
        for index, owner in enumerate(proposal.owners):
            if signature == signature_of(index):
                return owner
        raise SignatureRefused(f"not an owner of the Safe {proposal.safe}")

    def sender(self, proposal: OwnerProposal, signatures: Mapping[str, bytes]) -> PlanBatchSender:
        return SignedBatch(proposal, dict(signatures))


class SignedBatch:
    def __init__(self, proposal: OwnerProposal, signatures: dict[str, bytes]) -> None:
        self.proposal = proposal
        self.signatures = signatures

    async def simulate(self, requests: tuple[TransactionRequest, ...]) -> BatchSimulation:
        return BatchSimulation(success=True, gas_estimate=1)

    async def send(self, requests: tuple[TransactionRequest, ...], batch_id: str) -> SendReceipt:
        raise AssertionError("the fake runner sends nothing itself")

    @property
    def accounts(self) -> dict[str, str]:
        return {"owners": ", ".join(self.signatures)}


class FakeBuilder:
    async def build_plan(self, plan: RebalancingPlan) -> tuple[TransactionRequest, ...]:
        return (
            TransactionRequest(
                chain_id=1, to="0x" + "01" * 20, data="0x", kind=StepKind.DEPOSIT, description="x"
            ),
        )


class RecordingExecution:
    """Runs the treasury's approved execution, noting the batch and the audit seen first."""

    def __init__(self, treasury: Treasury) -> None:
        self.treasury = treasury
        self.batches: list[SignedBatch] = []
        self.signed_before: list[list[str]] = []

    def __call__(self, batch: PlanBatchSender) -> ApprovedExecution:
        assert isinstance(batch, SignedBatch)
        self.batches.append(batch)
        return self

    async def execute(self, decision_id: str) -> ExecutionReport | None:
        async with self.treasury.uow() as uow:
            entries = await uow.audit.for_subject("decision", decision_id)
        self.signed_before.append([str(e.payload["signer"]) for e in entries if e.action == SIGNED])
        return await self.treasury.execute_approved.execute(decision_id)


async def test_two_owners_sign_and_the_plan_runs_once_a_stranger_writes_nothing(
    all_cash: Treasury,
) -> None:
    owners = FakeOwnerProposals()
    propose = ProposeToOwners(
        clock=all_cash.clock, uow=all_cash.uow, builder=FakeBuilder(), owners=owners
    )
    cycle = ProposingCycle(cycle=all_cash.cycle, propose=propose)
    execution = RecordingExecution(all_cash)
    sign = SubmitOwnerSignature(
        clock=all_cash.clock, uow=all_cash.uow, owners=owners, execute_with=execution
    )
    approve = DecideOnApproval(clock=all_cash.clock, uow=all_cash.uow, owners_sign=True)

    result = await cycle.execute(CycleCommand(requested_by="operator:abc"))
    assert result.outcome is CycleOutcome.PENDING_APPROVAL
    decision_id = result.decision.id
    assert await propose.execute() == []  # proposed once only
    assert len(owners.proposed) == 1
    [approval] = (await ReadOwnerApprovals(uow=all_cash.uow).of([decision_id])).values()
    assert (approval.proposal.nonce, approval.signers) == (7, ())

    with pytest.raises(OwnersMustSign, match=f"/decisions/{decision_id}/signatures"):
        await approve.execute(ApprovalCommand(decision_id=decision_id, approved=True, approver="a"))
    async with all_cash.uow() as uow:
        audit_count = len(await uow.audit.entries(limit=1000))
    with pytest.raises(SignatureRefused, match="not an owner"):
        await sign.execute(decision_id, b"\x09" * 65, submitted_by="approver:1")
    async with all_cash.uow() as uow:
        assert len(await uow.audit.entries(limit=1000)) == audit_count

    first = await sign.execute(decision_id, signature_of(0), submitted_by="approver:1")
    again = await sign.execute(decision_id, signature_of(0), submitted_by="approver:1")
    assert (first.report, again.report, again.signers) == (None, None, (OWNERS[0],))
    assert all_cash.runner.executed == []

    second = await sign.execute(decision_id, signature_of(2), submitted_by="approver:2")
    assert second.report is not None
    assert second.report.succeeded
    assert all_cash.runner.executed == [result.decision.plan_id]
    assert execution.signed_before == [[OWNERS[0], OWNERS[2]]]
    assert set(execution.batches[0].signatures) == {OWNERS[0], OWNERS[2]}
    with pytest.raises(DecisionNotPending):
        await sign.execute(decision_id, signature_of(1), submitted_by="approver:3")
    assert all_cash.runner.executed == [result.decision.plan_id]
    async with all_cash.uow() as uow:
        decision = await uow.decisions.get(decision_id)
    assert decision.status is DecisionStatus.EXECUTED
    assert decision.approver == f"owners {OWNERS[0]}, {OWNERS[2]}"


async def test_rejecting_is_still_allowed_under_safe_custody(all_cash: Treasury) -> None:
    result = await all_cash.cycle.execute(CycleCommand())
    approve = DecideOnApproval(clock=all_cash.clock, uow=all_cash.uow, owners_sign=True)
    rejected = await approve.execute(
        ApprovalCommand(decision_id=result.decision.id, approved=False, approver="approver:1")
    )
    assert rejected.status is DecisionStatus.REJECTED
