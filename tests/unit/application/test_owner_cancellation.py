"""Closed decisions' proposals are cleared, stale proposals are made anew, on fakes: a rejected
or expired decision's proposal gets the no-op at its nonce (audited before anything else
happens), which the owners sign and the threshold executes once; one whose nonce is used needs
none; a pending decision whose plan's calls changed gets a new proposal naming the old one and
why, without the old signatures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

import pytest

from application.approvals import ApprovalCommand, DecideOnApproval, ExpirePendingDecisions
from application.cancellation import (
    CANCELLED,
    DROPPED,
    PROPOSED,
    SENDING,
    SIGNED,
    CancelOwnerProposals,
)
from application.cycle import CycleCommand
from application.errors import NotFound
from application.owners import ProposeToOwners, ReadOwnerApprovals
from application.ports.chain import SendReceipt, TransactionRequest
from application.ports.owners import OwnerProposal, SignatureRefused
from domain.plans import RebalancingPlan
from tests.unit.application.conftest import Treasury
from tests.unit.application.test_owner_signatures import (
    OWNERS,
    FakeBuilder,
    FakeOwnerProposals,
    signature_of,
)

SAFE = "0x" + "5a" * 20


class FakeUpkeep:
    """A Safe whose nonce is `nonce`; a proposal stands while its nonce is not used and its
    hash is the one `requests` give (the hash names the calls' target)."""

    def __init__(self, nonce: int = 7) -> None:
        self.nonce = nonce
        self.cancels: list[tuple[OwnerProposal, dict[str, bytes]]] = []

    async def standing(
        self, proposal: OwnerProposal, requests: tuple[TransactionRequest, ...] | None = None
    ) -> str | None:
        if self.nonce > proposal.nonce:
            return f"nonce {proposal.nonce} was used"
        if requests is not None and proposal.safe_tx_hash != hash_of(requests):
            return "the plan's calls changed"
        return None

    async def propose_cancel(self, proposal: OwnerProposal) -> OwnerProposal:
        return OwnerProposal(
            safe=SAFE,
            safe_tx_hash="0x" + "cc" * 32,
            nonce=proposal.nonce,
            threshold=2,
            owners=OWNERS,
        )

    async def cancel(
        self, cancellation: OwnerProposal, signatures: Mapping[str, bytes]
    ) -> SendReceipt:
        self.cancels.append((cancellation, dict(signatures)))
        self.nonce += 1
        return SendReceipt(
            tx_hash="0x" + "77" * 32,
            nonce=1,
            success=True,
            gas_estimated=1,
            gas_used=1,
            effective_gas_price=1,
            block_number=9,
        )


def hash_of(requests: tuple[TransactionRequest, ...]) -> str:
    return "0x" + requests[0].to[2:4] * 32


class HashingProposals(FakeOwnerProposals):
    """Proposes at the upkeep's nonce with a hash that follows the calls."""

    def __init__(self, upkeep: FakeUpkeep) -> None:
        super().__init__()
        self.upkeep = upkeep

    async def propose(self, requests: tuple[TransactionRequest, ...]) -> OwnerProposal:
        self.proposed.append(requests)
        return OwnerProposal(
            safe=SAFE,
            safe_tx_hash=hash_of(requests),
            nonce=self.upkeep.nonce,
            threshold=2,
            owners=OWNERS,
        )


class MovingBuilder(FakeBuilder):
    """The plan's calls: to 0x0101… until `target` changes (a quote moved)."""

    target = "0x" + "01" * 20

    async def build_plan(self, plan: RebalancingPlan) -> tuple[TransactionRequest, ...]:
        [request] = await super().build_plan(plan)
        return (replace(request, to=self.target),)


async def actions(treasury: Treasury, decision_id: str) -> list[str]:
    """The audit trail about the decision: its own entries and its cancellation's."""
    async with treasury.uow() as uow:
        return [
            e.action
            for e in await uow.audit.entries(limit=1000)
            if decision_id in (e.subject_id, e.payload.get("decision_id"))
        ]


def wiring(
    treasury: Treasury, upkeep: FakeUpkeep
) -> tuple[ProposeToOwners, CancelOwnerProposals, HashingProposals]:
    owners = HashingProposals(upkeep)
    propose = ProposeToOwners(
        clock=treasury.clock, uow=treasury.uow, builder=MovingBuilder(), owners=owners
    )
    cancels = CancelOwnerProposals(
        clock=treasury.clock, uow=treasury.uow, owners=owners, upkeep=upkeep
    )
    return propose, cancels, owners


async def test_a_rejected_proposal_is_cancelled_at_its_nonce_once_two_owners_sign(
    all_cash: Treasury,
) -> None:
    upkeep = FakeUpkeep()
    propose, cancels, _ = wiring(all_cash, upkeep)
    decision_id = (await all_cash.cycle.execute(CycleCommand())).decision.id
    assert await propose.execute() == [decision_id]
    reject = DecideOnApproval(
        clock=all_cash.clock, uow=all_cash.uow, owners_sign=True, clear=cancels
    )
    await reject.execute(ApprovalCommand(decision_id=decision_id, approved=False, approver="a:1"))

    [cancel] = (await cancels.of(list(await cancels.waiting()))).values()
    assert (cancel.cancels, cancel.proposal.nonce) == ("0x" + "01" * 32, 7)
    assert await cancels.clear(decision_id, "again") == cancel  # proposed once only
    with pytest.raises(SignatureRefused):
        await cancels.sign(decision_id, b"\x09" * 65, submitted_by="a:1")
    first = await cancels.sign(decision_id, signature_of(0), submitted_by="a:1")
    assert (first.executed, upkeep.cancels) == (False, [])
    second = await cancels.sign(decision_id, signature_of(1), submitted_by="a:2")
    assert (second.executed, second.succeeded, second.signers) == (True, True, OWNERS[:2])
    [(sent, signatures)] = upkeep.cancels
    assert (sent.safe_tx_hash, set(signatures)) == ("0x" + "cc" * 32, set(OWNERS[:2]))
    trail = await actions(all_cash, decision_id)
    assert trail[trail.index("decision.rejected") :] == [
        "decision.rejected",
        PROPOSED,
        SIGNED,
        SIGNED,
        SENDING,
        CANCELLED,
    ]
    assert await cancels.waiting() == {}
    with pytest.raises(NotFound):
        await cancels.sign(decision_id, signature_of(2), submitted_by="a:3")


async def test_an_expired_proposal_whose_nonce_is_used_needs_no_cancellation(
    all_cash: Treasury,
) -> None:
    upkeep = FakeUpkeep()
    propose, cancels, _ = wiring(all_cash, upkeep)
    decision = (await all_cash.cycle.execute(CycleCommand())).decision
    await propose.execute()
    assert decision.expires_at is not None
    all_cash.clock.advance(decision.expires_at - all_cash.clock.now() + timedelta(seconds=1))
    upkeep.nonce = 8  # another Safe transaction used nonce 7
    expire = ExpirePendingDecisions(clock=all_cash.clock, uow=all_cash.uow, clear=cancels)
    assert [d for d, _ in (await expire.execute()).expired] == [decision.id]
    trail = await actions(all_cash, decision.id)
    assert (PROPOSED in trail, trail[-1]) == (False, DROPPED)
    await cancels.sweep("engine")  # settled: not looked at again
    assert await actions(all_cash, decision.id) == trail
    assert await cancels.waiting() == {}


async def test_an_expired_proposal_gets_its_cancellation_when_it_expires(
    all_cash: Treasury,
) -> None:
    upkeep = FakeUpkeep()
    propose, cancels, _ = wiring(all_cash, upkeep)
    decision = (await all_cash.cycle.execute(CycleCommand())).decision
    await propose.execute()
    assert decision.expires_at is not None
    all_cash.clock.advance(decision.expires_at - all_cash.clock.now() + timedelta(seconds=1))
    expire = ExpirePendingDecisions(clock=all_cash.clock, uow=all_cash.uow, clear=cancels)
    await expire.execute()
    assert list(await cancels.waiting()) == [decision.id]


async def test_a_proposal_whose_calls_changed_is_proposed_anew_without_its_signatures(
    all_cash: Treasury,
) -> None:
    upkeep = FakeUpkeep()
    owners = HashingProposals(upkeep)
    builder = MovingBuilder()
    propose = ProposeToOwners(
        clock=all_cash.clock, uow=all_cash.uow, builder=builder, owners=owners, upkeep=upkeep
    )
    decision_id = (await all_cash.cycle.execute(CycleCommand())).decision.id
    assert await propose.execute() == [decision_id]
    assert await propose.execute() == []  # it stands: nothing new
    read = ReadOwnerApprovals(uow=all_cash.uow)
    [old] = (await read.of([decision_id])).values()
    async with all_cash.uow() as uow:
        await uow.audit.append(
            "a:1",
            "decision.owner_signed",
            "decision",
            decision_id,
            {"signer": OWNERS[0], "safe_tx_hash": old.proposal.safe_tx_hash, "signature": "0x01"},
        )
        await uow.commit()

    builder.target = "0x" + "02" * 20  # a quote moved: the calls are not what was signed
    assert await propose.execute() == [decision_id]
    [new] = (await read.of([decision_id])).values()
    assert new.proposal.safe_tx_hash not in (old.proposal.safe_tx_hash, None)
    assert new.signers == ()
    async with all_cash.uow() as uow:
        [*_, entry] = await uow.audit.for_subject("decision", decision_id)
    assert entry.payload["replaces"] == old.proposal.safe_tx_hash
    assert entry.payload["safe_tx_hash"] == new.proposal.safe_tx_hash
    assert entry.payload["reason"] == "the plan's calls changed"

    upkeep.nonce = 9  # the Safe's nonce moved past it
    assert await propose.execute() == [decision_id]
    [moved] = (await read.of([decision_id])).values()
    assert moved.proposal.nonce == 9


async def test_a_decision_run_without_its_signed_proposal_gets_the_cancellation_on_the_sweep(
    all_cash: Treasury,
) -> None:
    """Owners approved, the service died before the signed Safe transaction was sent, and the
    leader's sweep ran the plan through the agent's scope: the owners' signatures at the free
    nonce would run it a second time."""
    upkeep = FakeUpkeep()
    propose, cancels, _ = wiring(all_cash, upkeep)
    decision_id = (await all_cash.cycle.execute(CycleCommand())).decision.id
    await propose.execute()
    async with all_cash.uow() as uow:
        decision = await uow.decisions.get(decision_id)
        await uow.decisions.update(decision.approve("owners", None, all_cash.clock.now()))
        await uow.commit()
    await all_cash.execute_approved.execute(decision_id)
    assert await cancels.waiting() == {}
    assert await cancels.sweep("engine") == [decision_id]
    assert list(await cancels.waiting()) == [decision_id]
    assert await cancels.sweep("engine") == []  # proposed once

    upkeep.nonce = 8  # another Safe transaction used the nonce: the cancellation is dropped
    await cancels.sweep("engine")
    assert await cancels.waiting() == {}
    assert (await actions(all_cash, decision_id))[-1] == DROPPED
