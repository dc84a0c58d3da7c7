"""Owners sign the big moves (issue 20): on a paper service under Safe custody (2 of 3 owners),
a plan that needs approval becomes a Safe proposal shown in GET /decisions/pending; the plain
approval is refused; a stranger's signature is refused; after the first owner's signature
nothing runs; the second executes the plan once as the signed Safe transaction; the audit trail
names both signers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from adapters.chain.safe.deploy import safe_contract
from adapters.chain.safe.devsetup import paper_owner_keys
from adapters.chain.safe.transactions import sign_safe_tx_hash
from application.cycle import CycleCommand, CycleOutcome
from domain.safety import SafetyLimits
from entrypoints.api.app import create_app
from entrypoints.container import AppSettings, bootstrap
from tests.integration.service.safe_paper import use_paper_safe

APPROVER = "owners-approver-token-0001"
pytestmark = [pytest.mark.slow(seconds=120)]


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {APPROVER}"}


async def sign(
    client: httpx.AsyncClient, decision_id: str, safe_tx_hash: str, key: str
) -> httpx.Response:
    """POST the signature `key` makes over `safe_tx_hash`."""
    signature = sign_safe_tx_hash(bytes.fromhex(safe_tx_hash[2:]), key)
    return await client.post(
        f"/decisions/{decision_id}/signatures",
        json={"signature": "0x" + signature.hex()},
        headers=auth(),
    )


async def test_two_of_three_owners_sign_a_120k_plan_through_the_api_and_it_executes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "var"
    use_paper_safe(monkeypatch, data_dir, capital_usd=130_000, approver=APPROVER)
    runtime = await bootstrap(AppSettings.load())
    try:
        assert await runtime.election.try_lead(runtime.take_over)
        w3, safe = runtime.chain.web3, runtime.chain.address
        nonce_before = await safe_contract(w3, safe).functions.nonce().call()
        result = await runtime.services.cycle.execute(CycleCommand(requested_by="operator:test"))
        assert result.outcome is CycleOutcome.PENDING_APPROVAL
        assert result.plan is not None
        size = sum((t.amount_usd for t in result.plan.required_transactions), Decimal(0))
        assert Decimal(100_000) < size <= Decimal(130_000)
        assert size > SafetyLimits().approval_threshold_usd
        decision_id = result.decision.id
        app = create_app(runtime.services, runtime.tokens)
        # In the test's own event loop, as the service's chain connection is.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            [pending] = (await client.get("/decisions/pending", headers=auth())).json()
            assert pending["id"] == decision_id
            assert pending["threshold"] == 2
            assert pending["signatures"] == []
            assert pending["safe_nonce"] == nonce_before
            safe_tx_hash = pending["safe_tx_hash"]

            approve = await client.post(
                f"/decisions/{decision_id}/approve", json={"approved": True}, headers=auth()
            )
            assert approve.status_code == 409, approve.text
            assert f"/decisions/{decision_id}/signatures" in approve.json()["error"]

            stranger = await sign(client, decision_id, safe_tx_hash, "0x" + "44" * 32)
            assert stranger.status_code == 400, stranger.text
            assert "is not an owner of the Safe" in stranger.json()["error"]

            keys = paper_owner_keys(data_dir / "devchain")
            owners = [Account.from_key(k).address for k in keys]
            first = await sign(client, decision_id, safe_tx_hash, keys[0])
            assert first.status_code == 200, first.text
            assert first.json()["executed"] is False
            assert first.json()["signatures"] == [owners[0]]
            assert await safe_contract(w3, safe).functions.nonce().call() == nonce_before
            [still] = (await client.get("/decisions/pending", headers=auth())).json()
            assert still["signatures"] == [owners[0]]

            second = await sign(client, decision_id, safe_tx_hash, keys[1])
            assert second.status_code == 200, second.text
            assert second.json()["executed"] is True
            assert second.json()["succeeded"] is True, second.json()
            assert await safe_contract(w3, safe).functions.nonce().call() == nonce_before + 1

            third = await sign(client, decision_id, safe_tx_hash, keys[2])
            assert third.status_code == 409, third.text
            assert await safe_contract(w3, safe).functions.nonce().call() == nonce_before + 1

            decision = (await client.get(f"/decisions/{decision_id}", headers=auth())).json()
            assert decision["status"] == "executed"
            audit = (await client.get("/audit", params={"count": 1000}, headers=auth())).json()
        signers = [
            e["payload"]["signer"]
            for e in audit
            if e["action"] == "decision.owner_signed" and e["subject_id"] == decision_id
        ]
        assert sorted(signers) == sorted(owners[:2])
        batches = [
            e
            for e in audit
            if e["action"] in ("execution.batch_confirmed", "execution.batch_failed")
        ]
        assert [b["action"] for b in batches] == ["execution.batch_confirmed"]
        assert batches[0]["payload"]["safe_tx_hash"] == safe_tx_hash
        assert batches[0]["payload"]["owners"] == ", ".join(owners[:2])
    finally:
        await runtime.aclose()
