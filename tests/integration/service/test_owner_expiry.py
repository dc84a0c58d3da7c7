"""An expired proposal can never execute later, and a proposal whose nonce was used is made
anew (issue 20, item 4), on a paper service under Safe custody (2 of 3 owners, the in-process
dev chain).

One story on one runtime (the Safe's set-up is the slow part): a $120K plan's proposal gets one
owner's signature and expires; until its nonce is used, two owners' signatures over it would
still execute it; the service proposes the no-op at that nonce, listed for the owners in
GET /decisions/pending; two owners sign it through the same route and it executes; the old
proposal with two owners' signatures is then refused by the Safe (GS026). The next pending
decision is proposed at the following nonce; another Safe transaction uses that nonce; after
the next cycle the decision has a new proposal at the new nonce (audited: old hash, new hash,
why), the old signature is not carried over, and two owners' signatures execute it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from adapters.chain.safe.deploy import safe_contract
from adapters.chain.safe.devsetup import paper_owner_keys
from adapters.chain.safe.transactions import sign_safe_tx_hash
from application.cycle import CycleCommand, CycleOutcome
from application.engine import ExecutionEngine
from application.ports.chain import BatchSimulation, TransactionRequest
from application.ports.owners import OwnerProposal
from entrypoints.api.app import create_app
from entrypoints.container import AppSettings, Runtime, bootstrap
from tests.integration.service.safe_paper import use_paper_safe
from tests.integration.service.test_owner_signatures import APPROVER, auth, sign

pytestmark = [pytest.mark.slow(seconds=90)]


async def plan_calls(runtime: Runtime, decision_id: str) -> tuple[TransactionRequest, ...]:
    """The decision's plan as the calls the engine builds now."""
    async with runtime.uow() as uow:
        decision = await uow.decisions.get(decision_id)
        assert decision.plan_id is not None
        plan = await uow.plans.get(decision.plan_id)
    engine = runtime.chain.runner
    assert isinstance(engine, ExecutionEngine)
    return await engine.build_plan(plan)


async def old_proposal_simulates(
    runtime: Runtime,
    calls: tuple[TransactionRequest, ...],
    proposal: OwnerProposal,
    keys: list[str],
) -> BatchSimulation:
    """`execTransaction` of the (old) proposal of `calls` with the signatures of `keys`,
    simulated on chain now."""
    owners = runtime.chain.owners
    assert owners is not None
    digest = bytes.fromhex(proposal.safe_tx_hash[2:])
    signatures = {Account.from_key(k).address: sign_safe_tx_hash(digest, k) for k in keys}
    return await owners.sender(proposal, signatures).simulate(calls)


