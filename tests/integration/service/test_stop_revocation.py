"""The emergency stop under Safe custody also revokes the agent's role (issue 20): on a paper
service with a 2-of-3 Safe, turning the stop on prepares the owners' revocation, shown by
GET /emergency-stop/revocation with the EIP-712 typed data an owner's wallet signs (its hash is
the safeTxHash); a stranger's signature is refused, and so is an owner's submitted in another
owner's name; the first owner signs the typed data as a wallet does (eth_signTypedData), after
which the agent is still a member; the second is signed by the server as paper owner 2 (the
dashboard's paper-only button: the key appears in no answer) and executes the revocation once,
after which a call by the agent through the Roles Modifier reverts with NoMembership; the audit
trail names both signers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from web3 import Web3

from adapters.chain.safe.devsetup import paper_owner_keys
from adapters.chain.safe.roles import roles_contract
from adapters.chain.safe.transactions import Operation, sign_safe_tx_hash
from entrypoints.api.app import create_app
from entrypoints.container import AppSettings, bootstrap
from entrypoints.dashboard import dashboard_routes
from entrypoints.paper_routes import paper_routes
from entrypoints.wiring.safe import SAFE_RECORD
from tests.integration.safe.scope import REFUSED, revert_data
from tests.integration.service.safe_paper import use_paper_safe

APPROVER = "revoke-approver-token-0001"
NO_MEMBERSHIP = bytes(Web3.keccak(text="NoMembership()")[:4])
pytestmark = [pytest.mark.slow(seconds=120)]


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {APPROVER}"}


async def sign(client: httpx.AsyncClient, safe_tx_hash: str, key: str) -> httpx.Response:
    """POST the signature `key` makes over the revocation's `safe_tx_hash`."""
    signature = sign_safe_tx_hash(bytes.fromhex(safe_tx_hash[2:]), key)
    return await client.post(
        "/emergency-stop/revocation/signatures",
        json={"signature": "0x" + signature.hex()},
        headers=auth(),
    )


async def agent_refusal(w3: Any, record: dict[str, Any], agent: str) -> bytes:
    """The first four bytes of the revert the agent gets calling through its role (the call
    itself is outside its scope, so it always reverts: the question is why)."""
    roles = record["roles"]
    call = roles_contract(w3, roles["roles"]).functions.execTransactionWithRole(
        Web3.to_checksum_address(record["safe"]),
        0,
        b"",
        int(Operation.CALL),
        bytes.fromhex(roles["role_key"][2:]),
        True,
    )
    with pytest.raises(REFUSED) as refused:
        await call.call({"from": agent})
    return revert_data(refused.value)[:4]


