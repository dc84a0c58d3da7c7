"""Owners sign on the Safe Transaction Service (issue 20): a paper service under Safe custody
(2 of 3 owners) with `TREASURY_SAFE_TX_SERVICE_URL` pointing at the loopback fake service
(recorded shapes). While the service is down the leader logs one warning and the proposal
waits; owner 1 proposes the transaction on the service as the Safe app does and owner 2
confirms it there (neither through this service's API); a foreign confirmation slipped into the
service's answer is refused and audited, never counted; the leader's sweep executes the plan
once, and the audit trail names both signers."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from web3 import Web3

from adapters.chain.safe.deploy import safe_contract
from adapters.chain.safe.devsetup import paper_owner_keys
from adapters.chain.safe.transactions import sign_safe_tx_hash
from application.cycle import CycleCommand, CycleOutcome
from application.owners import PROPOSED, SIGNED
from application.owners_service import REFUSED, SERVICE_ACTOR
from domain.decisions import DecisionStatus
from entrypoints.container import AppSettings, Runtime, bootstrap
from tests.fakes.safe_tx_service import serve_fake_tx_service
from tests.integration.service.safe_paper import use_paper_safe

APPROVER = "owners-approver-token-0002"
STRANGER = "0x" + "44" * 32
pytestmark = [pytest.mark.slow(seconds=120)]


def signed(safe_tx_hash: str, key: str) -> str:
    return "0x" + sign_safe_tx_hash(bytes.fromhex(safe_tx_hash[2:]), key).hex()


async def audit_of(runtime: Runtime, decision_id: str) -> list[tuple[str, str, dict[str, object]]]:
    async with runtime.uow() as uow:
        entries = await uow.audit.for_subject("decision", decision_id)
    return [(e.actor, e.action, dict(e.payload)) for e in entries]


async def test_two_owners_confirm_on_the_transaction_service_and_the_plan_executes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "var"
    async with serve_fake_tx_service() as service:
        use_paper_safe(monkeypatch, data_dir, capital_usd=130_000, approver=APPROVER)
        monkeypatch.setenv("TREASURY_SAFE_TX_SERVICE_URL", service.base_url)
        runtime = await bootstrap(AppSettings.load())
        try:
            assert await runtime.election.try_lead(runtime.take_over)
            w3 = runtime.chain.web3
            safe = Web3.to_checksum_address(runtime.chain.address)
            keys = paper_owner_keys(data_dir / "devchain")
            owners = [Account.from_key(k).address for k in keys]
            service.chain_id = runtime.chain.chain_id
            service.owners = tuple(owners)
            service.threshold = 2
            nonce_before = await safe_contract(w3, safe).functions.nonce().call()
            result = await runtime.services.cycle.execute(CycleCommand(requested_by="op:test"))
            assert result.outcome is CycleOutcome.PENDING_APPROVAL
            decision_id = result.decision.id
            [proposal] = [p for _, a, p in await audit_of(runtime, decision_id) if a == PROPOSED]
            safe_tx_hash = str(proposal["safe_tx_hash"])
            tx = proposal["transaction"]
            assert isinstance(tx, dict)

            # The service is down: one warning for two sweeps, the proposal waits.
            service.down = True
            before = await audit_of(runtime, decision_id)
            with caplog.at_level(logging.WARNING, logger="application.owners_service"):
                await runtime.while_leading()
                await runtime.while_leading()
            down = [r for r in caplog.records if r.name == "application.owners_service"]
            assert [r.levelno for r in down] == [logging.WARNING]
            assert "Safe Transaction Service cannot be read" in down[0].getMessage()
            assert await audit_of(runtime, decision_id) == before
            service.down = False

            async with httpx.AsyncClient(base_url=service.base_url) as safe_app:
                # Owner 1 proposes the recorded transaction on the service with their signature.
                proposed = await safe_app.post(
                    f"/api/v2/safes/{safe}/multisig-transactions/",
                    json={
                        "to": tx["to"],
                        "value": tx["value"],
                        "data": tx["data"],
                        "operation": tx["operation"],
                        "gasToken": "0x" + "00" * 20,
                        "safeTxGas": 0,
                        "baseGas": 0,
                        "gasPrice": "0",
                        "refundReceiver": "0x" + "00" * 20,
                        "nonce": proposal["nonce"],
                        "contractTransactionHash": safe_tx_hash,
                        "sender": owners[0],
                        "signature": signed(safe_tx_hash, keys[0]),
                        "origin": "Safe{Wallet}",
                    },
                )
                assert proposed.status_code == 201, proposed.text
                # A stranger's signature slipped into the service's answer, labelled owner 3.
                forged = bytes.fromhex(signed(safe_tx_hash, STRANGER)[2:])
                service.inject(safe_tx_hash, owners[2], forged)
                await runtime.while_leading()
                assert await safe_contract(w3, safe).functions.nonce().call() == nonce_before
                async with runtime.uow() as uow:
                    assert (await uow.decisions.get(decision_id)).status is DecisionStatus.PENDING

                confirmed = await safe_app.post(
                    f"/api/v1/multisig-transactions/{safe_tx_hash}/confirmations/",
                    json={"signature": signed(safe_tx_hash, keys[1])},
                )
                assert confirmed.status_code == 201, confirmed.text
            await runtime.while_leading()
            assert await safe_contract(w3, safe).functions.nonce().call() == nonce_before + 1
            await runtime.while_leading()
            assert await safe_contract(w3, safe).functions.nonce().call() == nonce_before + 1

            async with runtime.uow() as uow:
                assert (await uow.decisions.get(decision_id)).status is DecisionStatus.EXECUTED
                audit = await uow.audit.entries(limit=5000)
        finally:
            await runtime.aclose()

    trail = [(e.actor, e.action, dict(e.payload)) for e in audit]
    signers = [p["signer"] for actor, a, p in trail if a == SIGNED and actor == SERVICE_ACTOR]
    assert sorted(signers) == sorted(owners[:2])
    [refused] = [p for _, a, p in trail if a == REFUSED]
    assert refused["claimed_owner"] == owners[2]
    assert "is not an owner of the Safe" in str(refused["reason"])
    batches = [
        (a, p) for _, a, p in trail if a in ("execution.batch_confirmed", "execution.batch_failed")
    ]
    assert [a for a, _ in batches] == ["execution.batch_confirmed"]
    assert batches[0][1]["safe_tx_hash"] == safe_tx_hash
    assert sorted(str(batches[0][1]["owners"]).split(", ")) == sorted(owners[:2])
