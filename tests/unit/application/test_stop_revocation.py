"""The emergency stop under Safe custody, on fakes: the stop holds at once and prepares one
revocation of the agent's role; a stranger's signature writes nothing; each owner's is audited
before it counts; the threshold revokes once; an unreachable Safe leaves the stop on; lifting
the stop drops the revocation; a failed revocation keeps it for another try."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from adapters.persistence.memory import InMemoryUnitOfWorkFactory
from application.errors import NotFound
from application.operator import EmergencyStop, FlagChange, Resume
from application.ports.chain import RpcUnavailable, SendReceipt, SimulationFailed
from application.ports.owners import (
    OwnerProposal,
    ProposalChanged,
    SafeTransactionToSign,
    SignatureRefused,
)
from application.ports.persistence import EMERGENCY_STOP
from application.revocation import PROPOSED, REVOKED, SIGNED, RevokeAgentRole
from tests.fakes.treasury import FixedClock
from tests.unit.application.test_owner_signatures import OWNERS, FakeOwnerProposals, signature_of

STOP = FlagChange(actor="operator:alice", reason="drill")


class FakeRevocation:
    """Proposes the revocation; `revoke` records what it was given, failing while `refuse`."""

    def __init__(self, uow: InMemoryUnitOfWorkFactory, *, unreachable: bool = False) -> None:
        self.uow = uow
        self.unreachable = unreachable
        self.refuse = False
        self.changed = False
        self.revoked: list[tuple[str, ...]] = []
        self.audited_before: list[list[str]] = []

    async def propose_revocation(self) -> OwnerProposal:
        if self.unreachable:
            raise RpcUnavailable("anvil", "connection refused")
        return OwnerProposal(
            safe="0x" + "5a" * 20,
            safe_tx_hash="0x" + "cd" * 32,
            nonce=3,
            threshold=2,
            owners=OWNERS,
        )

    def revocation_to_sign(self, proposal: OwnerProposal) -> SafeTransactionToSign:
        if self.changed:
            raise ProposalChanged("the revocation now hashes to 0xee..")
        return SafeTransactionToSign(
            to="0x" + "70" * 20,
            data="0x12345678",
            operation=0,
            summary="assignRoles(agent, [role], [false])",
            typed_data={"primaryType": "SafeTx", "message": {"nonce": proposal.nonce}},
        )

    async def revoke(self, proposal: OwnerProposal, signatures: Mapping[str, bytes]) -> SendReceipt:
        if self.refuse:
            raise SimulationFailed("GS013", step="revoke")
        async with self.uow() as uow:
            entries = await uow.audit.for_subject("flag", EMERGENCY_STOP)
        self.audited_before.append(
            [str(e.payload["signer"]) for e in entries if e.action == SIGNED]
        )
        self.revoked.append(tuple(signatures))
        return SendReceipt(
            tx_hash="0x" + "77" * 32,
            nonce=0,
            success=True,
            gas_estimated=1,
            gas_used=1,
            effective_gas_price=1,
            block_number=9,
        )


def wired(*, unreachable: bool = False) -> tuple[EmergencyStop, RevokeAgentRole, FakeRevocation]:
    clock = FixedClock()
    uow = InMemoryUnitOfWorkFactory(clock=clock.now)
    chain = FakeRevocation(uow, unreachable=unreachable)
    revoke = RevokeAgentRole(clock=clock, uow=uow, owners=FakeOwnerProposals(), revocation=chain)
    return EmergencyStop(clock=clock, uow=uow, revocation=revoke), revoke, chain


async def actions(chain: FakeRevocation) -> list[str]:
    async with chain.uow() as uow:
        return [e.action for e in await uow.audit.for_subject("flag", EMERGENCY_STOP)]


async def test_two_owners_revoke_the_agent_once_and_a_stranger_writes_nothing() -> None:
    stop, revoke, chain = wired()
    with pytest.raises(NotFound):
        await revoke.pending()
    flag = await stop.execute(STOP)
    await stop.execute(STOP)
    assert flag.active
    pending = await revoke.pending()
    assert (pending.proposal.safe_tx_hash, pending.signers) == ("0x" + "cd" * 32, ())
    assert (await actions(chain)).count(PROPOSED) == 1

    before = await actions(chain)
    with pytest.raises(SignatureRefused):
        await revoke.sign(b"\x09" * 65, submitted_by="approver:bob")
    assert await actions(chain) == before

    first = await revoke.sign(signature_of(0), submitted_by="approver:bob")
    again = await revoke.sign(signature_of(0), submitted_by="approver:bob")
    assert (first.executed, again.signers, chain.revoked) == (False, (OWNERS[0],), [])

    second = await revoke.sign(signature_of(1), submitted_by="approver:carol")
    assert (second.executed, second.tx_hash, second.error) == (True, "0x" + "77" * 32, None)
    assert chain.revoked == [(OWNERS[0], OWNERS[1])]
    assert chain.audited_before == [[OWNERS[0], OWNERS[1]]]
    assert (await actions(chain)).count(REVOKED) == 1
    with pytest.raises(NotFound):
        await revoke.sign(signature_of(2), submitted_by="approver:carol")
    assert chain.revoked == [(OWNERS[0], OWNERS[1])]


async def test_an_unreachable_safe_leaves_the_stop_on_without_a_revocation() -> None:
    stop, revoke, chain = wired(unreachable=True)
    flag = await stop.execute(STOP)
    assert flag.active
    assert await actions(chain) == ["emergency_stop.on"]
    with pytest.raises(NotFound):
        await revoke.pending()


async def test_lifting_the_stop_drops_a_revocation_nobody_executed() -> None:
    stop, revoke, chain = wired()
    await stop.execute(STOP)
    await revoke.sign(signature_of(0), submitted_by="approver:bob")
    await Resume(clock=FixedClock(), uow=chain.uow).execute(STOP)
    with pytest.raises(NotFound):
        await revoke.sign(signature_of(1), submitted_by="approver:carol")
    assert chain.revoked == []


async def test_a_revocation_that_fails_its_simulation_stays_pending_for_another_try() -> None:
    stop, revoke, chain = wired()
    await stop.execute(STOP)
    await revoke.sign(signature_of(0), submitted_by="approver:bob")
    chain.refuse = True
    failed = await revoke.sign(signature_of(1), submitted_by="approver:carol")
    assert (failed.executed, failed.error) == (False, "simulation failed for revoke: GS013")
    assert (await revoke.pending()).signers == (OWNERS[0], OWNERS[1])
    chain.refuse = False
    retried = await revoke.sign(signature_of(1), submitted_by="approver:carol")
    assert retried.executed
    assert len(chain.revoked) == 1


async def test_the_revocation_to_sign_carries_the_typed_data_the_owners_wallets_sign() -> None:
    stop, revoke, chain = wired()
    with pytest.raises(NotFound):
        await revoke.to_sign()
    await stop.execute(STOP)
    await revoke.sign(signature_of(0), submitted_by="approver:bob")
    shown = await revoke.to_sign()
    assert shown.pending.signers == (OWNERS[0],)
    assert shown.pending.proposal.safe_tx_hash == "0x" + "cd" * 32
    assert shown.transaction.typed_data == {"primaryType": "SafeTx", "message": {"nonce": 3}}
    chain.changed = True
    with pytest.raises(ProposalChanged):
        await revoke.to_sign()


async def test_a_signature_not_from_the_named_owner_is_refused_saying_what_to_sign() -> None:
    stop, revoke, chain = wired()
    await stop.execute(STOP)
    before = await actions(chain)
    with pytest.raises(SignatureRefused, match=f"recovers to {OWNERS[0]}, not to {OWNERS[1]}"):
        await revoke.sign(signature_of(0), submitted_by="approver:bob", signer=OWNERS[1])
    with pytest.raises(SignatureRefused, match="sign the EIP-712 typed data of safeTxHash 0xcdcd"):
        await revoke.sign(b"\x09" * 65, submitted_by="approver:bob", signer=OWNERS[1])
    assert await actions(chain) == before
    named = await revoke.sign(
        signature_of(1), submitted_by="approver:bob", signer=OWNERS[1].upper().replace("0X", "0x")
    )
    assert named.signers == (OWNERS[1],)
