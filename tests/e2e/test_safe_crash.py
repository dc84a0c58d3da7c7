"""A SIGKILL of the paper service between signing and inclusion of a Safe batch, on anvil.

With `TREASURY_CUSTODY=safe` the service holds its capital in a Safe and sends each plan as ONE
transaction: the agent's `execTransactionWithRole` of a MultiSendCallOnly batch, journaled
under the plan id before broadcast. The service is killed (SIGKILL, no clean-up) at two points
of that batch, then started again on the same data directory and the same anvil:

* `after_sign`: the batch is signed and journaled, not broadcast. Recovery must never send it:
  a same-nonce no-op from the agent takes its nonce, the batch's hash is never mined, every
  step of the plan fails ("never ran"), and the Safe's tokens have not moved.
* `after_broadcast`: the batch reached the node (anvil mines it at once), its receipt is not
  recorded. Recovery must find it mined: every step confirmed with that one transaction hash,
  the decision executed, and the batch mined exactly once.

Either way every transaction the agent's key ever mined is one the journal recorded, no batch
is mined twice, and `treasury audit verify` passes.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from adapters.chain.safe.devsetup import paper_owner_keys
from adapters.chain.safe.transactions import sign_safe_tx_hash
from tests.e2e.harness import APPROVER, PaperServer, paper_server
from tests.e2e.test_crash_injection import (
    Killed,
    Shared,
    account_transactions,
    audit_verify,
    check_recovered,
    decisions_in,
    journal,
    kill_during_a_plan,
    rpc,
    shared,
    treasury_account,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow(seconds=300)]

__all__ = ["shared"]  # the EOA crash test's fixture: one anvil for this module


def safe_of(data_dir: Path) -> str:
    return str(json.loads((data_dir / "devchain" / "paper_safe.json").read_text())["safe"])


def safe_usdc(anvil: str, address_book: Path, safe: str) -> int:
    book: dict[str, Any] = json.loads(address_book.read_text())
    usdc = book["tokens"]["USDC"]
    call = {"to": usdc, "data": "0x70a08231" + safe.removeprefix("0x").lower().rjust(64, "0")}
    return int(rpc(anvil, "eth_call", call, "latest"), 16)


def steps_of(database: Path, plan_id: str) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(database) as db:
        return list(
            db.execute(
                "SELECT id, status, tx_hash FROM executed_transactions WHERE plan_id = ? "
                "ORDER BY step_index",
                (plan_id,),
            )
        )


def owners_sign(server: PaperServer, decision: dict[str, Any]) -> None:
    """Two of the three paper owners sign the decision's Safe proposal through the API (under
    Safe custody the owners approve; a plain approval is refused)."""
    safe_tx_hash = decision.get("safe_tx_hash")
    if not safe_tx_hash:
        return  # its proposal is made after the cycle: signed on a later poll
    keys = paper_owner_keys(server.data_dir / "devchain")
    for key in keys[:2]:
        signature = sign_safe_tx_hash(bytes.fromhex(safe_tx_hash[2:]), key)
        server.client(APPROVER).post(
            f"/decisions/{decision['id']}/signatures", json={"signature": "0x" + signature.hex()}
        )


def check_batch_recovered(
    server: PaperServer, killed: Killed, anvil: str, database: Path, usdc_at_kill: int
) -> None:
    check_recovered(server, killed)
    (batch_hash,) = [h for h, step in killed.signed.items() if step == killed.plan_id]
    steps = steps_of(database, killed.plan_id)
    receipt = rpc(anvil, "eth_getTransactionReceipt", batch_hash)
    if killed.boundary == "after_sign":
        assert receipt is None, "the batch signed before the kill was sent after it"
        assert {status for _, status, _ in steps} == {"failed"}, steps
        cancels = [h for h, step in journal(database).items() if step == f"{killed.plan_id}:cancel"]
        assert cancels, "no same-nonce no-op took the batch's nonce"
        safe = safe_of(server.data_dir)
        book = Path(server.env["TREASURY_DEVCHAIN_ADDRESS_BOOK"])
        assert safe_usdc(anvil, book, safe) == usdc_at_kill
    else:
        assert receipt is not None
        assert int(receipt["status"], 16) == 1
        assert {status for _, status, _ in steps} == {"confirmed"}, steps
        assert {tx_hash for _, _, tx_hash in steps} == {batch_hash}
        decision = server.client().get(f"/decisions/{killed.decision_id}").json()
        assert decision["status"] == "executed"


def test_a_safe_batch_killed_between_signing_and_inclusion_executes_at_most_once(
    shared: Shared, tmp_path: Path
) -> None:
    env = {
        "TREASURY_CUSTODY": "safe",
        "TREASURY_SAFE_THRESHOLD": "2",
        "TREASURY_PAPER_START": "cash",
        "TREASURY_CYCLE_INTERVAL_S": "3600",
        "TREASURY_DEVCHAIN_RPC_URL": shared.anvil,
        "TREASURY_DEVCHAIN_ADDRESS_BOOK": str(shared.address_book),
        "TREASURY_DEVCHAIN_COMPILE_CACHE": str(shared.compile_cache),
    }
    first_block = int(rpc(shared.anvil, "eth_blockNumber"), 16)
    database = tmp_path / "treasury.db"
    boundaries = ["after_sign", "after_broadcast"]
    rounds: list[tuple[Killed, int]] = []
    for boundary in [*boundaries, None]:
        fault = {"TREASURY_FAULT_AT": boundary} if boundary else {}
        seen = decisions_in(database)
        with paper_server(tmp_path, ready_timeout_s=300, **fault, **env) as server:
            if rounds:
                killed, usdc_at_kill = rounds[-1]
                check_batch_recovered(server, killed, shared.anvil, database, usdc_at_kill)
            if boundary is not None:
                cut = kill_during_a_plan(
                    server, boundary, database, shared.anvil, seen, answer=owners_sign
                )
                usdc = safe_usdc(shared.anvil, shared.address_book, safe_of(tmp_path))
                rounds.append((cut, usdc))
        verified = audit_verify(server)
        assert verified.returncode == 0, verified.stdout + verified.stderr

    # Every transaction the agent mined is journaled, and no batch (or step) mined twice.
    recorded = journal(database)
    mined = account_transactions(shared.anvil, treasury_account(tmp_path), first_block)
    assert mined
    for tx in mined:
        assert tx["hash"] in recorded, f"not journaled: {tx['hash']}"
    ids = [recorded[tx["hash"]].removesuffix(":cancel") for tx in mined]
    assert len(ids) == len(set(ids)), ids
    calls = [(t["to"], t["input"]) for t in mined if not recorded[t["hash"]].endswith(":cancel")]
    assert len(calls) == len(set(calls)), "the same batch was mined twice"