async def test_an_expired_proposal_is_cancelled_at_its_nonce_and_a_used_nonce_is_proposed_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "var"
    use_paper_safe(monkeypatch, data_dir, capital_usd=130_000, approver=APPROVER)
    runtime = await bootstrap(AppSettings.load())
    try:
        assert await runtime.election.try_lead(runtime.take_over)
        w3, safe = runtime.chain.web3, runtime.chain.address
        nonce = await safe_contract(w3, safe).functions.nonce().call()
        keys = paper_owner_keys(data_dir / "devchain")
        owners = [Account.from_key(k).address for k in keys]
        result = await runtime.services.cycle.execute(CycleCommand(requested_by="operator:test"))
        assert result.outcome is CycleOutcome.PENDING_APPROVAL
        first_id = result.decision.id
        app = create_app(runtime.services, runtime.tokens)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            [pending] = (await client.get("/decisions/pending", headers=auth())).json()
            old = pending["safe_tx_hash"]
            assert (await sign(client, first_id, old, keys[0])).json()["signatures"] == owners[:1]
            [approval] = (await runtime.services.owner_approvals.of([first_id])).values()  # type: ignore[union-attr]
            calls = await plan_calls(runtime, first_id)

            # The approval window passes: the decision expires.
            await runtime.advance(timedelta(hours=25))
            expiry = await runtime.services.expire.execute(actor="operator:test")
            assert [d for d, _ in expiry.expired] == [first_id]
            # Until its nonce is used, the owners' signatures would still execute it.
            simulation = await old_proposal_simulates(runtime, calls, approval.proposal, keys[:2])
            assert simulation.success, simulation.revert_reason

            # The service proposed the no-op at that nonce, listed for the owners to sign.
            [cancel] = (await client.get("/decisions/pending", headers=auth())).json()
            assert (cancel["id"], cancel["status"]) == (first_id, "expired")
            assert (cancel["cancels"], cancel["safe_nonce"]) == (old, nonce)
            assert cancel["safe_tx_hash"] != old
            assert (cancel["signatures"], cancel["threshold"]) == ([], 2)
            stranger = await sign(client, first_id, cancel["safe_tx_hash"], "0x" + "44" * 32)
            assert stranger.status_code == 400, stranger.text
            one = await sign(client, first_id, cancel["safe_tx_hash"], keys[0])
            assert (one.json()["executed"], one.json()["signatures"]) == (False, owners[:1])
            assert await safe_contract(w3, safe).functions.nonce().call() == nonce
            two = await sign(client, first_id, cancel["safe_tx_hash"], keys[1])
            assert two.json()["executed"] is True
            assert two.json()["succeeded"] is True, two.json()
            assert await safe_contract(w3, safe).functions.nonce().call() == nonce + 1
            assert (await client.get("/decisions/pending", headers=auth())).json() == []
            # The old proposal with threshold signatures: the Safe itself refuses it.
            simulation = await old_proposal_simulates(runtime, calls, approval.proposal, keys)
            assert not simulation.success
            assert "GS026" in str(simulation.revert_reason)

            # The next pending decision is proposed at the next nonce; one owner signs it.
            again = await runtime.services.cycle.execute(CycleCommand(requested_by="operator:t"))
            assert again.outcome is CycleOutcome.PENDING_APPROVAL
            second_id = again.decision.id
            [pending] = (await client.get("/decisions/pending", headers=auth())).json()
            assert (pending["id"], pending["safe_nonce"]) == (second_id, nonce + 1)
            stale = pending["safe_tx_hash"]
            await sign(client, second_id, stale, keys[0])
            # Another Safe transaction (signed elsewhere) uses that nonce.
            chain_owners = runtime.chain.owners
            assert chain_owners is not None
            [second] = (await runtime.services.owner_approvals.of([second_id])).values()  # type: ignore[union-attr]
            other = await chain_owners.propose_cancel(second.proposal)
            digest = bytes.fromhex(other.safe_tx_hash[2:])
            await chain_owners.cancel(
                other, {owners[i]: sign_safe_tx_hash(digest, keys[i]) for i in (1, 2)}
            )
            assert await safe_contract(w3, safe).functions.nonce().call() == nonce + 2

            # The next cycle holds (one decision waits) and proposes it anew at the new nonce.
            held = await runtime.services.cycle.execute(CycleCommand(requested_by="operator:t"))
            assert held.outcome is CycleOutcome.HELD
            [pending] = (await client.get("/decisions/pending", headers=auth())).json()
            assert (pending["id"], pending["safe_nonce"]) == (second_id, nonce + 2)
            assert pending["safe_tx_hash"] != stale
            assert pending["signatures"] == []  # owner 0's signature over the old one is gone
            new = pending["safe_tx_hash"]
            audit = (await client.get("/audit", params={"count": 1000}, headers=auth())).json()
            [replaced] = [
                e["payload"]
                for e in audit
                if e["action"] == "decision.proposed_to_owners" and e["payload"].get("replaces")
            ]
            assert (replaced["replaces"], replaced["safe_tx_hash"]) == (stale, new)
            assert f"nonce {nonce + 1} has been used" in replaced["reason"]
            assert (await sign(client, second_id, new, keys[2])).json()["executed"] is False
            done = await sign(client, second_id, new, keys[1])
            assert done.json()["succeeded"] is True, done.json()
            assert await safe_contract(w3, safe).functions.nonce().call() == nonce + 3
        actions = [e["action"] for e in audit if e["payload"].get("decision_id") == first_id]
        assert actions.index("decision.cancel_proposed") < actions.index(
            "decision.proposal_cancelled"
        )
    finally:
        await runtime.aclose()