async def test_the_stop_revokes_the_agents_role_once_two_of_three_owners_sign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "var"
    use_paper_safe(monkeypatch, data_dir, capital_usd=10_000, approver=APPROVER)
    runtime = await bootstrap(AppSettings.load())
    try:
        assert await runtime.election.try_lead(runtime.take_over)
        w3 = runtime.chain.web3
        record = json.loads((data_dir / "devchain" / SAFE_RECORD).read_text(encoding="utf-8"))
        agent = record["agent"]
        keys = paper_owner_keys(data_dir / "devchain")
        owners = [Account.from_key(k).address for k in keys]
        assert await agent_refusal(w3, record, agent) != NO_MEMBERSHIP
        extra = [*dashboard_routes(), *paper_routes(runtime)]
        app = create_app(runtime.services, runtime.tokens, extra_routes=extra)
        transport = httpx.ASGITransport(app=app)
        answers: list[str] = []
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            none_yet = await client.get("/emergency-stop/revocation", headers=auth())
            assert none_yet.status_code == 404, none_yet.text
            stop = await client.post("/emergency-stop", json={"reason": "drill"}, headers=auth())
            assert stop.status_code == 200, stop.text
            shown = await client.get("/emergency-stop/revocation", headers=auth())
            assert shown.status_code == 200, shown.text
            revocation = shown.json()
            assert revocation["threshold"] == 2
            assert revocation["signatures"] == []
            safe_tx_hash = revocation["safe_tx_hash"]
            typed = revocation["typed_data"]
            assert typed["domain"]["verifyingContract"] == record["safe"]
            assert typed["message"]["to"] == revocation["to"] == record["roles"]["roles"]
            assert typed["message"]["nonce"] == revocation["nonce"]
            assert "assignRoles(" in revocation["summary"]

            stranger = await sign(client, safe_tx_hash, "0x" + "44" * 32)
            assert stranger.status_code == 400, stranger.text
            assert "is not an owner of the Safe" in stranger.json()["error"]

            # Owner 1's signature submitted in owner 2's name: refused, nothing kept.
            misnamed = await client.post(
                "/emergency-stop/revocation/signatures",
                json={
                    "signature": "0x"
                    + sign_safe_tx_hash(bytes.fromhex(safe_tx_hash[2:]), keys[0]).hex(),
                    "signer": owners[1],
                },
                headers=auth(),
            )
            assert misnamed.status_code == 400, misnamed.text
            assert f"recovers to {owners[0]}, not to {owners[1]}" in misnamed.json()["error"]

            # Owner 1 signs the typed data as a wallet does (eth_signTypedData_v4).
            wallet = Account.sign_typed_data(keys[0], full_message=typed)
            first = await client.post(
                "/emergency-stop/revocation/signatures",
                json={"signature": "0x" + bytes(wallet.signature).hex(), "signer": owners[0]},
                headers=auth(),
            )
            assert first.status_code == 200, first.text
            assert first.json()["executed"] is False
            assert first.json()["signatures"] == [owners[0]]
            assert await agent_refusal(w3, record, agent) != NO_MEMBERSHIP
            still = (await client.get("/emergency-stop/revocation", headers=auth())).json()
            assert still["signatures"] == [owners[0]]

            # Paper mode only: the dashboard offers to sign as a paper owner; the server signs
            # with that owner's key, which appears in no answer.
            panels = await client.get("/dashboard/panels", headers=auth())
            assert panels.status_code == 200, panels.text
            banner = panels.json()["panels"]["banner"]
            assert "Paper mode only." in banner
            assert banner.count('data-action="paper-sign"') == 3
            listed = await client.get("/paper/safe-owners", headers=auth())
            assert [o["address"] for o in listed.json()["owners"]] == owners
            second = await client.post(
                "/paper/emergency-stop/revocation/sign-as-owner", json={"owner": 2}, headers=auth()
            )
            answers.extend([panels.text, listed.text, second.text])
            assert second.status_code == 200, second.text
            assert second.json()["signer"] == owners[1]
            assert second.json()["executed"] is True, second.json()
            assert await agent_refusal(w3, record, agent) == NO_MEMBERSHIP
            gone = await client.get("/emergency-stop/revocation", headers=auth())
            assert gone.status_code == 404, gone.text
            audit_answer = await client.get("/audit", params={"count": 1000}, headers=auth())
            audit = audit_answer.json()
            answers.append(audit_answer.text)
        # No paper owner's key (nor its hex without 0x) in any answer or in the audit trail.
        for key in keys:
            assert not [a for a in answers if key[2:].lower() in a.lower()]
        actions = [e["action"] for e in audit]
        assert actions.count("emergency_stop.revoke_proposed") == 1
        assert actions.count("emergency_stop.agent_revoked") == 1
        signers = [
            e["payload"]["signer"] for e in audit if e["action"] == "emergency_stop.revoke_signed"
        ]
        assert sorted(signers) == sorted(owners[:2])
        (paper,) = [e for e in audit if e["action"] == "paper.signed_as_owner"]
        assert paper["payload"]["owner"] == 2
        assert paper["payload"]["address"] == owners[1]
    finally:
        await runtime.aclose()
