"""Owners' confirmations from a Safe Transaction Service, on fakes: each goes through the same
use case as the API's signatures (checked, audited before it counts, executed once at the
threshold); a forged one is refused and audited once, never counted; a service that is down
costs one warning and loses nothing; an owner's signature that arrives through the API is
published on the service in that owner's name."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from application.cycle import CycleCommand, CycleOutcome
from application.owners import PROPOSED, SIGNED, ProposeToOwners, SubmitOwnerSignature
from application.owners_service import (
    REFUSED,
    SERVICE_ACTOR,
    CollectServiceConfirmations,
    PublishWithOwnerSignature,
)
from application.ports.owners import (
    OwnerProposal,
    ServiceConfirmation,
    TransactionServiceUnavailable,
)
from domain.decisions import DecisionStatus
from tests.unit.application.conftest import Treasury
from tests.unit.application.test_owner_signatures import (
    OWNERS,
    FakeBuilder,
    FakeOwnerProposals,
    RecordingExecution,
    signature_of,
)

STRANGER = b"\x09" * 65


class FakeService:
    """A Transaction Service holding confirmations per safeTxHash; `down` makes it fail."""

    def __init__(self) -> None:
        self.listed: list[ServiceConfirmation] = []
        self.down = False
        self.refuse_proposals = False
        self.proposed: list[tuple[str, str, bytes]] = []

    def confirm(self, owner: str, signature: bytes) -> None:
        self.listed.append(
            ServiceConfirmation(owner=owner, signature=signature, signature_type="EOA")
        )

    async def confirmations(self, proposal: OwnerProposal) -> tuple[ServiceConfirmation, ...]:
        if self.down:
            raise TransactionServiceUnavailable("unreachable at http://127.0.0.1:9 (ConnectError)")
        return tuple(self.listed)

    async def propose(self, proposal: OwnerProposal, *, sender: str, signature: bytes) -> None:
        if self.refuse_proposals:
            raise TransactionServiceUnavailable("HTTP 422: Sender is not an owner", permanent=True)
        self.proposed.append((proposal.safe_tx_hash, sender, signature))


async def pending_proposal(treasury: Treasury, owners: FakeOwnerProposals) -> str:
    result = await treasury.cycle.execute(CycleCommand(requested_by="operator:abc"))
    assert result.outcome is CycleOutcome.PENDING_APPROVAL
    propose = ProposeToOwners(
        clock=treasury.clock, uow=treasury.uow, builder=FakeBuilder(), owners=owners
    )
    assert await propose.execute() == [result.decision.id]
    return result.decision.id


def collector(treasury: Treasury, service: FakeService) -> CollectServiceConfirmations:
    signatures = SubmitOwnerSignature(
        clock=treasury.clock,
        uow=treasury.uow,
        owners=FakeOwnerProposals(),
        execute_with=RecordingExecution(treasury),
    )
    return CollectServiceConfirmations(
        clock=treasury.clock, uow=treasury.uow, service=service, signatures=signatures
    )


async def audit_of(treasury: Treasury, decision_id: str) -> list[tuple[str, str, object]]:
    async with treasury.uow() as uow:
        entries = await uow.audit.for_subject("decision", decision_id)
    return [(e.actor, e.action, e.payload.get("signer")) for e in entries]


async def test_two_owners_confirming_on_the_service_execute_the_plan_once(
    all_cash: Treasury,
) -> None:
    decision_id = await pending_proposal(all_cash, FakeOwnerProposals())
    service = FakeService()
    collect = collector(all_cash, service)
    assert await collect.execute() == []  # nobody confirmed yet

    service.confirm(OWNERS[1], signature_of(1))
    assert await collect.execute() == [decision_id]
    assert all_cash.runner.executed == []
    assert await collect.execute() == []  # the same confirmation counts once

    service.confirm(OWNERS[0], signature_of(0))
    assert await collect.execute() == [decision_id]
    assert await collect.execute() == []
    assert len(all_cash.runner.executed) == 1
    async with all_cash.uow() as uow:
        decision = await uow.decisions.get(decision_id)
    assert decision.status is DecisionStatus.EXECUTED
    signed = [(a, s) for a, action, s in await audit_of(all_cash, decision_id) if action == SIGNED]
    assert signed == [(SERVICE_ACTOR, OWNERS[1]), (SERVICE_ACTOR, OWNERS[0])]


async def test_a_forged_confirmation_is_refused_and_audited_once_never_counted(
    all_cash: Treasury,
) -> None:
    decision_id = await pending_proposal(all_cash, FakeOwnerProposals())
    service = FakeService()
    collect = collector(all_cash, service)
    service.confirm(OWNERS[0], STRANGER)  # claims to be owner 0; the signature is not theirs
    service.confirm(OWNERS[2], signature_of(2))

    assert await collect.execute() == [decision_id]
    assert await collect.execute() == []
    actions = [(action, signer) for _, action, signer in await audit_of(all_cash, decision_id)]
    assert actions.count((REFUSED, None)) == 1
    assert [signer for action, signer in actions if action == SIGNED] == [OWNERS[2]]
    async with all_cash.uow() as uow:
        [refused] = [
            e for e in await uow.audit.for_subject("decision", decision_id) if e.action == REFUSED
        ]
        assert (await uow.decisions.get(decision_id)).status is DecisionStatus.PENDING
    assert refused.payload["claimed_owner"] == OWNERS[0]
    assert refused.payload["signature"] == "0x" + STRANGER.hex()
    assert "not an owner" in str(refused.payload["reason"])
    assert all_cash.runner.executed == []


async def test_a_service_that_is_down_costs_one_warning_and_loses_nothing(
    all_cash: Treasury, caplog: pytest.LogCaptureFixture
) -> None:
    decision_id = await pending_proposal(all_cash, FakeOwnerProposals())
    service = FakeService()
    collect = collector(all_cash, service)
    service.confirm(OWNERS[0], signature_of(0))
    service.down = True
    before = await audit_of(all_cash, decision_id)
    with caplog.at_level(logging.DEBUG, logger="application.owners_service"):
        assert await collect.execute() == []
        assert await collect.execute() == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Safe Transaction Service cannot be read" in warnings[0].getMessage()
    assert "TREASURY_SAFE_TX_SERVICE_URL" in warnings[0].getMessage()
    assert await audit_of(all_cash, decision_id) == before
    async with all_cash.uow() as uow:
        assert (await uow.decisions.get(decision_id)).status is DecisionStatus.PENDING

    service.down = False
    assert await collect.execute() == [decision_id]  # the confirmation was waiting, not lost


async def test_an_owner_signing_through_the_api_publishes_the_proposal_in_their_name(
    all_cash: Treasury, caplog: pytest.LogCaptureFixture
) -> None:
    owners = FakeOwnerProposals()
    decision_id = await pending_proposal(all_cash, owners)
    service = FakeService()
    sign = SubmitOwnerSignature(
        clock=all_cash.clock,
        uow=all_cash.uow,
        owners=owners,
        execute_with=RecordingExecution(all_cash),
        publisher=PublishWithOwnerSignature(service=service),
    )
    await sign.execute(decision_id, signature_of(1), submitted_by="approver:1")
    await sign.execute(decision_id, signature_of(1), submitted_by="approver:1")  # nothing new
    assert service.proposed == [("0x" + "ab" * 32, OWNERS[1], signature_of(1))]

    service.refuse_proposals = True
    with caplog.at_level(logging.WARNING, logger="application.owners_service"):
        done = await sign.execute(decision_id, signature_of(0), submitted_by="approver:2")
    assert done.report is not None  # the threshold signature executes; nothing to publish
    assert caplog.records == []
    assert len(service.proposed) == 1


async def test_a_refused_publication_is_logged_and_the_signature_still_counts(
    all_cash: Treasury, caplog: pytest.LogCaptureFixture
) -> None:
    owners = FakeOwnerProposals()
    decision_id = await pending_proposal(all_cash, owners)
    service = FakeService()
    service.refuse_proposals = True
    publisher = PublishWithOwnerSignature(service=service)
    sign = SubmitOwnerSignature(
        clock=all_cash.clock,
        uow=all_cash.uow,
        owners=owners,
        execute_with=RecordingExecution(all_cash),
        publisher=publisher,
    )
    with caplog.at_level(logging.WARNING, logger="application.owners_service"):
        outcome = await sign.execute(decision_id, signature_of(2), submitted_by="approver:1")
    assert outcome.signers == (OWNERS[2],)
    [warning] = caplog.records
    assert "could not be published" in warning.getMessage()
    assert [signer for _, a, signer in await audit_of(all_cash, decision_id) if a == SIGNED] == [
        OWNERS[2]
    ]


class PerProposalService(FakeService):
    """Answers malformed (permanently) for one safeTxHash and normally for the others."""

    def __init__(self, broken: str) -> None:
        super().__init__()
        self.broken = broken

    async def confirmations(self, proposal: OwnerProposal) -> tuple[ServiceConfirmation, ...]:
        if proposal.safe_tx_hash == self.broken:
            raise TransactionServiceUnavailable("the answer names another", permanent=True)
        return await super().confirmations(proposal)


async def test_a_wrong_answer_about_one_proposal_does_not_hold_up_the_others(
    all_cash: Treasury,
) -> None:
    first = await pending_proposal(all_cash, FakeOwnerProposals())
    second_hash = "0x" + "cd" * 32
    async with all_cash.uow() as uow:
        decision = await uow.decisions.get(first)
        await uow.decisions.add(dataclasses.replace(decision, id="zz-second"))
        [proposed] = [
            e for e in await uow.audit.for_subject("decision", first) if e.action == PROPOSED
        ]
        payload = {**proposed.payload, "safe_tx_hash": second_hash}
        await uow.audit.append("engine", PROPOSED, "decision", "zz-second", payload)
        await uow.commit()
    service = PerProposalService(broken="0x" + "ab" * 32)
    service.confirm(OWNERS[0], signature_of(0))
    assert await collector(all_cash, service).execute() == ["zz-second"]
